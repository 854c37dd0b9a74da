"""Maintenance work behind the CLI: health checks, pruning, purging, requeuing, compacting.

Each function takes the process state (or its database and config), does one job, and
returns what it did; ``vidlib/cli_maintenance.py`` wraps them in ``flask --app vidlib``
commands with progress bars. Nothing here prints.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import sqlite_utils

from vidlib.db import MIGRATIONS, bump_library_version, rebuild_fts, schema_version, write_transaction

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "FAIL"
REQUIRED_ENCODERS = ("libx264", "aac")  # teasers: H.264 video, AAC audio
OPTIONAL_ENCODERS = ("libvpx-vp9", "libopus", "h264_nvenc", "h264_vaapi", "h264_qsv")
TMP_PREFIX = ".tmp-"  # temp names of media generation (vidlib/media/generate.py)
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_HASH = re.compile(r"^[0-9a-f]{16}$")

Tick = Callable[[int], None]


def _no_tick(_n: int) -> None:
    return None


# -- doctor ---------------------------------------------------------------------------------


@dataclass
class Check:
    """One doctor finding: ``status`` is ok, warn or FAIL."""

    status: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}"


def _tool_version(exe: str) -> str | None:
    """First line of ``exe -version`` (e.g. ``ffmpeg version 6.1.1 ...``), or None if it does not run."""
    path = shutil.which(exe)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.splitlines()[0] if out else ""
    match = re.match(rf"{re.escape(exe)} version (\S+)", first)
    return match.group(1) if match else first[:60] or "unknown version"


def ffmpeg_encoders() -> set[str]:
    """Names of the encoders the system ffmpeg has (empty when it does not run)."""
    path = shutil.which("ffmpeg")
    if path is None:
        return set()
    try:
        out = subprocess.run([path, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # "V....D libx264  libx264 H.264 ...": flags, then the name
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS" and parts[1] != "=":
            names.add(parts[1])
    return names


def check_ffmpeg() -> list[Check]:
    """ffmpeg and ffprobe present, their versions, and the encoders teasers need."""
    checks = []
    version = _tool_version("ffmpeg")
    if version is None:
        checks.append(Check(FAIL, "ffmpeg", "not found on PATH or does not run; install it (apt install ffmpeg): teasers cannot be made"))
    else:
        encoders = ffmpeg_encoders()
        missing = [e for e in REQUIRED_ENCODERS if e not in encoders]
        extra = [e for e in OPTIONAL_ENCODERS if e in encoders]
        listing = ", ".join([e for e in REQUIRED_ENCODERS if e in encoders] + extra)
        if missing:
            checks.append(Check(FAIL, "ffmpeg", f"{version}; missing encoders {', '.join(missing)} (teasers need them)"))
        else:
            checks.append(Check(OK, "ffmpeg", f"{version}; encoders {listing}"))
    probe_version = _tool_version("ffprobe")
    if probe_version is None:
        checks.append(Check(WARN, "ffprobe", "not found (vidlib probes with PyAV; ffprobe is only handy for debugging)"))
    else:
        checks.append(Check(OK, "ffprobe", probe_version))
    return checks


def check_redis(app_state) -> list[Check]:
    """Redis answers; queue lengths; at least one worker listening."""
    if not app_state.redis_available():
        return [Check(FAIL, "redis", f"not reachable at {app_state.redis_url}: scans, preview media and index rebuilds cannot be queued")]
    from rq import Worker

    info = app_state.redis.info("server")
    queues = ", ".join(f"{name} {app_state.queue(name).count}" for name in ("scan", "media", "index"))
    checks = [Check(OK, "redis", f"{info.get('redis_version', '?')} at {app_state.redis_url}; queued: {queues}")]
    workers = Worker.all(connection=app_state.redis)
    if workers:
        checks.append(Check(OK, "workers", f"{len(workers)} listening"))
    else:
        checks.append(Check(WARN, "workers", "none running: queued jobs wait until `python worker.py` starts"))
    return checks


def check_database(db: sqlite_utils.Database) -> list[Check]:
    """SQLite integrity, foreign keys, schema version and the full-text table's row count."""
    checks = []
    problems = [r[0] for r in db.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        checks.append(Check(FAIL, "database integrity", "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")))
    else:
        checks.append(Check(OK, "database integrity", "integrity_check ok"))
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:
        tables = sorted({r[0] for r in dangling})
        checks.append(Check(FAIL, "foreign keys", f"{len(dangling)} rows point at missing rows (tables {', '.join(tables)})"))
    else:
        checks.append(Check(OK, "foreign keys", "no dangling references"))
    version = schema_version(db)
    if version != len(MIGRATIONS):
        checks.append(Check(FAIL, "schema", f"version {version}, this code expects {len(MIGRATIONS)}"))
    else:
        checks.append(Check(OK, "schema", f"version {version}"))
    videos = db.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
    indexed = db.execute("SELECT COUNT(*) FROM video_fts f JOIN videos v ON v.rowid = f.rowid").fetchone()[0]
    fts_rows = db.execute("SELECT COUNT(*) FROM video_fts").fetchone()[0]
    if indexed != videos or fts_rows != videos:
        checks.append(Check(WARN, "full-text index", f"{fts_rows} rows for {videos} videos ({indexed} matched): run `flask --app vidlib rebuild-fts`"))
    else:
        checks.append(Check(OK, "full-text index", f"{fts_rows} rows"))
    return checks


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_disk(config: dict[str, Any]) -> list[Check]:
    """Free space where preview media (and the database) are written."""
    checks = []
    seen: set[int] = set()
    minimum = config["DOCTOR_MIN_FREE_MB"] * 2**20
    for label, path in (("MEDIA_DIR", config["MEDIA_DIR"]), ("DATA_DIR", config["DATA_DIR"])):
        try:
            device = os.stat(path).st_dev
            usage = shutil.disk_usage(path)
        except OSError as exc:
            checks.append(Check(FAIL, f"disk {label}", f"{path}: {exc.strerror}"))
            continue
        if device in seen:
            continue
        seen.add(device)
        share = usage.free / usage.total if usage.total else 0
        detail = f"{_gib(usage.free)} free of {_gib(usage.total)} ({share:.0%}) at {path}"
        if usage.free < minimum:
            checks.append(Check(FAIL, f"disk {label}", f"{detail}; below VIDLIB_DOCTOR_MIN_FREE_MB ({config['DOCTOR_MIN_FREE_MB']} MiB)"))
        elif usage.free < 5 * minimum or share < 0.05:
            checks.append(Check(WARN, f"disk {label}", f"{detail}; running low"))
        else:
            checks.append(Check(OK, f"disk {label}", detail))
        if not os.access(path, os.W_OK):
            checks.append(Check(FAIL, f"disk {label}", f"{path} is not writable by this user"))
    return checks


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def count_watch_dirs(path: str) -> int:
    """Directories under ``path`` the watcher would watch (inotify: one watch each)."""
    count = 0
    for _root, dirs, _files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        count += 1
    return count


