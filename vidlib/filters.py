"""Site-wide content filters: SQL that hides a studio, category or performer everywhere.

Every listing, random pick and count goes through :func:`visible_sql`, so a filter added on
the dashboard applies to all of them at once.
"""

from __future__ import annotations

import sqlite_utils

from vidlib.db import now_iso, write_transaction

KINDS = ("studio", "category", "performer")


def visible_sql(alias: str = "v") -> str:
    """A WHERE fragment true for videos that are present and not hidden by any content filter.

    ``videos.hidden`` is kept true by triggers (migration m003) whenever a filter, a video's
    studio or its performer/category links change, so the test costs two column reads. The
    unary ``+`` keeps SQLite from driving a join with the visibility index: where the rows come
    from full-text matches, names or a list of hashes, scanning 100,000 visible videos instead
    would be ruinous. Listings over the whole table use :func:`listing_visible_sql`.
    """
    return f"(+{alias}.missing = 0 AND +{alias}.hidden = 0)"


def listing_visible_sql(alias: str = "v") -> str:
    """The visibility test in a form the ``(missing, hidden, ...)`` indexes can serve.

    For statements whose rows come from the videos table itself (newest, A–Z, random picks,
    counts of the whole library).
    """
    return f"({alias}.missing = 0 AND {alias}.hidden = 0)"


def list_filters(db: sqlite_utils.Database) -> list[dict]:
    """Every content filter, oldest first."""
    return [dict(r) for r in db.execute("SELECT id, kind, value, added_at FROM content_filters ORDER BY id")]


def add_filter(db: sqlite_utils.Database, kind: str, value: str) -> dict:
    """Hide ``value`` of ``kind`` everywhere (idempotent); returns the filter row."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    value = " ".join(value.split())
    if not value:
        raise ValueError("value must not be empty")
    with write_transaction(db):
        db.execute("INSERT OR IGNORE INTO content_filters (kind, value, added_at) VALUES (?, ?, ?)", [kind, value, now_iso()])
    return dict(db.execute("SELECT id, kind, value, added_at FROM content_filters WHERE kind = ? AND value = ?", [kind, value]).fetchone())


def remove_filter(db: sqlite_utils.Database, filter_id: int) -> bool:
    """Remove a filter; False if there was none with that id."""
    with write_transaction(db):
        return db.execute("DELETE FROM content_filters WHERE id = ?", [filter_id]).rowcount > 0
