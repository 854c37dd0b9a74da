"""Legacy library data: a library JSON file plus collection ``.txt`` files (docs/formats.md).

``import_legacy`` reads them into the database; ``export_library`` writes the same formats
back, so export -> import -> export gives identical files.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from vidlib.db import now_iso, write_transaction
from vidlib.library import metadata as md
from vidlib.library import records
from vidlib.library.hashing import is_valid_hash

log = logging.getLogger(__name__)

LIBRARY_FILE = "library.json"
FAVOURITES = "favourites"
FORMAT_NAME = "vidlib-library"
FORMAT_VERSION = 1


@dataclass
class ImportReport:
    videos_matched: int = 0
    videos_unmatched: list[str] = field(default_factory=list)
    favourites: int = 0
    collections: dict[str, int] = field(default_factory=dict)
    lines_unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        cols = ", ".join(f"{k}: {v}" for k, v in sorted(self.collections.items())) or "none"
        return (
            f"{self.videos_matched} videos matched, {len(self.videos_unmatched)} unmatched; "
            f"{self.favourites} favourites; collections: {cols}; {len(self.lines_unmatched)} collection lines unmatched"
        )


class _Resolver:
    """Finds a video by hash, full path or file name (a file name must be unambiguous)."""

    def __init__(self, db: sqlite_utils.Database):
        self.hashes = set()
        self.by_path: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = {}
        for row in db.execute("SELECT hash, path, filename FROM videos ORDER BY missing, added_at"):
            self.hashes.add(row["hash"])
            self.by_path.setdefault(row["path"], row["hash"])
            self.by_name.setdefault(row["filename"], []).append(row["hash"])
        for row in db.execute("SELECT path, hash FROM duplicates"):
            self.by_path.setdefault(row["path"], row["hash"])
            self.by_name.setdefault(os.path.basename(row["path"]), []).append(row["hash"])

    def resolve(self, ref: str) -> str | None:
        ref = ref.strip()
        if not ref:
            return None
        if is_valid_hash(ref.lower()) and ref.lower() in self.hashes:
            return ref.lower()
        if ref in self.by_path:
            return self.by_path[ref]
        candidates = set(self.by_name.get(os.path.basename(ref), []))
        if len(candidates) == 1:
            return candidates.pop()
        return None


def _truthy(value: Any) -> bool:
    """JSON true, 1, or a string like "true"/"yes"/"1" (a string "false" is false)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "y")
    return value is True or value == 1


def _entry_ref(entry: dict[str, Any]) -> list[str]:
    return [str(entry[k]) for k in ("hash", "path", "filename", "file") if entry.get(k)]


def _read_library_json(path: str) -> list[dict[str, Any]]:
    # utf-8-sig: files saved by Windows tools often start with a byte-order mark.
    with open(path, encoding="utf-8-sig") as fh:
        data = json.load(fh)
    if isinstance(data, dict):
        data = data.get("videos", [])
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ValueError(f"{path}: expected a list of video objects or {{\"videos\": [...]}}")
    return data


