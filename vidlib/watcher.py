"""The folder watcher: keeps the library in sync with the disk, cheaply and without races.

It listens (watchdog) and enqueues; it never hashes, probes or writes videos itself.

- Observer callbacks only record what happened (a dict update under a lock).
- A loop every ``WATCH_TICK_SECONDS`` decides: a file is *ready* once no event arrived for it
  and its size and mtime did not change for ``WATCH_QUIET_SECONDS`` (a file being copied keeps
  changing, so it is scanned once, after the copy). Ready paths and renames are queued as scan
  jobs, batched per folder, with ids derived from their content so nothing is queued twice.
- A folder on a file system without inotify events (NFS, SMB, FUSE, ...), a folder whose watch
  fails (inotify watch limit reached), or a folder forced to polling on the dashboard is
  watched by polling every ``WATCH_POLL_INTERVAL`` seconds.
- Folders added or removed on the dashboard are picked up within ``WATCH_FOLDER_SYNC_SECONDS``.
- Health (mode, watches used vs the system limit, last event, events handled, files pending,
  errors) is published to Redis for ``/api/watcher/health``; a dead observer is restarted.

Every decision about an event is logged at DEBUG, every action at INFO.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from vidlib import jobs
from vidlib.logs import log_folder

log = logging.getLogger(__name__)

HEALTH_KEY = "vidlib:watcher:health"
IGNORED_SUFFIXES = (".part", ".crdownload", ".tmp", ".partial", ".download", ".!qb", ".!ut", ".swp", "~")
NETWORK_FS = ("nfs", "nfs4", "cifs", "smbfs", "smb3", "sshfs", "9p", "davfs", "afs", "ceph", "glusterfs", "lustre", "ncpfs", "vboxsf", "virtiofs")
SIDECARS = (".nfo", ".json")
BATCH_SIZE = 200


def mount_fs_type(path: str) -> str:
    """The file system type of the mount holding ``path`` (from /proc/mounts), or ''."""
    real = os.path.realpath(path)
    best, fs_type = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount_point = parts[1].replace("\\040", " ")
                if (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
                    best, fs_type = mount_point, parts[2]
    except OSError:
        return ""
    return fs_type


def needs_polling(fs_type: str) -> bool:
    """True for file systems that deliver no (or incomplete) inotify events."""
    return fs_type in NETWORK_FS or fs_type.startswith("fuse")


def inotify_watch_limit() -> int | None:
    try:
        with open("/proc/sys/fs/inotify/max_user_watches", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


@dataclass
class Pending:
    first_event: float
    last_event: float
    stat: tuple[int, int] | None = None
    stat_since: float = 0.0


@dataclass
class FolderWatch:
    """One library folder being watched."""

    folder_id: int
    path: str
    force_polling: bool
    mode: str = "starting"  # events | polling | unreachable
    reason: str = ""
    observer: Any = None
    events: int = 0
    last_event_at: float | None = None
    errors: list[str] = field(default_factory=list)
    watches: int = 0
    restarts: int = 0

    def error(self, message: str) -> None:
        self.errors = (self.errors + [f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}"])[-10:]


class _Handler(FileSystemEventHandler):
    """Records events; the watcher loop decides what to do with them."""

    def __init__(self, watcher: "Watcher", folder: FolderWatch):
        self.watcher = watcher
        self.folder = folder

    def on_any_event(self, event: FileSystemEvent) -> None:
        with log_folder(self.folder.path):
            try:
                self.watcher.record(self.folder, event)
            except Exception:  # an observer thread must never die on one event
                log.exception("watcher: error handling %r", event)


def _in_folder(method: Callable[..., Any]) -> Callable[..., Any]:
    """Log lines of a Watcher method that handles one folder carry that folder."""

    @functools.wraps(method)
    def wrapper(self: "Watcher", folder: FolderWatch, *args: Any, **kwargs: Any) -> Any:
        with log_folder(folder.path):
            return method(self, folder, *args, **kwargs)

    return wrapper


class Watcher:
    """Watches every library folder and queues scan jobs for what changed."""

    def __init__(self, app_state):
        self.state = app_state
        self.config = app_state.config
        self.folders: dict[int, FolderWatch] = {}
        self.pending: dict[str, Pending] = {}
        self.moves: list[tuple[str, str]] = []
        self.dir_events: list[tuple[str, str]] = []  # (kind, path): created / deleted folders
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.started_at = time.time()
        self.extensions = {e.lower() for e in self.config["VIDEO_EXTENSIONS"]}
        self.excluded = [os.path.realpath(self.config["MEDIA_DIR"]), os.path.realpath(self.config["DATA_DIR"])]
        self.queued_jobs = 0
        self._last_sync = 0.0
        self._last_health = 0.0
        self._last_watch_count = 0.0

    # -- event intake (observer threads) ----------------------------------------------------
    def _ignored(self, path: str) -> str | None:
        """Why ``path`` is ignored, or None if it may be a video of interest."""
        name = os.path.basename(path)
        if name.startswith("."):
            return "hidden or temporary name"
        if name.lower().endswith(IGNORED_SUFFIXES):
            return "partial-download or temporary name"
        for excluded in self.excluded:
            if path == excluded or path.startswith(excluded + os.sep):
                return "inside vidlib's data or media dir"
        if any(part.startswith(".") for part in path.split(os.sep)):
            return "inside a hidden folder"
        return None

    def _is_video(self, path: str) -> bool:
        return path.rsplit(".", 1)[-1].lower() in self.extensions if "." in os.path.basename(path) else False

    def record(self, folder: FolderWatch, event: FileSystemEvent) -> None:
        """Note an event (called from observer threads; must stay cheap)."""
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        now = time.monotonic()
        folder.events += 1
        folder.last_event_at = time.time()
        if kind in ("opened", "closed_no_write"):
            return
        if event.is_directory:
            if kind == "moved":
                if self._ignored(dest) is None:
                    with self.lock:
                        self.moves.append((src, dest))
                    log.debug("folder renamed %s -> %s: paths below will follow", src, dest)
            elif kind in ("created", "deleted"):
                if self._ignored(src) is None:
                    with self.lock:
                        self.dir_events.append((kind, src))
                    log.debug("folder %s %s: its videos will be checked", src, kind)
            return
        if kind == "moved":
            src_video = self._is_video(src) and self._ignored(src) is None
            dest_video = self._is_video(dest) and self._ignored(dest) is None
            with self.lock:
                if src_video and dest_video:
                    self.moves.append((src, dest))
                    log.debug("rename %s -> %s: queued as a move", src, dest)
                    return
                if src_video:
                    self._touch(src, now)
                if dest_video:
                    self._touch(dest, now)
            if dest_video:
                log.debug("rename %s -> %s: a new video name, waiting for it to settle", src, dest)
            elif src_video:
                log.debug("rename %s -> %s: the video left its name, checking it", src, dest)
            elif not self._maybe_sidecar(dest or src, now):
                log.debug("ignored rename %s -> %s: not a video", src, dest)
            return
        reason = self._ignored(src)
        if reason:
            log.debug("ignored %s event for %s: %s", kind, src, reason)
            return
        if not self._is_video(src):
            if not self._maybe_sidecar(src, now):
                log.debug("ignored %s event for %s: not a video", kind, src)
            return
        with self.lock:
            self._touch(src, now)
        log.debug("%s %s: waiting for it to settle", kind, src)

    def _touch(self, path: str, now: float) -> None:
        item = self.pending.get(path)
        if item is None:
            self.pending[path] = Pending(now, now)
        else:
            item.last_event = now

    def _maybe_sidecar(self, path: str, now: float) -> bool:
        """A changed .nfo/.json re-reads the metadata of the video beside it."""
        base, ext = os.path.splitext(path)
        if ext.lower() not in SIDECARS:
            return False
        for video_ext in self.extensions:
            for candidate in (f"{base}.{video_ext}", f"{base}.{video_ext.upper()}"):
                if os.path.exists(candidate):
                    with self.lock:
                        self._touch(candidate, now)
                    log.debug("sidecar %s changed: rescanning %s", path, candidate)
                    return True
        return False

    # -- folders --------------------------------------------------------------------------------
    def sync_folders(self) -> None:
        """Start watching new folders and stop watching removed ones."""
        rows = {r["id"]: r for r in self.state.db.execute("SELECT id, path, force_polling FROM folders")}
        for folder_id in list(self.folders):
            if folder_id not in rows:
                folder = self.folders.pop(folder_id)
                self._stop_observer(folder)
                log.info("stopped watching %s (removed from the library)", folder.path)
        for folder_id, row in rows.items():
            folder = self.folders.get(folder_id)
            if folder is not None and folder.force_polling != bool(row["force_polling"]):
                self._stop_observer(folder)
                folder.force_polling = bool(row["force_polling"])
                self._start_observer(folder)
            if folder is None:
                folder = FolderWatch(folder_id, row["path"], bool(row["force_polling"]))
                self.folders[folder_id] = folder
                self._start_observer(folder)
                self._queue_folder_scan(folder, "start of watching")

    @_in_folder
    def _start_observer(self, folder: FolderWatch) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        if not os.path.isdir(folder.path):
            folder.mode, folder.reason = "unreachable", "folder is not reachable"
            log.warning("cannot watch %s: not reachable (will retry)", folder.path)
            return
        fs_type = mount_fs_type(folder.path)
        polling_reason = ""
        if folder.force_polling:
            polling_reason = "forced on the dashboard"
        elif needs_polling(fs_type):
            polling_reason = f"{fs_type} sends no inotify events"
        observer = None
        if not polling_reason:
            try:
                observer = Observer()
                observer.schedule(_Handler(self, folder), folder.path, recursive=True)
                observer.start()
                folder.mode, folder.reason = "events", f"inotify ({fs_type or 'local'})"
            except OSError as exc:
                polling_reason = f"event watch failed: {exc}"
                folder.error(polling_reason)
                log.warning("watch of %s failed (%s): falling back to polling", folder.path, exc)
                try:
                    observer.stop()
                except Exception:
                    pass
                observer = None
        if observer is None:
            observer = PollingObserver(timeout=self.config["WATCH_POLL_INTERVAL"])
            observer.schedule(_Handler(self, folder), folder.path, recursive=True)
            observer.start()
            folder.mode, folder.reason = "polling", polling_reason
        folder.observer = observer
        log.info("watching %s (%s: %s)", folder.path, folder.mode, folder.reason)
        self._count_watches(folder)

    @_in_folder
    def _stop_observer(self, folder: FolderWatch) -> None:
        if folder.observer is not None:
            try:
                folder.observer.stop()
                folder.observer.join(timeout=5)
            except Exception as exc:
                log.warning("stopping the observer of %s: %s", folder.path, exc)
            folder.observer = None

    def _count_watches(self, folder: FolderWatch) -> None:
        """Directories watched (inotify uses one watch per directory)."""
        if folder.mode != "events":
            folder.watches = 0
            return
        count = 0
        for _root, dirs, _files in os.walk(folder.path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            count += 1
        folder.watches = count

    def check_observers(self) -> None:
        """Restart dead observers; re-try unreachable folders."""
        for folder in self.folders.values():
            with log_folder(folder.path):
                self._check_observer(folder)

    def _check_observer(self, folder: FolderWatch) -> None:
        """One folder's check (its log lines carry the folder)."""
        if folder.mode == "unreachable":
            if os.path.isdir(folder.path):
                log.info("%s is reachable again", folder.path)
                self._start_observer(folder)
                self._queue_folder_scan(folder, "folder reachable again")
            return
        observer = folder.observer
        emitters_dead = observer is not None and any(not e.is_alive() for e in list(getattr(observer, "emitters", [])))
        if observer is None or not observer.is_alive() or emitters_dead or not os.path.isdir(folder.path):
            why = "folder not reachable" if not os.path.isdir(folder.path) else "observer stopped"
            folder.error(f"restarting watch: {why}")
            folder.restarts += 1
            log.error("watch of %s died (%s); restarting it", folder.path, why)
            self._stop_observer(folder)
            self._start_observer(folder)
            if folder.mode != "unreachable":
                self._queue_folder_scan(folder, "watch restarted")

    @_in_folder
    def _queue_folder_scan(self, folder: FolderWatch, why: str) -> None:
        try:
            job, created = jobs.enqueue_scan(folder.folder_id)
            if created:
                self.queued_jobs += 1
            log.info("full scan of %s %s (%s)", folder.path, "queued" if created else "already queued", why)
        except jobs.QueueUnavailable as exc:
            folder.error(str(exc))
            log.warning("cannot queue a scan of %s: %s", folder.path, exc)

    def folder_for(self, path: str) -> FolderWatch | None:
        best = None
        for folder in self.folders.values():
            if path.startswith(folder.path.rstrip(os.sep) + os.sep) and (best is None or len(folder.path) > len(best.path)):
                best = folder
        return best

    # -- decisions ------------------------------------------------------------------------------
    def process(self) -> int:
        """Queue jobs for settled files, renames and folder events; returns jobs queued."""
        now = time.monotonic()
        quiet = self.config["WATCH_QUIET_SECONDS"]
        with self.lock:
            moves, self.moves = self.moves, []
            dir_events, self.dir_events = self.dir_events, []
        ready: dict[int, list[str]] = {}
        for kind, directory in dir_events:
            folder = self.folder_for(directory)
            if folder is None:
                continue
            paths = self._paths_under(directory, kind)
            if not paths:
                continue
            log.info("folder %s %s: %d videos to check", directory, kind, len(paths))
            if kind == "created":
                # A folder being copied in: its files may still be growing, so they settle
                # like any other new file (scanned now, a partial file would get a wrong hash).
                with self.lock:
                    for path in paths:
                        self._touch(path, now)
            else:
                ready.setdefault(folder.folder_id, []).extend(paths)
        with self.lock:
            candidates = list(self.pending.items())
        for path, item in candidates:
            # Stat every tick: a copy that sends no events (NFS, some tools) still shows growth.
            try:
                st = os.stat(path)
                current: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            except OSError:
                current = None
            if current != item.stat or item.stat_since == 0.0:
                item.stat, item.stat_since = current, now
            settled_for = now - max(item.last_event, item.stat_since)
            if settled_for < quiet:
                continue
            folder = self.folder_for(path)
            with self.lock:
                if self.pending.get(path) is item:
                    del self.pending[path]
            if folder is None:
                log.debug("ignored %s: no longer inside a library folder", path)
                continue
            ready.setdefault(folder.folder_id, []).append(path)
            log.debug("%s settled for %.1f s (%s): queued for scanning", path, settled_for, "gone" if current is None else f"{current[0]} bytes")
        queued = 0
        by_folder_moves: dict[int, list[tuple[str, str]]] = {}
        for src, dest in moves:
            folder = self.folder_for(dest)
            if folder is None:
                # Moved out of the library: the source is gone.
                src_folder = self.folder_for(src)
                if src_folder is not None:
                    ready.setdefault(src_folder.folder_id, []).extend(self._paths_under(src, "deleted") if not self._is_video(src) else [src])
                continue
            by_folder_moves.setdefault(folder.folder_id, []).append((src, dest))
        for folder_id in set(ready) | set(by_folder_moves):
            paths = sorted(set(ready.get(folder_id, [])))
            folder_moves = by_folder_moves.get(folder_id, [])
            for start in range(0, max(len(paths), 1), BATCH_SIZE):
                chunk = paths[start : start + BATCH_SIZE]
                chunk_moves = folder_moves if start == 0 else []
                if not chunk and not chunk_moves:
                    continue
                queued += self._queue_changes(folder_id, chunk, chunk_moves)
        return queued

    def _paths_under(self, directory: str, kind: str) -> list[str]:
        """Video paths below ``directory``: on disk for a created folder, known ones for a deleted one."""
        if kind == "created":
            found = []
            for root, dirs, files in os.walk(directory):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [os.path.join(root, f) for f in files if self._is_video(f) and self._ignored(os.path.join(root, f)) is None]
            return found
        prefix = directory.rstrip(os.sep) + os.sep
        rows = self.state.db.execute("SELECT path FROM videos WHERE missing = 0 AND substr(path, 1, ?) = ?", [len(prefix), prefix])
        return [r[0] for r in rows]

    def _queue_changes(self, folder_id: int, paths: list[str], moves: list[tuple[str, str]]) -> int:
        folder = self.folders.get(folder_id)
        with log_folder(folder.path if folder else str(folder_id)):
            return self._queue_changes_of(folder_id, paths, moves)

    def _queue_changes_of(self, folder_id: int, paths: list[str], moves: list[tuple[str, str]]) -> int:
        digest = hashlib.sha1(json.dumps([paths, moves]).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        try:
            job, created = jobs.enqueue(
                "scan",
                jobs.scan_changes,
                folder_id,
                paths,
                moves,
                job_id=f"scan-changes-{folder_id}-{digest}",
                job_timeout=self.config["JOB_TIMEOUT_SCAN"],
                result_ttl=600,
            )
        except jobs.QueueUnavailable as exc:
            log.warning("cannot queue changes of folder %s (will retry): %s", folder_id, exc)
            with self.lock:  # put them back
                now = time.monotonic()
                for path in paths:
                    self._touch(path, now)
                self.moves.extend(moves)
            return 0
        if created:
            self.queued_jobs += 1
            log.info("queued %s: %d changed files, %d renames in folder %s", job.id, len(paths), len(moves), folder_id)
        return int(created)

    # -- health -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        limit = inotify_watch_limit()
        pending_by_folder: dict[int, int] = {}
        with self.lock:
            for path in self.pending:
                folder = self.folder_for(path)
                if folder is not None:
                    pending_by_folder[folder.folder_id] = pending_by_folder.get(folder.folder_id, 0) + 1
        return {
            "running": True,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "inotify_watch_limit": limit,
            "jobs_queued": self.queued_jobs,
            "folders": [
                {
                    "folder_id": f.folder_id,
                    "path": f.path,
                    "mode": f.mode,
                    "reason": f.reason,
                    "watches": f.watches,
                    "watch_limit": limit if f.mode == "events" else None,
                    "last_event_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(f.last_event_at)) if f.last_event_at else None,
                    "events": f.events,
                    "pending": pending_by_folder.get(f.folder_id, 0),
                    "restarts": f.restarts,
                    "errors": f.errors,
                }
                for f in sorted(self.folders.values(), key=lambda f: f.path)
            ],
        }

    def publish_health(self) -> None:
        try:
            self.state.redis.set(HEALTH_KEY, json.dumps(self.health()), ex=max(15, int(self.config["WATCH_FOLDER_SYNC_SECONDS"] * 5)))
        except Exception as exc:
            log.debug("cannot publish watcher health: %s", exc)

    # -- main loop ----------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_sync >= self.config["WATCH_FOLDER_SYNC_SECONDS"]:
            self._last_sync = now
            self.sync_folders()
            self.check_observers()
        self.process()
        if now - self._last_watch_count >= 60:
            self._last_watch_count = now
            for folder in self.folders.values():
                self._count_watches(folder)
        if now - self._last_health >= 2:
            self._last_health = now
            self.publish_health()

    def run(self) -> None:
        """Watch until :meth:`stop` (or SIGTERM / Ctrl-C in the CLI)."""
        log.info("watcher started (quiet period %.1f s, poll interval %.1f s)", self.config["WATCH_QUIET_SECONDS"], self.config["WATCH_POLL_INTERVAL"])
        try:
            while not self.stop_event.is_set():
                try:
                    self.tick()
                except Exception:
                    log.exception("watcher loop error (continuing)")
                self.stop_event.wait(self.config["WATCH_TICK_SECONDS"])
        finally:
            for folder in self.folders.values():
                self._stop_observer(folder)
            try:
                self.state.redis.delete(HEALTH_KEY)
            except Exception:
                pass
            log.info("watcher stopped")

    def stop(self, *_args: Any) -> None:
        self.stop_event.set()


def run_watcher(app_state) -> None:
    """Run a watcher in this process until SIGTERM or Ctrl-C."""
    watcher = Watcher(app_state)
    signal.signal(signal.SIGTERM, watcher.stop)
    try:
        watcher.run()
    except KeyboardInterrupt:
        watcher.stop()


def read_health(app_state) -> dict[str, Any]:
    """The last health report of the running watcher, or ``{"running": False}``."""
    raw = app_state.redis.get(HEALTH_KEY)
    if not raw:
        return {"running": False, "folders": []}
    return json.loads(raw)
