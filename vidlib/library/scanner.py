"""Scanning library folders: find video files, identify them by content, probe and describe them.

A scan has two phases. The walk lists every video file with its size and mtime (plus a
stamp of its sidecars' mtimes) and compares them with what the database knows, without
reading any file: an unchanged rescan of 100,000 files costs about twice a bare ``os.scandir``
+ ``stat`` walk (bench/scan.py). Then only new or changed files are hashed (oshash,
at most 128 KiB read), probed and described. A file that disappears is marked missing, never
deleted; a known hash at a new path is a move; the same oshash at two live paths is a
duplicate (same full content) or a collision (different content, both kept).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import stat as stat_mod
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import sqlite_utils

from vidlib.db import now_iso, write_transaction
from vidlib.library import hashing, records
from vidlib.library.metadata import sidecar_paths
from vidlib.library.probe import ProbeError, probe

log = logging.getLogger(__name__)

SIDECAR_EXTENSIONS = (".nfo", ".json")


def sidecar_stamp(mtimes: Iterable[float]) -> float:
    """One number that changes when any sidecar of a video appears, disappears or is modified.

    Stored as ``videos.sidecar_mtime`` and only compared for equality. It is the sum of the
    sidecars' mtimes, not the newest one: the newest alone misses an older sidecar deleted
    next to a newer one, or a sidecar added with an older mtime (copied with ``cp -p`` or
    restored from a backup). With a single sidecar the sum is simply its mtime.
    """
    return float(sum(mtimes))


class FoundFile(NamedTuple):
    """A video file seen by the walk (a tuple: the walk builds 100,000 of them per rescan)."""

    path: str
    size: int
    mtime: float
    sidecar_mtime: float  # sidecar_stamp() of its .nfo/.json mtimes, 0.0 without sidecars


@dataclass
class ScanStats:
    """What a scan found and did; printed as the CLI summary and returned by scan jobs."""

    files: int = 0
    unchanged: int = 0
    new: int = 0
    updated: int = 0
    moved: int = 0
    restored: int = 0
    duplicates: int = 0
    collisions: int = 0
    errors: int = 0
    missing: int = 0
    hashed_bytes: int = 0
    seconds: float = 0.0
    changed_hashes: list[str] = field(default_factory=list)

    def add(self, other: "ScanStats") -> None:
        for name in ("files", "unchanged", "new", "updated", "moved", "restored", "duplicates", "collisions", "errors", "missing", "hashed_bytes", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.changed_hashes.extend(other.changed_hashes)

    def summary(self) -> str:
        return (
            f"{self.files} files: {self.new} new, {self.updated} updated, {self.moved} moved, "
            f"{self.restored} restored, {self.unchanged} unchanged, {self.duplicates} duplicates, "
            f"{self.collisions} collisions, {self.errors} errors, {self.missing} now missing "
            f"({self.seconds:.2f} s)"
        )

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "changed_hashes"}
        data["changed"] = len(self.changed_hashes)
        return data


def walk(root: str, extensions: set[str], skip_dirs: set[str], exclude: set[tuple[int, int]] = frozenset()) -> Iterator[FoundFile]:
    """Yield every video file under ``root`` as a :class:`FoundFile` (see :func:`walk_tuples`)."""
    return map(FoundFile._make, walk_tuples(root, extensions, skip_dirs, exclude))


def walk_tuples(root: str, extensions: set[str], skip_dirs: set[str], exclude: set[tuple[int, int]] = frozenset()) -> Iterator[tuple[str, int, float, float]]:
    """Yield ``(path, size, mtime, sidecar stamp)`` of every video file under ``root``.

    Recursive; follows symlinks but never enters a directory twice (loops are safe); skips
    hidden entries (``.name``), ``skip_dirs`` names and the directories in ``exclude``
    (``(st_dev, st_ino)`` pairs, e.g. the media dir). This is the hot loop of an unchanged
    rescan, so it does per file only what it must: a name check, one ``stat`` (as a bare
    walk does) and a tuple.
    """
    try:
        root_stat = os.stat(root)
    except OSError as exc:
        log.warning("cannot read library folder %s: %s", root, exc)
        return
    visited = {(root_stat.st_dev, root_stat.st_ino)} | set(exclude)
    stack = [root]
    is_reg, is_dir = stat_mod.S_ISREG, stat_mod.S_ISDIR
    join = os.path.join
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("cannot list %s: %s", directory, exc)
            continue
        sidecars: dict[str, list[str]] | None = None  # stem -> sidecar names, built on first video
        subdirs = []
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            dot = name.rfind(".")
            if dot <= 0 or name[dot + 1 :].lower() not in extensions:
                try:
                    if entry.is_dir() and name not in skip_dirs:
                        subdirs.append(entry)
                except OSError:
                    pass
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                # A dangling symlink or a file removed mid-walk: report it like any bad file.
                yield (entry.path, -1, -1.0, 0.0)
                log.debug("cannot stat %s: %s", entry.path, exc)
                continue
            if not is_reg(st.st_mode):
                if is_dir(st.st_mode) and name not in skip_dirs:
                    subdirs.append(entry)  # a folder named like a video
                continue
            if sidecars is None:
                sidecars = {}
                for other in entries:
                    other_name = other.name
                    if other_name.endswith(SIDECAR_EXTENSIONS):
                        sidecars.setdefault(other_name.rsplit(".", 1)[0], []).append(other_name)
            stamp = 0.0
            if sidecars:
                names = sidecars.get(name[:dot])
                if names:
                    mtimes = []
                    for sidecar in names:
                        try:
                            mtimes.append(os.stat(join(directory, sidecar)).st_mtime)
                        except OSError:
                            pass
                    stamp = sidecar_stamp(mtimes) if mtimes else 0.0
            yield (entry.path, st.st_size, st.st_mtime, stamp)
        for entry in subdirs:
            try:
                st = entry.stat()
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                log.debug("skipping %s: already visited (symlink loop or duplicate link)", entry.path)
                continue
            visited.add(key)
            stack.append(entry.path)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees everything).

    Listing a big folder keeps one FoundFile per file alive; with the collector on, 100,000
    files cost a few full collections that walk all of them, ~10% of an unchanged rescan
    (bench/scan.py). The walk and the row loading create no reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Scanner:
    """Scans library folders into the database. One instance per scan run."""

    def __init__(self, db: sqlite_utils.Database, config: dict[str, Any], progress: Callable[[int, int], None] | None = None):
        self.db = db
        self.config = config
        self.progress = progress
        self.extensions = set(config["VIDEO_EXTENSIONS"])
        self.skip_dirs = set(config["SKIP_DIRS"])
        self.exclude: set[tuple[int, int]] = set()
        for path in (config["MEDIA_DIR"], config["DATA_DIR"]):
            try:
                st = os.stat(path)
                self.exclude.add((st.st_dev, st.st_ino))
            except OSError:
                pass

    # -- entry points -------------------------------------------------------------------
    def scan_all(self) -> ScanStats:
        """Scan every library folder."""
        total = ScanStats()
        for folder in self.db.execute("SELECT id, path FROM folders ORDER BY id").fetchall():
            total.add(self.scan_folder(folder["id"]))
        return total

    def scan_folder(self, folder_id: int) -> ScanStats:
        """Scan one library folder; raise ``LookupError`` if it is not in the library."""
        started = time.perf_counter()
        folder = self.db.execute("SELECT id, path FROM folders WHERE id = ?", [folder_id]).fetchone()
        if folder is None:
            raise LookupError(f"no library folder with id {folder_id}")
        stats = ScanStats()
        root = folder["path"]
        if not os.path.isdir(root):
            log.warning("library folder %s is not reachable; its videos are left as they are", root)
            stats.seconds = time.perf_counter() - started
            return stats
        with _gc_paused():
            found = list(walk_tuples(root, self.extensions, self.skip_dirs, self.exclude))
            video_rows, duplicate_rows, error_rows = self._known_rows(folder_id)
            stats.files = len(found)
            first = itemgetter(0)
            known_videos = dict(zip(map(first, video_rows), video_rows))
            known_duplicates = dict(zip(map(first, duplicate_rows), duplicate_rows))
            known_errors = dict(zip(map(first, error_rows), error_rows))
            seen = {item[0] for item in found}
            # The hot loop of an unchanged rescan: plain tuple compares, FoundFile objects only
            # for files that need work.
            video_get, dup_get, err_get = known_videos.get, known_duplicates.get, known_errors.get
            work: list[tuple[str, int, float, float]] = []
            refresh: list[tuple[str, tuple]] = []
            for item in found:
                path, size, mtime, stamp = item
                video = video_get(path)
                if video is not None and video[1] == size and video[2] == mtime:
                    if video[3] != stamp:
                        refresh.append(item)
                    continue
                dup = dup_get(path)
                if dup is not None and dup[2] == size and dup[3] == mtime:
                    continue
                err = err_get(path)
                if err is not None and err[1] == size and err[2] == mtime:
                    continue  # a broken file is not retried until it changes
                work.append(item)
        stats.unchanged = len(found) - len(work) - len(refresh)
        total = len(work) + len(refresh)
        for index, item in enumerate(refresh):
            video_hash = self.db.execute("SELECT hash FROM videos WHERE path = ? AND missing = 0", [item[0]]).fetchone()[0]
            self._refresh_metadata(video_hash, FoundFile._make(item), stats)
            if self.progress is not None:
                self.progress(index + 1, total)
        for index, item in enumerate(work, start=len(refresh)):
            self._process(folder_id, FoundFile._make(item), stats)
            if self.progress is not None:
                self.progress(index + 1, total)
        self._forget_unseen(folder_id, known_videos, known_duplicates, known_errors, seen, stats)
        with write_transaction(self.db):
            self.db.execute("UPDATE folders SET last_scan_at = ? WHERE id = ?", [now_iso(), folder_id])
        stats.seconds = time.perf_counter() - started
        log.info("scanned %s: %s", root, stats.summary())
        return stats

    def _known_rows(self, folder_id: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """What the database knows of a folder's files, as plain tuples keyed by their first item.

        Videos: (path, size, mtime, sidecar stamp) — the fewer columns, the cheaper 100,000 rows
        are; plain tuples rather than sqlite3.Row for the same reason (bench/scan.py).
        """
        cursor = self.db.conn.cursor()
        cursor.row_factory = None
        try:
            videos = cursor.execute("SELECT path, size, mtime, sidecar_mtime FROM videos WHERE folder_id = ? AND missing = 0", [folder_id]).fetchall()
            duplicates = cursor.execute("SELECT path, hash, size, mtime FROM duplicates WHERE folder_id = ?", [folder_id]).fetchall()
            errors = cursor.execute("SELECT path, size, mtime FROM scan_errors WHERE folder_id = ?", [folder_id]).fetchall()
        finally:
            cursor.close()
        return videos, duplicates, errors

    def scan_paths(self, folder_id: int, paths: list[str]) -> ScanStats:
        """Scan just ``paths`` (files inside folder ``folder_id``), e.g. from a watcher event.

        A path that no longer exists retires its video (missing, or a duplicate takes over).
        """
        stats = ScanStats()
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                self._forget_path(path, stats)
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            sidecar_mtime = sidecar_stamp(os.stat(p).st_mtime for p in sidecar_paths(path) if os.path.exists(p))
            item = FoundFile(path, st.st_size, st.st_mtime, sidecar_mtime)
            known = self.db.execute("SELECT hash, size, mtime, sidecar_mtime FROM videos WHERE path = ? AND missing = 0", [path]).fetchone()
            stats.files += 1
            if known is not None and known["size"] == item.size and known["mtime"] == item.mtime:
                if known["sidecar_mtime"] != item.sidecar_mtime:
                    self._refresh_metadata(known["hash"], item, stats)
                else:
                    stats.unchanged += 1
                continue
            self._process(folder_id, item, stats)
        return stats

    def apply_moves(self, folder_id: int, moves: list[tuple[str, str]]) -> ScanStats:
        """Follow files or folders renamed inside the library without reading them.

        A file move keeps its video when the destination has the size and mtime recorded for
        the source (a rename preserves both); anything else is scanned like a new file. A folder
        move rewrites the paths under it.
        """
        stats = ScanStats()
        db = self.db
        for src, dest in moves:
            if os.path.isdir(dest):
                prefix, new_prefix = src.rstrip(os.sep) + os.sep, dest.rstrip(os.sep) + os.sep
                rows = db.execute("SELECT hash, path FROM videos WHERE missing = 0 AND substr(path, 1, ?) = ?", [len(prefix), prefix]).fetchall()
                with write_transaction(db):
                    for row in rows:
                        new_path = new_prefix + row["path"][len(prefix):]
                        db.execute("UPDATE videos SET path = ?, folder_id = ?, updated_at = ? WHERE hash = ?", [new_path, folder_id, now_iso(), row["hash"]])
                    for table in ("duplicates", "scan_errors"):
                        db.execute(
                            f"UPDATE {table} SET path = ? || substr(path, ?), folder_id = ? WHERE substr(path, 1, ?) = ?",
                            [new_prefix, len(prefix) + 1, folder_id, len(prefix), prefix],
                        )
                stats.moved += len(rows)
                stats.changed_hashes.extend(r["hash"] for r in rows)
                log.info("folder moved: %s -> %s (%d videos follow)", src, dest, len(rows))
                continue
            row = db.execute("SELECT hash, path, size, mtime, missing, full_hash FROM videos WHERE path = ? AND missing = 0", [src]).fetchone()
            try:
                st = os.stat(dest)
            except OSError:
                st = None
            if row is not None and st is not None and st.st_size == row["size"] and st.st_mtime == row["mtime"]:
                sidecar_mtime = sidecar_stamp(os.stat(p).st_mtime for p in sidecar_paths(dest) if os.path.exists(p))
                self._move(folder_id, row, FoundFile(dest, st.st_size, st.st_mtime, sidecar_mtime), stats, restored=False)
                continue
            if st is not None:
                stats.add(self.scan_paths(folder_id, [dest]))
            if not os.path.exists(src):
                self._forget_path(src, stats)
        return stats

    def _forget_path(self, path: str, stats: ScanStats) -> None:
        """``path`` is gone: retire its video, drop it as a duplicate copy or a scan error."""
        db = self.db
        row = db.execute("SELECT hash FROM videos WHERE path = ? AND missing = 0", [path]).fetchone()
        if row is not None:
            self._retire(row["hash"], path, stats)
        with write_transaction(db):
            if db.execute("DELETE FROM duplicates WHERE path = ?", [path]).rowcount:
                log.info("duplicate copy %s is gone", path)
            db.execute("DELETE FROM scan_errors WHERE path = ?", [path])

    # -- per file -----------------------------------------------------------------------
    def _record_error(self, folder_id: int, item: FoundFile, reason: str, stats: ScanStats) -> None:
        stats.errors += 1
        log.warning("cannot index %s: %s", item.path, reason)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO scan_errors (path, folder_id, size, mtime, reason, at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET folder_id = excluded.folder_id, size = excluded.size, "
                "mtime = excluded.mtime, reason = excluded.reason, at = excluded.at",
                [item.path, folder_id, item.size, item.mtime, reason, now_iso()],
            )

    def _still_holds(self, path: str, oshash: str, stats: ScanStats) -> bool:
        """True if the file at ``path`` still has content ``oshash``.

        Existing is not enough: a known path may now hold other content (two files swapped
        names, or a file was renamed and a new one saved under its old name). Such a row's
        content has moved away, so it is handled like a missing one (a move), not as a live
        copy (which would make a duplicate or a false collision of the file being indexed).
        """
        try:
            value, read = hashing.oshash(path)
        except (OSError, ValueError):
            return False
        stats.hashed_bytes += read
        return value == oshash

    def _full_hash(self, path: str) -> str:
        return hashing.full_hash(path, self.config["FULL_HASH_CHUNK_BYTES"])

    def _process(self, folder_id: int, item: FoundFile, stats: ScanStats) -> None:
        """Identify and index one new or changed file."""
        path = item.path
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            log.warning("skipping %r: its name is not valid UTF-8", path)
            stats.errors += 1
            return
        if item.size < 0:
            self._record_error(folder_id, item, "cannot read file (dangling link or removed while scanning)", stats)
            return
        try:
            oshash, read = hashing.oshash(path)
        except ValueError as exc:
            self._record_error(folder_id, item, str(exc), stats)
            return
        except OSError as exc:
            self._record_error(folder_id, item, f"cannot read file: {exc.strerror or exc}", stats)
            return
        stats.hashed_bytes += read
        db = self.db
        # The same path may hold an older version of the file.
        current = db.execute("SELECT hash, oshash FROM videos WHERE path = ? AND missing = 0", [path]).fetchone()
        if current is not None:
            if current["oshash"] == oshash:  # touched, same content
                with write_transaction(db):
                    db.execute("UPDATE videos SET size = ?, mtime = ?, updated_at = ? WHERE hash = ?", [item.size, item.mtime, now_iso(), current["hash"]])
                self._refresh_metadata(current["hash"], item, stats, count=False)
                stats.updated += 1
                return
            log.info("content at %s changed (was %s)", path, current["hash"])
            self._retire(current["hash"], path, stats)
        with write_transaction(db):
            db.execute("DELETE FROM duplicates WHERE path = ?", [path])
            db.execute("DELETE FROM scan_errors WHERE path = ?", [path])

        candidates = db.execute("SELECT hash, path, missing, full_hash FROM videos WHERE oshash = ? ORDER BY added_at", [oshash]).fetchall()
        new_full: str | None = None
        if len(candidates) > 1:
            new_full = self._full_hash(path)
        live_others = []
        for cand in candidates:
            gone = cand["missing"] or not self._still_holds(cand["path"], oshash, stats)
            if not gone:
                live_others.append(cand)
                continue
            if new_full is not None and cand["full_hash"] and cand["full_hash"] != new_full:
                continue  # a missing video of a colliding pair, not this content
            self._move(folder_id, cand, item, stats, restored=bool(cand["missing"]))
            return
        for cand in live_others:
            if new_full is None:
                new_full = self._full_hash(path)
            cand_full = cand["full_hash"]
            if cand_full is None:
                try:
                    cand_full = self._full_hash(cand["path"])
                except OSError:
                    continue
                with write_transaction(db):
                    db.execute("UPDATE videos SET full_hash = ? WHERE hash = ?", [cand_full, cand["hash"]])
            if cand_full == new_full:
                self._add_duplicate(folder_id, cand, item, stats)
                return
        video_hash = oshash
        if live_others:
            # Same oshash, different content: a collision. Both videos stay; the newcomer's
            # id is its full-content hash so it is stable across rescans.
            video_hash = new_full
            for cand in live_others:
                log.warning(
                    "hash collision: %s and %s share oshash %s but differ in content; kept as separate videos %s and %s",
                    cand["path"], path, oshash, cand["hash"], video_hash,
                )
                stats.collisions += 1
            if db.execute("SELECT 1 FROM videos WHERE hash = ?", [video_hash]).fetchone():
                # The colliding file itself moved back: treat as a move of that row.
                row = db.execute("SELECT hash, path, missing, full_hash FROM videos WHERE hash = ?", [video_hash]).fetchone()
                self._move(folder_id, row, item, stats, restored=bool(row["missing"]))
                return
        self._add_new(folder_id, item, oshash, video_hash, new_full, stats, collided_with=live_others)

    def _add_new(self, folder_id: int, item: FoundFile, oshash: str, video_hash: str, full: str | None, stats: ScanStats, collided_with: list) -> None:
        try:
            info = probe(item.path)
        except ProbeError as exc:
            self._record_error(folder_id, item, str(exc), stats)
            return
        meta, problems = records.effective_meta(self.db, video_hash, item.path, self.config)
        now = now_iso()
        with write_transaction(self.db):
            self.db["videos"].insert(
                {
                    "hash": video_hash,
                    "oshash": oshash,
                    "full_hash": full,
                    "path": item.path,
                    "folder_id": folder_id,
                    "filename": os.path.basename(item.path),
                    "size": item.size,
                    "mtime": item.mtime,
                    "sidecar_mtime": item.sidecar_mtime,
                    "title": meta.get("title") or "",
                    "added_at": now,
                    "updated_at": now,
                    **info.as_dict(),
                },
                ignore=True,
            )
            if not self.db.execute("SELECT changes()").fetchone()[0]:
                # Another scanner (watcher job, manual rescan) indexed it a moment ago: keep
                # that row and everything attached to it.
                log.info("%s was indexed concurrently as %s; keeping that row", item.path, video_hash)
                return
            records.apply_meta(self.db, video_hash, meta)
            for cand in collided_with:
                self.db.execute(
                    "INSERT OR IGNORE INTO collisions (oshash, hash_a, path_a, hash_b, path_b, found_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [oshash, cand["hash"], cand["path"], video_hash, item.path, now],
                )
        for problem in problems:
            log.warning("%s: %s", item.path, problem)
        stats.new += 1
        stats.changed_hashes.append(video_hash)
        log.info("indexed %s as %s", item.path, video_hash)

    def _move(self, folder_id: int, row: Any, item: FoundFile, stats: ScanStats, restored: bool) -> None:
        old_path = row["path"]
        with write_transaction(self.db):
            self.db.execute(
                "UPDATE videos SET path = ?, folder_id = ?, filename = ?, size = ?, mtime = ?, missing = 0, missing_since = NULL, updated_at = ? WHERE hash = ?",
                [item.path, folder_id, os.path.basename(item.path), item.size, item.mtime, now_iso(), row["hash"]],
            )
        self._refresh_metadata(row["hash"], item, stats, count=False)
        if restored:
            stats.restored += 1
            log.info("restored %s at %s (was missing from %s)", row["hash"], item.path, old_path)
        else:
            stats.moved += 1
            log.info("moved %s: %s -> %s", row["hash"], old_path, item.path)
        stats.changed_hashes.append(row["hash"])

    def _add_duplicate(self, folder_id: int, cand: Any, item: FoundFile, stats: ScanStats) -> None:
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO duplicates (path, hash, folder_id, size, mtime, found_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, size = excluded.size, mtime = excluded.mtime",
                [item.path, cand["hash"], folder_id, item.size, item.mtime, now_iso()],
            )
        stats.duplicates += 1
        log.info("duplicate: %s has the same content as %s (video %s)", item.path, cand["path"], cand["hash"])

    def _refresh_metadata(self, video_hash: str, item: FoundFile, stats: ScanStats, count: bool = True) -> None:
        meta, problems = records.effective_meta(self.db, video_hash, item.path, self.config)
        with write_transaction(self.db):
            records.apply_meta(self.db, video_hash, meta)
            self.db.execute("UPDATE videos SET sidecar_mtime = ? WHERE hash = ?", [item.sidecar_mtime, video_hash])
        for problem in problems:
            log.warning("%s: %s", item.path, problem)
        if count:
            stats.updated += 1
            stats.changed_hashes.append(video_hash)

    # -- after the walk ------------------------------------------------------------------
    def _forget_unseen(self, folder_id: int, known_videos: dict, known_duplicates: dict, known_errors: dict, seen: set[str], stats: ScanStats) -> None:
        db = self.db
        gone_dups = sorted(known_duplicates.keys() - seen)
        gone_errors = sorted(known_errors.keys() - seen)
        with write_transaction(db):
            for path in gone_dups:
                db.execute("DELETE FROM duplicates WHERE path = ?", [path])
                log.info("duplicate copy %s is gone", path)
            for path in gone_errors:
                db.execute("DELETE FROM scan_errors WHERE path = ?", [path])
        for path in sorted(known_videos.keys() - seen):
            current = db.execute("SELECT hash FROM videos WHERE path = ? AND missing = 0", [path]).fetchone()
            if current is None:
                continue  # moved during this scan
            if os.path.exists(path):
                continue  # e.g. it became hidden or an extension was removed: leave it
            self._retire(current["hash"], path, stats)

    def _retire(self, video_hash: str, gone_path: str, stats: ScanStats) -> None:
        """The file of ``video_hash`` at ``gone_path`` is gone (deleted, or overwritten with
        other content): a duplicate copy that still holds the content takes over, otherwise
        the video is marked missing."""
        db = self.db
        oshash = db.execute("SELECT oshash FROM videos WHERE hash = ?", [video_hash]).fetchone()[0]
        spare = db.execute("SELECT path, folder_id, size, mtime FROM duplicates WHERE hash = ? ORDER BY found_at", [video_hash]).fetchall()
        spare = [s for s in spare if s["path"] != gone_path and self._still_holds(s["path"], oshash, stats)]
        with write_transaction(db):
            if spare:
                copy = spare[0]
                db.execute(
                    "UPDATE videos SET path = ?, folder_id = ?, filename = ?, size = ?, mtime = ?, updated_at = ? WHERE hash = ?",
                    [copy["path"], copy["folder_id"], os.path.basename(copy["path"]), copy["size"], copy["mtime"], now_iso(), video_hash],
                )
                db.execute("DELETE FROM duplicates WHERE path = ?", [copy["path"]])
                log.info("video %s: %s is gone, its duplicate %s takes over", video_hash, gone_path, copy["path"])
                stats.moved += 1
            else:
                db.execute("UPDATE videos SET missing = 1, missing_since = ? WHERE hash = ?", [now_iso(), video_hash])
                log.info("video %s is missing: %s is gone", video_hash, gone_path)
                stats.missing += 1
