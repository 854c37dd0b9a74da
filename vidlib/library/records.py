"""Writing a video's descriptive metadata (title, studio, performers, categories) to the database."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from vidlib.db import get_or_create_name, now_iso
from vidlib.library import metadata as md


def legacy_meta(db: sqlite_utils.Database, video_hash: str) -> md.Meta:
    """Metadata imported from a legacy library file for this video, or ``{}``."""
    row = db.execute("SELECT data FROM legacy_metadata WHERE hash = ?", [video_hash]).fetchone()
    return md.meta_from_mapping(json.loads(row[0])) if row else {}


def apply_meta(db: sqlite_utils.Database, video_hash: str, meta: md.Meta) -> None:
    """Store merged metadata on the video row and its name link tables (inside a transaction)."""
    studio_id = get_or_create_name(db, "studios", meta["studio"]) if meta.get("studio") else None
    db.execute(
        "UPDATE videos SET title = ?, studio_id = ?, date = ?, description = ?, updated_at = ? WHERE hash = ?",
        [meta.get("title") or "", studio_id, meta.get("date"), meta.get("description"), now_iso(), video_hash],
    )
    for table, link, column in (("performers", "video_performers", "performer_id"), ("categories", "video_categories", "category_id")):
        db.execute(f"DELETE FROM {link} WHERE hash = ?", [video_hash])
        for position, name in enumerate(meta.get(table) or []):
            name_id = get_or_create_name(db, table, name)
            db.execute(
                f"INSERT OR IGNORE INTO {link} (hash, {column}, position) VALUES (?, ?, ?)",
                [video_hash, name_id, position],
            )


def effective_meta(db: sqlite_utils.Database, video_hash: str, path: str, config: dict[str, Any]) -> tuple[md.Meta, list[str]]:
    """File name + sidecars + legacy data for ``path``, later sources overriding earlier ones."""
    meta, problems = md.read_all(path, config["FILENAME_PATTERN"], config["PERFORMER_SEPARATORS"])
    legacy = legacy_meta(db, video_hash)
    if legacy:
        meta = md.merge(meta, legacy)
    return meta, problems


def video_names(db: sqlite_utils.Database, hashes: list[str]) -> dict[str, dict[str, list[str]]]:
    """Performers and categories for many videos at once: ``{hash: {"performers": [...], ...}}``."""
    result: dict[str, dict[str, list[str]]] = {h: {"performers": [], "categories": []} for h in hashes}
    if not hashes:
        return result
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for key, link, table, column in (
            ("performers", "video_performers", "performers", "performer_id"),
            ("categories", "video_categories", "categories", "category_id"),
        ):
            rows = db.execute(
                f"SELECT l.hash, n.name FROM {link} l JOIN {table} n ON n.id = l.{column} "
                f"WHERE l.hash IN ({marks}) ORDER BY l.hash, l.position",
                chunk,
            )
            for video_hash, name in rows:
                result[video_hash][key].append(name)
    return result
