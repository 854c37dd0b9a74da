"""Preview media jobs: generate one (video, kind), queue, cancel, and keep status rows true to RQ.

Job ids are ``media-<kind>-<hash>`` so the same (video, kind) is never queued twice. A file
that is simply broken fails once with its reason (no retry); anything else (a full disk, a
killed process) is retried with backoff. Timeouts grow with the video's duration.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import time
from typing import Any, Iterable

from vidlib import state
from vidlib.jobs import QueueUnavailable, enqueue
from vidlib.media import JOB_KINDS, MEDIA_KINDS, TRANSCODE_KIND
from vidlib.media import generate as gen
from vidlib.media import store

log = logging.getLogger(__name__)

RETRY_INTERVALS = [15, 120]


def job_id(video_hash: str, kind: str) -> str:
    return f"media-{kind}-{video_hash}"


def _timeout(config: dict[str, Any], duration: float | None, kind: str) -> int:
    minutes = (duration or 0) / 60
    factor = 10 if kind == TRANSCODE_KIND else 3 if kind.startswith("teaser") else 1
    return int(config["MEDIA_JOB_TIMEOUT_BASE"] + factor * minutes * config["MEDIA_JOB_TIMEOUT_PER_MINUTE"])


class _Reporter:
    """Throttled progress: RQ job.meta and the status row, at most every half second."""

    def __init__(self, db, video_hash: str, kind: str):
        from rq import get_current_job

        self.db, self.hash, self.kind = db, video_hash, kind
        self.job = get_current_job()
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < 0.5 and fraction < 1.0:
            return
        self.last = now
        if self.job is not None:
            from redis import RedisError

            self.job.meta["progress"] = round(fraction, 3)
            try:
                self.job.save_meta()
            except RedisError as exc:  # progress is for show: a Redis outage must not fail the job
                log.warning("progress of %s not saved in Redis: %s", self.job.id, exc)
        store.set_progress(self.db, self.hash, self.kind, fraction)


def generate(video_hash: str, kind: str) -> dict[str, Any]:
    """Job: generate one kind of preview media (or the pre-transcode) for one video."""
    from rq import get_current_job

    if kind not in JOB_KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    st = state.current()
    db, config = st.db, st.config
    job = get_current_job()
    row = db.execute("SELECT path, duration, width, height, rotation, fps, container, video_codec, audio_codec, pix_fmt, missing FROM videos WHERE hash = ?", [video_hash]).fetchone()
    if row is None or row["missing"] or not os.path.isfile(row["path"]):
        reason = "video is no longer in the library" if row is None else "video file is missing"
        store.set_status(db, video_hash, kind, "failed", error=reason)
        return {"status": "failed", "error": reason}
    store.set_status(db, video_hash, kind, "running", progress=0.0, job_id=job.id if job else None)
    out_dir = store.video_media_dir(config, video_hash)
    progress = _Reporter(db, video_hash, kind)
    duration = float(row["duration"] or 0)
    started = time.perf_counter()
    try:
        os.makedirs(out_dir, exist_ok=True)  # inside: a failure here is retried like any other
        if kind == "poster":
            info = gen.make_poster(row["path"], duration, os.path.join(out_dir, "poster.jpg"), config, progress)
        elif kind == "preview_thumbnails":
            info = gen.make_preview_thumbnails(row["path"], duration, os.path.join(out_dir, "preview"), config, progress)
        elif kind == "seek_thumbnails":
            info = gen.make_seek_thumbnails(row["path"], duration, os.path.join(out_dir, "sprite.jpg"), os.path.join(out_dir, "sprite.vtt"), config, progress)
        elif kind == TRANSCODE_KIND:
            from vidlib.playback.pretranscode import make_playback_file

            info = make_playback_file(dict(row), os.path.join(out_dir, store.MARKER_FILES[kind]), config, progress)
        else:
            info = gen.make_teaser(row["path"], dict(row), os.path.join(out_dir, f"{kind}.mp4"), config, large=kind == "teaser_large", progress=progress)
    except gen.MediaError as exc:
        full = disk_full(out_dir)
        if full is None:
            # The file itself is the problem: record why, do not retry.
            store.set_status(db, video_hash, kind, "failed", error=str(exc))
            log.warning("%s for %s failed: %s (%s)", kind, video_hash, exc, row["path"])
            return {"status": "failed", "error": str(exc)}
        # An encoder that died of a full disk (ffmpeg's pipe breaks) is not the video's fault.
        no_space = OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {full} ({exc})")
        _failed_for_now(db, job, video_hash, kind, no_space)
        raise no_space from exc
    except Exception as exc:
        _failed_for_now(db, job, video_hash, kind, exc)
        raise
    store.set_status(db, video_hash, kind, "done", progress=1.0)
    log.info("%s for %s done in %.2f s", kind, video_hash, time.perf_counter() - started)
    return {"status": "done", "seconds": round(time.perf_counter() - started, 3), **{k: v for k, v in info.items() if not isinstance(v, list)}}


def disk_full(directory: str) -> str | None:
    """Why ``directory``'s file system counts as full (under 16 MiB and 5 % free), or None."""
    try:
        usage = shutil.disk_usage(directory)
    except OSError:
        return None
    if usage.free < min(16 << 20, usage.total // 20):
        return f"the media dir has {usage.free:,} bytes free"
    return None


def _failed_for_now(db, job, video_hash: str, kind: str, exc: BaseException) -> None:  # noqa: ANN001
    """Record a transient failure: queued again while RQ has retries left, else failed."""
    retries_left = bool(job and job.retries_left)
    store.set_status(db, video_hash, kind, "queued" if retries_left else "failed", error=f"{'will retry: ' if retries_left else ''}{type(exc).__name__}: {exc}")
    log.exception("%s for %s failed unexpectedly%s", kind, video_hash, "; will retry" if retries_left else "")


def enqueue_media(video_hash: str, kind: str, at_front: bool = False, force: bool = False):
    """Queue one (video, kind); returns ``(job, created)``. ``force`` regenerates a done kind."""
    from rq import Retry

    st = state.current()
    row = st.db.execute("SELECT duration FROM videos WHERE hash = ?", [video_hash]).fetchone()
    current = store.get_status(st.db, video_hash, kind)
    if current["status"] == "done" and not force and store.kind_exists(st.config, video_hash, kind):
        return None, False
    job, created = enqueue(
        "media",
        generate,
        video_hash,
        kind,
        job_id=job_id(video_hash, kind),
        job_timeout=_timeout(st.config, row["duration"] if row else None, kind),
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        result_ttl=300,
        failure_ttl=86400,
        at_front=at_front,
    )
    if created or current["status"] in ("missing", "failed", "cancelled"):
        store.set_status(st.db, video_hash, kind, "queued", job_id=job.id)
    elif at_front and job.get_status(refresh=False) == "queued":
        st.queue("media").remove(job.id)
        st.queue("media").enqueue_job(job, at_front=True)
    return job, created


def queue_missing(hashes: Iterable[str] | None = None, kinds: Iterable[str] = MEDIA_KINDS, force: bool = False, at_front: bool = False) -> int:
    """Queue every kind that is not done (all of them with ``force``) for ``hashes`` (default: every present video).

    Without ``hashes``, the pre-transcode is only queued for videos that do not play directly.
    """
    st = state.current()
    compatible: set[str] = set()
    if hashes is None:
        hashes = [r[0] for r in st.db.execute("SELECT hash FROM videos WHERE missing = 0 ORDER BY added_at DESC")]
        if TRANSCODE_KIND in kinds:
            compatible = {r[0] for r in st.db.execute("SELECT hash FROM videos WHERE missing = 0 AND playback = 'direct'")}
    count = 0
    for video_hash in hashes:
        for kind in kinds:
            if kind == TRANSCODE_KIND and video_hash in compatible:
                continue
            job, created = enqueue_media(video_hash, kind, at_front=at_front, force=force)
            count += int(created)
    return count


def cancel(video_hash: str, kind: str) -> bool:
    """Cancel a queued or running job (a running ffmpeg is killed with its work horse)."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    st = state.current()
    try:
        job = Job.fetch(job_id(video_hash, kind), connection=st.redis)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=True)
    if status == "started":
        try:
            send_stop_job_command(st.redis, job.id)
        except InvalidJobOperation:
            return False
    elif status in ("queued", "scheduled", "deferred"):
        job.cancel()
    else:
        return False
    store.set_status(st.db, video_hash, kind, "cancelled", error="cancelled by user")
    log.info("cancelled %s", job.id)
    return True


def _worker_alive(worker_name: str | None, live: dict[str, Any]) -> bool:
    worker = live.get(worker_name or "")
    if worker is None:
        return False
    if worker.hostname == socket.gethostname() and worker.pid:
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    heartbeat = worker.last_heartbeat
    return heartbeat is None or (time.time() - heartbeat.timestamp()) < 120


def reconcile() -> dict[str, int]:
    """Make queued/running status rows agree with RQ (after a worker crash or a Redis restart).

    A row whose job vanished (Redis lost it) is queued again; a job whose worker died is
    requeued; a job RQ marked failed is shown as failed with its last error line.
    """
    from rq import Worker
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.registry import StartedJobRegistry

    st = state.current()
    db = st.db
    live = {w.name: w for w in Worker.all(connection=st.redis)}
    counts = {"requeued": 0, "failed": 0, "done": 0, "ok": 0}
    rows = db.execute("SELECT hash, kind, status, job_id FROM media WHERE status IN ('queued', 'running')").fetchall()
    for row in rows:
        video_hash, kind = row["hash"], row["kind"]
        try:
            job = Job.fetch(row["job_id"] or job_id(video_hash, kind), connection=st.redis)
            status = job.get_status(refresh=True)
        except NoSuchJobError:
            job, status = None, None
        if status in ("queued", "scheduled", "deferred") or (status == "started" and _worker_alive(job.worker_name, live)):
            if row["status"] == "running" and status != "started":
                # RQ itself retried a job whose work horse died: it waits in the queue again.
                store.set_status(db, video_hash, kind, "queued", error="will retry: the work horse died")
            counts["ok"] += 1
            continue
        if status == "finished":
            if store.kind_exists(st.config, video_hash, kind):
                store.set_status(db, video_hash, kind, "done", progress=1.0)
                counts["done"] += 1
                continue
        if status == "failed" and not (job.retries_left or 0):
            reason = (job.latest_result().exc_string if job.latest_result() else "") or "job failed"
            store.set_status(db, video_hash, kind, "failed", error=reason.strip().splitlines()[-1][:500])
            counts["failed"] += 1
            continue
        if job is not None:
            if status == "started":
                # RQ >= 2 keys the registry by execution (its remove() raises NotImplementedError).
                StartedJobRegistry(job.origin, connection=st.redis).remove_executions(job)
            job.delete()
        store.set_status(db, video_hash, kind, "missing")
        enqueue_media(video_hash, kind)
        counts["requeued"] += 1
        log.info("requeued %s for %s (RQ status was %s)", kind, video_hash, status or "lost")
    return counts


def after_scan(changed_hashes: list[str]) -> None:
    """Queue preview media for videos a scan added (MEDIA_AUTO_QUEUE)."""
    st = state.current()
    if not st.config["MEDIA_AUTO_QUEUE"] or not changed_hashes:
        return
    try:
        queue_missing(changed_hashes)
    except QueueUnavailable as exc:
        log.warning("preview media not queued: %s", exc)