def check_folders_and_inotify(db: sqlite_utils.Database, tick: Tick = _no_tick) -> list[Check]:
    """Library folders reachable; inotify watches and instances enough for them."""
    checks = []
    folders = [r[0] for r in db.execute("SELECT path FROM folders ORDER BY path")]
    needed = 0
    unreachable = []
    for path in folders:
        if os.path.isdir(path):
            needed += count_watch_dirs(path)
        else:
            unreachable.append(path)
        tick(1)
    if not folders:
        checks.append(Check(WARN, "folders", "the library has no folders: `flask --app vidlib add-folder PATH`"))
    elif unreachable:
        checks.append(Check(WARN, "folders", f"{len(unreachable)} of {len(folders)} unreachable: {', '.join(unreachable[:3])}"))
    else:
        checks.append(Check(OK, "folders", f"{len(folders)} reachable"))
    watches = _read_int("/proc/sys/fs/inotify/max_user_watches")
    instances = _read_int("/proc/sys/fs/inotify/max_user_instances")
    if watches is None:
        checks.append(Check(WARN, "inotify", "limits unreadable (not Linux?): the watcher polls"))
        return checks
    detail = f"max_user_watches {watches} (library needs {needed}), max_user_instances {instances}"
    if needed > watches:
        checks.append(Check(WARN, "inotify", f"{detail}; the watcher falls back to polling: raise fs.inotify.max_user_watches"))
    elif needed > 0.8 * watches or (instances is not None and len(folders) > 0.8 * instances):
        checks.append(Check(WARN, "inotify", f"{detail}; close to the limit (other programs share it)"))
    else:
        checks.append(Check(OK, "inotify", detail))
    return checks


