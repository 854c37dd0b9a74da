"""Library-wide counts, for `flask stats` and `/api/stats`."""

from __future__ import annotations

import sqlite_utils


def library_stats(db: sqlite_utils.Database) -> dict:
    """Counts of videos, names, favourites and problems, plus total size and duration."""
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "videos": one("SELECT COUNT(*) FROM videos WHERE missing = 0"),
        "missing": one("SELECT COUNT(*) FROM videos WHERE missing = 1"),
        "folders": one("SELECT COUNT(*) FROM folders"),
        "performers": one("SELECT COUNT(DISTINCT performer_id) FROM video_performers"),
        "studios": one("SELECT COUNT(DISTINCT studio_id) FROM videos WHERE studio_id IS NOT NULL"),
        "categories": one("SELECT COUNT(DISTINCT category_id) FROM video_categories"),
        "favourites": one("SELECT COUNT(*) FROM favourites"),
        "duplicates": one("SELECT COUNT(*) FROM duplicates"),
        "collisions": one("SELECT COUNT(*) FROM collisions"),
        "scan_errors": one("SELECT COUNT(*) FROM scan_errors"),
        "total_bytes": one("SELECT COALESCE(SUM(size), 0) FROM videos WHERE missing = 0"),
        "total_duration": float(one("SELECT COALESCE(SUM(duration), 0) FROM videos WHERE missing = 0")),
    }