def _read_collection_txt(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as fh:
        return [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def import_legacy(db: sqlite_utils.Database, config: dict[str, Any], source: str) -> ImportReport:
    """Import a library JSON file, a collection ``.txt`` file, or a folder holding them."""
    report = ImportReport()
    if os.path.isdir(source):
        names = sorted(os.listdir(source))
        json_files = [os.path.join(source, n) for n in names if n.lower().endswith(".json")]
        txt_files = [os.path.join(source, n) for n in names if n.lower().endswith(".txt")]
    elif source.lower().endswith(".json"):
        json_files, txt_files = [source], []
    elif source.lower().endswith(".txt"):
        json_files, txt_files = [], [source]
    else:
        raise ValueError(f"{source}: expected a folder, a .json library file or a .txt collection file")
    resolver = _Resolver(db)
    for path in json_files:
        for entry in _read_library_json(path):
            video_hash = next((h for ref in _entry_ref(entry) if (h := resolver.resolve(ref))), None)
            if video_hash is None:
                report.videos_unmatched.append(" / ".join(_entry_ref(entry)) or json.dumps(entry)[:80])
                continue
            _import_entry(db, config, video_hash, entry)
            if _truthy(entry.get("favourite", entry.get("favorite"))):
                _add_favourite(db, video_hash)
                report.favourites += 1
            report.videos_matched += 1
    for path in txt_files:
        name = os.path.splitext(os.path.basename(path))[0]
        hashes = []
        for line in _read_collection_txt(path):
            video_hash = resolver.resolve(line)
            if video_hash is None:
                report.lines_unmatched.append(f"{os.path.basename(path)}: {line}")
            elif video_hash not in hashes:
                hashes.append(video_hash)
        if name.lower() in (FAVOURITES, "favorites"):
            for video_hash in hashes:
                _add_favourite(db, video_hash)
            report.favourites += len(hashes)
        else:
            _set_collection(db, name, hashes)
            report.collections[name] = len(hashes)
    for unmatched in report.videos_unmatched + report.lines_unmatched:
        log.warning("legacy import: no video matches %s", unmatched)
    log.info("legacy import from %s: %s", source, report.summary())
    return report


def _import_entry(db: sqlite_utils.Database, config: dict[str, Any], video_hash: str, entry: dict[str, Any]) -> None:
    meta = md.meta_from_mapping(entry)
    row = db.execute("SELECT path FROM videos WHERE hash = ?", [video_hash]).fetchone()
    with write_transaction(db):
        db.execute(
            "INSERT INTO legacy_metadata (hash, data, imported_at) VALUES (?, ?, ?) "
            "ON CONFLICT(hash) DO UPDATE SET data = excluded.data, imported_at = excluded.imported_at",
            [video_hash, json.dumps(meta, ensure_ascii=False), now_iso()],
        )
        effective, _ = records.effective_meta(db, video_hash, row["path"], config)
        records.apply_meta(db, video_hash, effective)
        if entry.get("added_at"):
            db.execute("UPDATE videos SET added_at = ? WHERE hash = ?", [str(entry["added_at"]), video_hash])


def _add_favourite(db: sqlite_utils.Database, video_hash: str) -> None:
    with write_transaction(db):
        db.execute("INSERT OR IGNORE INTO favourites (hash, added_at) VALUES (?, ?)", [video_hash, now_iso()])


def _set_collection(db: sqlite_utils.Database, name: str, hashes: list[str]) -> None:
    """Replace the collection's contents with ``hashes`` in that order."""
    with write_transaction(db):
        db.execute("INSERT OR IGNORE INTO collections (name) VALUES (?)", [name])
        collection_id = db.execute("SELECT id FROM collections WHERE name = ?", [name]).fetchone()[0]
        db.execute("DELETE FROM collection_items WHERE collection_id = ?", [collection_id])
        for position, video_hash in enumerate(hashes):
            db.execute("INSERT INTO collection_items (collection_id, hash, position) VALUES (?, ?, ?)", [collection_id, video_hash, position])


def export_library(db: sqlite_utils.Database, target_dir: str) -> dict[str, int]:
    """Write ``library.json``, ``favourites.txt`` and one ``<collection>.txt`` per collection."""
    from vidlib.library.videos import load_videos

    os.makedirs(target_dir, exist_ok=True)
    hashes = [r[0] for r in db.execute("SELECT hash FROM videos ORDER BY path, hash")]
    videos = []
    for video in load_videos(db, hashes):
        videos.append(
            {
                "hash": video["hash"],
                "path": video["path"],
                "filename": video["filename"],
                "title": video["title"],
                "studio": video["studio"],
                "performers": video["performers"],
                "categories": video["categories"],
                "date": video["date"],
                "description": video["description"],
                "favourite": video["favourite"],
                "added_at": video["added_at"],
                "missing": video["missing"],
            }
        )
    _write_atomic(
        os.path.join(target_dir, LIBRARY_FILE),
        json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "videos": videos}, ensure_ascii=False, indent=2) + "\n",
    )
    favourites = [r[0] for r in db.execute("SELECT hash FROM favourites ORDER BY hash")]
    _write_atomic(os.path.join(target_dir, f"{FAVOURITES}.txt"), _collection_text(FAVOURITES, favourites))
    counts = {"videos": len(videos), FAVOURITES: len(favourites)}
    for collection in db.execute("SELECT id, name FROM collections ORDER BY name").fetchall():
        items = [r[0] for r in db.execute("SELECT hash FROM collection_items WHERE collection_id = ? ORDER BY position", [collection["id"]])]
        safe = collection["name"].replace(os.sep, "_").replace("\0", "_")
        _write_atomic(os.path.join(target_dir, f"{safe}.txt"), _collection_text(collection["name"], items))
        counts[collection["name"]] = len(items)
    return counts


def _collection_text(name: str, hashes: list[str]) -> str:
    return f"# vidlib collection: {name} (one video per line: hash, path or file name)\n" + "".join(h + "\n" for h in hashes)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