def check_exposure(config: dict[str, Any]) -> list[Check]:
    """The bind address and admin token (see docs/security.md)."""
    from vidlib.auth import is_loopback_host

    host = config["HOST"]
    if is_loopback_host(host):
        return [Check(OK, "exposure", f"binds to {host} (this machine only)")]
    if config["ADMIN_TOKEN"]:
        return [Check(OK, "exposure", f"binds to {host}; dashboard and changes need the admin token")]
    return [Check(WARN, "exposure", f"binds to {host} without VIDLIB_ADMIN_TOKEN: the dashboard and every change stay loopback-only")]


# -- prune-media --------------------------------------------------------------------------


@dataclass
class PruneReport:
    dirs: list[str] = field(default_factory=list)
    tmp_files: list[str] = field(default_factory=list)
    bytes: int = 0

    def summary(self, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        return f"{verb} {len(self.dirs)} media dirs of deleted videos and {len(self.tmp_files)} stale temp files ({self.bytes / 2**20:.1f} MiB)"


def _tree_size(path: str) -> int:
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _remove_tree(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def media_shards(media_dir: str) -> list[str]:
    """The ``<hash[:2]>`` dirs of MEDIA_DIR (only names vidlib writes)."""
    try:
        return sorted(n for n in os.listdir(media_dir) if _SHARD.match(n) and os.path.isdir(os.path.join(media_dir, n)))
    except FileNotFoundError:
        return []


def prune_media(db: sqlite_utils.Database, media_dir: str, *, tmp_age_seconds: float = 3600, dry_run: bool = False, tick: Tick = _no_tick) -> PruneReport:
    """Remove media dirs of videos no longer in the database, and stale ``.tmp-*`` files.

    Missing videos keep their media (they come back when the file does). A temp file is stale
    when it is older than ``tmp_age_seconds``: a live job renames its temp file within seconds
    to minutes, a killed work horse leaves it behind. Only names vidlib writes are touched.
    """
    report = PruneReport()
    cutoff = time.time() - tmp_age_seconds

    def stale_tmp(path: str) -> None:
        try:
            if os.lstat(path).st_mtime >= cutoff:
                return
            size = _tree_size(path)
        except OSError:
            return
        report.tmp_files.append(path)
        report.bytes += size
        if not dry_run:
            _remove_tree(path)
            log.info("removed stale temp file %s", path)

    for shard in media_shards(media_dir):
        shard_dir = os.path.join(media_dir, shard)
        for name in sorted(os.listdir(shard_dir)):
            path = os.path.join(shard_dir, name)
            if name.startswith(TMP_PREFIX):
                stale_tmp(path)
                continue
            if not (_HASH.match(name) and name.startswith(shard) and os.path.isdir(path)):
                continue
            # Asked per dir (not from a list read up front): a video added meanwhile keeps its media.
            if db.execute("SELECT 1 FROM videos WHERE hash = ?", [name]).fetchone():
                for root, dirs, files in os.walk(path):
                    for entry in [*dirs, *files]:
                        if entry.startswith(TMP_PREFIX):
                            stale_tmp(os.path.join(root, entry))
                    dirs[:] = [d for d in dirs if not d.startswith(TMP_PREFIX)]
                continue
            report.dirs.append(path)
            report.bytes += _tree_size(path)
            if not dry_run:
                _remove_tree(path)
                log.info("removed media of deleted video %s", name)
        if not dry_run:
            try:
                os.rmdir(shard_dir)  # only succeeds when empty
            except OSError:
                pass
        tick(1)
    return report


# -- clean-missing ------------------------------------------------------------------------


def missing_before(db: sqlite_utils.Database, days: float, now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """Videos marked missing more than ``days`` days ago (oldest first)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cutoff = (now - datetime.timedelta(days=days)).replace(microsecond=0).isoformat()
    rows = db.execute(
        "SELECT hash, path, title, missing_since FROM videos WHERE missing = 1 AND missing_since IS NOT NULL AND missing_since <= ? ORDER BY missing_since, hash",
        [cutoff],
    )
    return [dict(r) for r in rows]


PURGE_BATCH = 200  # videos per write transaction: short locks for the web and the worker


def purge_videos(db: sqlite_utils.Database, media_dir: str, hashes: Iterable[str], tick: Tick = _no_tick) -> int:
    """Delete missing videos for good: rows, names they alone used, and their media files.

    Deleting the ``videos`` row cascades (foreign keys) to performer/category links,
    favourites, collection items, media status, legacy metadata and duplicate copies; the FTS
    row goes with the delete trigger. A video that came back meanwhile (``missing = 0``) is
    kept. Returns how many were purged.
    """
    purged: list[str] = []
    pending = list(hashes)
    for start in range(0, len(pending), PURGE_BATCH):
        batch = pending[start : start + PURGE_BATCH]
        with write_transaction(db):
            for video_hash in batch:
                if db.execute("DELETE FROM videos WHERE hash = ? AND missing = 1", [video_hash]).rowcount:
                    db.execute("DELETE FROM collisions WHERE hash_a = ? OR hash_b = ?", [video_hash, video_hash])
                    purged.append(video_hash)
            if purged:
                _delete_unused_names(db)
                bump_library_version(db)
        for video_hash in set(batch).intersection(purged):
            _remove_tree(os.path.join(media_dir, video_hash[:2], video_hash))
        tick(len(batch))
    for video_hash in purged:
        log.info("purged missing video %s", video_hash)
    return len(purged)


def _delete_unused_names(db: sqlite_utils.Database) -> None:
    """Drop studios, performers and categories no video uses any more (content filters match by name)."""
    db.execute("DELETE FROM studios WHERE NOT EXISTS (SELECT 1 FROM videos v WHERE v.studio_id = studios.id)")
    db.execute("DELETE FROM performers WHERE NOT EXISTS (SELECT 1 FROM video_performers vp WHERE vp.performer_id = performers.id)")
    db.execute("DELETE FROM categories WHERE NOT EXISTS (SELECT 1 FROM video_categories vc WHERE vc.category_id = categories.id)")


# -- requeue-failed -----------------------------------------------------------------------


def failed_media(db: sqlite_utils.Database, kinds: Iterable[str] = (), statuses: Iterable[str] = ("failed",)) -> list[tuple[str, str]]:
    """(hash, kind) of present videos whose media job ended in one of ``statuses``."""
    statuses = list(statuses)
    sql = f"SELECT m.hash, m.kind FROM media m JOIN videos v ON v.hash = m.hash AND v.missing = 0 WHERE m.status IN ({','.join('?' * len(statuses))})"
    params: list[Any] = list(statuses)
    kinds = list(kinds)
    if kinds:
        sql += f" AND m.kind IN ({','.join('?' * len(kinds))})"
        params += kinds
    return [(r[0], r[1]) for r in db.execute(sql + " ORDER BY m.updated_at, m.hash, m.kind", params)]


# -- vacuum -------------------------------------------------------------------------------


def db_files_size(db_path: str) -> int:
    """Bytes of the database file plus its write-ahead log."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(db_path + suffix)
        except OSError:
            pass
    return total


def vacuum_steps(db: sqlite_utils.Database) -> Iterator[tuple[str, str]]:
    """Compact the database, one step per ``next()``: yields ``(step, what happened)``.

    VACUUM may renumber the rowids of ``videos`` (its key is text), which the full-text table
    is keyed by: the FTS table is rebuilt when any rowid moved.
    """
    busy, log_frames, checkpointed = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    yield "checkpoint", f"WAL checkpoint: {checkpointed} of {log_frames} frames{' (busy: readers held some back)' if busy else ''}"
    before = dict(db.execute("SELECT hash, rowid FROM videos").fetchall())
    db.execute("VACUUM")
    yield "vacuum", "VACUUM done"
    after = dict(db.execute("SELECT hash, rowid FROM videos").fetchall())
    if before != after:
        with write_transaction(db):
            rows = rebuild_fts(db)
            # Processes keep the visible videos' rowids (vidlib.library.videos.visible_rowids)
            # until this counter moves.
            db.execute("UPDATE index_state SET version = version + 1 WHERE name IN ('data', 'rows')")
        yield "fts", f"video rowids moved: full-text index rebuilt ({rows} rows)"
    else:
        yield "fts", "video rowids unchanged: full-text index kept"
    db.execute("PRAGMA optimize")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield "optimize", "PRAGMA optimize done"
