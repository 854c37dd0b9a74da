"""Library folders: validation when adding, and listing."""

from __future__ import annotations

import functools
import os
import stat
from typing import Any

import sqlite_utils

from vidlib.db import now_iso, write_transaction
from vidlib.errors import Conflict, NotFound, VidlibError


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def allowed_roots(config: dict[str, Any]) -> list[str]:
    """The real paths of FOLDER_ROOTS (empty: any folder may be added)."""
    return [os.path.realpath(os.path.expanduser(root)) for root in config.get("FOLDER_ROOTS") or []]


def inside_roots(config: dict[str, Any], real: str) -> bool:
    """True when the resolved path ``real`` lies inside FOLDER_ROOTS (always, when none are set)."""
    roots = allowed_roots(config)
    return not roots or any(_inside(real, root) for root in roots)


# A library folder's or root's resolved path, kept per process (a byte-range request would
# otherwise resolve every folder again). Stale only in the safe direction: a folder replaced by
# a symlink afterwards resolves its files elsewhere, outside the kept path, and they are refused.
_real_dir = functools.lru_cache(maxsize=1024)(lambda path: os.path.realpath(os.path.expanduser(path)).rstrip(os.sep) + os.sep)


# A video file's resolved path, kept per process under the identity (device, inode) of the
# file ``os.stat`` finds there now: a path that leads to another file since (a directory on the
# way replaced by a symlink, the file by a link to elsewhere) is another key, resolved again.
# Only the very file that was inside a library folder when first served keeps its answer.
_real_file = functools.lru_cache(maxsize=4096)(lambda path, device, inode: os.path.realpath(path))


def serving_allowed(db: sqlite_utils.Database, config: dict[str, Any], path: str, st: os.stat_result | None = None) -> bool:
    """True when ``path``, symlinks resolved, is inside a library folder (and FOLDER_ROOTS);
    ``st``: ``os.stat(path)``, taken just before (its resolved path is then kept)."""
    real = _real_file(path, st.st_dev, st.st_ino) if st is not None else os.path.realpath(path)
    roots = config.get("FOLDER_ROOTS")
    if roots and not any(real.startswith(_real_dir(root)) for root in roots):
        return False
    return any(real.startswith(_real_dir(folder)) for (folder,) in db.execute("SELECT path FROM folders"))


def servable_file(db: sqlite_utils.Database, config: dict[str, Any], path: str) -> os.stat_result | None:
    """``os.stat`` of ``path`` when it is a regular file inside a library folder (symlinks
    resolved), else None: the one check before any video file's bytes are sent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or not serving_allowed(db, config, path, st):
        return None
    return st


def validate_folder(db: sqlite_utils.Database, config: dict[str, Any], path: str) -> str:
    """Return the canonical path of a folder that may be added, or raise a clear error."""
    if not isinstance(path, str) or not path.strip():
        raise VidlibError("path must be a non-empty string")
    if "\0" in path:
        raise VidlibError("path must not contain NUL bytes")
    expanded = os.path.expanduser(path.strip())
    if not os.path.isabs(expanded):
        raise VidlibError(f"path must be absolute: {path}")
    real = os.path.realpath(expanded)
    if not os.path.exists(real):
        raise VidlibError(f"folder does not exist: {path}")
    if not os.path.isdir(real):
        raise VidlibError(f"not a folder: {path}")
    if not os.access(real, os.R_OK | os.X_OK):
        raise VidlibError(f"folder is not readable: {path}")
    if not inside_roots(config, real):
        raise VidlibError(f"folder is outside the allowed roots (VIDLIB_FOLDER_ROOTS: {', '.join(allowed_roots(config))}): {path}")
    for name, special in (("data", config["DATA_DIR"]), ("media", config["MEDIA_DIR"])):
        special_real = os.path.realpath(special)
        if _inside(real, special_real):
            raise VidlibError(f"the {name} dir or a folder inside it cannot be a library folder: {path}")
        if _inside(special_real, real):
            raise VidlibError(f"folder contains vidlib's {name} dir ({special}); move that dir out first or pick another folder")
    for row in db.execute("SELECT path FROM folders"):
        existing = row[0]
        if real == existing:
            raise Conflict(f"folder is already in the library: {path}")
        if _inside(real, existing):
            raise Conflict(f"folder is inside library folder {existing}")
        if _inside(existing, real):
            raise Conflict(f"folder contains library folder {existing}; remove that one first")
    return real


def add_folder(db: sqlite_utils.Database, config: dict[str, Any], path: str) -> dict:
    """Validate and add a library folder; returns its row."""
    real = validate_folder(db, config, path)
    with write_transaction(db):
        folder_id = db.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", [real, now_iso()]).lastrowid
    return get_folder(db, folder_id)


def get_folder(db: sqlite_utils.Database, folder_id: int) -> dict:
    """One folder with its video count; ``NotFound`` if unknown."""
    row = db.execute(
        "SELECT f.id, f.path, f.added_at, f.last_scan_at, f.force_polling, "
        "(SELECT COUNT(*) FROM videos v WHERE v.folder_id = f.id AND v.missing = 0) AS video_count "
        "FROM folders f WHERE f.id = ?",
        [folder_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"no library folder with id {folder_id}")
    data = dict(row)
    data["force_polling"] = bool(data["force_polling"])
    data["reachable"] = os.path.isdir(data["path"])
    return data


def list_folders(db: sqlite_utils.Database) -> list[dict]:
    """Every library folder with its video count."""
    return [get_folder(db, row[0]) for row in db.execute("SELECT id FROM folders ORDER BY path")]


def remove_folder(db: sqlite_utils.Database, folder_id: int) -> None:
    """Remove a folder from the library; its videos are marked missing (nothing is deleted).

    A video with a duplicate copy in another library folder stays present: the copy takes
    over, as when the file itself is deleted (the next scan of that folder checks the copy).
    """
    get_folder(db, folder_id)
    with write_transaction(db):
        db.execute("DELETE FROM duplicates WHERE folder_id = ?", [folder_id])
        for (video_hash,) in db.execute("SELECT hash FROM videos WHERE folder_id = ? AND missing = 0", [folder_id]).fetchall():
            copy = db.execute("SELECT path, folder_id, size, mtime FROM duplicates WHERE hash = ? ORDER BY found_at LIMIT 1", [video_hash]).fetchone()
            if copy is None:
                continue
            db.execute(
                "UPDATE videos SET path = ?, folder_id = ?, filename = ?, size = ?, mtime = ?, updated_at = ? WHERE hash = ?",
                [copy["path"], copy["folder_id"], os.path.basename(copy["path"]), copy["size"], copy["mtime"], now_iso(), video_hash],
            )
            db.execute("DELETE FROM duplicates WHERE path = ?", [copy["path"]])
        db.execute("UPDATE videos SET missing = 1, missing_since = ? WHERE folder_id = ? AND missing = 0", [now_iso(), folder_id])
        db.execute("DELETE FROM folders WHERE id = ?", [folder_id])
