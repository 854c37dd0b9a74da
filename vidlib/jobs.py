"""Background jobs and the one helper that enqueues them.

Jobs are module-level functions taking ids and plain values; each has a deterministic job id
so queuing the same work twice is a no-op, and each can run twice without harm.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator

from vidlib import state

log = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """Redis cannot be reached, so the work cannot be queued."""


def enqueue(queue_name: str, func: Callable[..., Any], *args: Any, job_id: str, delay: float = 0, **options: Any):
    """Queue ``func(*args)`` once under ``job_id`` (after ``delay`` seconds); returns ``(job, created)``.

    If a job with that id is scheduled, queued or running, it is returned and nothing new is
    queued. A finished, failed or cancelled job with that id is replaced, so the work can be
    asked for again later.
    """
    import datetime
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError, NoSuchJobError
    from rq.job import Job, JobStatus

    st = state.current()
    try:
        queue = st.queue(queue_name)
        for _ in range(3):
            try:
                if delay > 0:
                    return queue.enqueue_in(datetime.timedelta(seconds=delay), func, *args, job_id=job_id, unique=True, **options), True
                return queue.enqueue(func, *args, job_id=job_id, unique=True, **options), True
            except DuplicateJobError:
                try:
                    job = Job.fetch(job_id, connection=st.redis)
                except NoSuchJobError:
                    continue
                if job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED):
                    job.delete()
                    continue
                return job, False
        raise RuntimeError(f"could not enqueue {job_id}")
    except RedisError as exc:
        raise QueueUnavailable(f"job queue (Redis) unavailable: {exc}") from exc


LOCK_TTL_SECONDS = 120


class FolderLock:
    """A Redis lock per library folder, so two workers never scan the same folder at once.

    The lock expires after LOCK_TTL_SECONDS unless the holder keeps extending it (``keep``,
    called from the scan's progress), so a killed worker blocks the folder for two minutes at
    most, not for a whole job timeout.
    """

    def __init__(self, folder_id: int):
        st = state.current()
        self.lock = st.redis.lock(f"vidlib:scan-lock:{folder_id}", timeout=LOCK_TTL_SECONDS)
        self.acquired = False
        self._last_extend = 0.0

    def acquire(self, wait_seconds: float) -> bool:
        import time

        self.acquired = bool(self.lock.acquire(blocking_timeout=wait_seconds))
        self._last_extend = time.monotonic()
        return self.acquired

    def keep(self, *_progress: Any) -> None:
        """Extend the lock (at most every 30 s)."""
        import time

        if self.acquired and time.monotonic() - self._last_extend > 30:
            self._last_extend = time.monotonic()
            try:
                self.lock.reacquire()
            except Exception as exc:
                log.warning("scan lock lost: %s", exc)

    def release(self) -> None:
        if self.acquired:
            try:
                self.lock.release()
            except Exception:  # expired: another scan may hold it now
                pass
            self.acquired = False


@contextlib.contextmanager
def folder_lock(folder_id: int, wait_seconds: float = 5.0) -> Iterator[FolderLock]:
    """Hold the folder's scan lock for the block; ``lock.acquired`` is False if it was not taken in time."""
    lock = FolderLock(folder_id)
    lock.acquire(wait_seconds)
    try:
        yield lock
    finally:
        lock.release()


def _after_changes(stats) -> None:
    if stats.changed_hashes or stats.missing:
        library_changed()
    if stats.changed_hashes:
        from vidlib.media.jobs import after_scan

        after_scan(stats.changed_hashes)


def scan_changes(folder_id: int, paths: list[str], moves: list[list[str]], attempt: int = 0) -> dict[str, Any]:
    """Job (from the watcher): follow renames, then scan the given paths of one folder."""
    import hashlib
    import json

    from vidlib.library.scanner import Scanner

    st = state.current()
    with folder_lock(folder_id, wait_seconds=30) as lock:
        if not lock.acquired:
            # A long folder scan holds the lock: try again later (a stable id per attempt, so a
            # retry is queued exactly once whichever worker defers it).
            digest = hashlib.sha1(json.dumps([paths, moves]).encode("utf-8", "surrogateescape")).hexdigest()[:16]
            enqueue("scan", scan_changes, folder_id, paths, moves, attempt + 1, job_id=f"scan-changes-{folder_id}-{digest}-retry{attempt + 1}", delay=30)
            log.info("folder %s is being scanned; %d changes deferred (attempt %d)", folder_id, len(paths) + len(moves), attempt + 1)
            return {"deferred": True}
        if not st.db.execute("SELECT 1 FROM folders WHERE id = ?", [folder_id]).fetchone():
            return {"skipped": "folder no longer in the library"}
        scanner = Scanner(st.db, st.config)
        stats = scanner.apply_moves(folder_id, [(src, dest) for src, dest in moves])
        stats.add(scanner.scan_paths(folder_id, paths))
    _after_changes(stats)
    log.info("changes in folder %s: %s", folder_id, stats.summary())
    return stats.as_dict()


def scan_folder(folder_id: int) -> dict[str, Any]:
    """Job: scan one library folder; a change queues a (debounced) similarity index rebuild."""
    from vidlib.library.scanner import Scanner

    st = state.current()
    with folder_lock(folder_id, wait_seconds=st.config["JOB_TIMEOUT_SCAN"]) as lock:
        stats = Scanner(st.db, st.config, progress=lock.keep).scan_folder(folder_id)
    _after_changes(stats)
    return stats.as_dict()


def queue_all_media(kinds: list[str], force: bool) -> dict[str, Any]:
    """Job: queue preview media of every present video (missing kinds, or all with ``force``)."""
    from vidlib.media.jobs import queue_missing

    return {"queued": queue_missing(None, kinds, force=force)}


def library_changed() -> None:
    """Mark the similarity index stale and queue its rebuild (one rebuild for a burst of changes)."""
    from vidlib.db import bump_library_version, write_transaction

    st = state.current()
    with write_transaction(st.db):
        bump_library_version(st.db)
    try:
        enqueue_index_rebuild()
    except QueueUnavailable as exc:
        log.warning("similarity index rebuild not queued: %s", exc)


def rebuild_index() -> dict[str, Any]:
    """Job: rebuild the similarity index from the database."""
    from vidlib.search.index import rebuild

    st = state.current()
    index = rebuild(st.db, st.config)
    return {"videos": len(index.hashes), "terms": int(index.matrix.shape[1]), "version": index.built_version}


def enqueue_index_rebuild(delay: float | None = None):
    """Queue an index rebuild after INDEX_DEBOUNCE_SECONDS (or ``delay``); a no-op if one is pending.

    While a rebuild runs, the changes it may have missed get one follow-up rebuild (a second
    job id), so the index always ends up built from the latest library.
    """
    st = state.current()
    delay = st.config["INDEX_DEBOUNCE_SECONDS"] if delay is None else delay
    job, created = enqueue("index", rebuild_index, job_id="index-rebuild", delay=delay, result_ttl=600)
    if not created and job.get_status(refresh=False) == "started":
        job, created = enqueue("index", rebuild_index, job_id="index-rebuild-next", delay=delay, result_ttl=600)
    return job, created


def enqueue_scan(folder_id: int):
    """Queue a scan of one folder (job id ``scan-folder-<id>``)."""
    st = state.current()
    return enqueue("scan", scan_folder, folder_id, job_id=f"scan-folder-{folder_id}", job_timeout=st.config["JOB_TIMEOUT_SCAN"], result_ttl=3600)
