"""Site-wide content filters: SQL that hides a studio, category or performer everywhere.

Every listing, random pick and count goes through :func:`visible_sql`, so a filter added on
the dashboard applies to all of them at once.
"""

from __future__ import annotations

import sqlite_utils

from vidlib.db import now_iso, write_transaction

KINDS = ("studio", "category", "performer")


def visible_sql(alias: str = "v") -> str:
    """A WHERE fragment true for videos that are present and not hidden by any filter."""
    return f"""(
        {alias}.missing = 0
        AND NOT EXISTS (
            SELECT 1 FROM content_filters cf JOIN studios s ON s.name = cf.value
            WHERE cf.kind = 'studio' AND s.id = {alias}.studio_id)
        AND NOT EXISTS (
            SELECT 1 FROM video_performers vp JOIN performers p ON p.id = vp.performer_id
            JOIN content_filters cf ON cf.kind = 'performer' AND cf.value = p.name
            WHERE vp.hash = {alias}.hash)
        AND NOT EXISTS (
            SELECT 1 FROM video_categories vc JOIN categories c ON c.id = vc.category_id
            JOIN content_filters cf ON cf.kind = 'category' AND cf.value = c.name
            WHERE vc.hash = {alias}.hash)
    )"""


def visible_set_sql(alias: str = "v") -> str:
    """The same rule as :func:`visible_sql` (keep the two in step), for statements that test many rows.

    The rowids of the videos a filter hides are collected once per statement from the
    link-table indexes, then each row costs one lookup in that set instead of three correlated
    subqueries. Counting tens of thousands of search matches is several times faster this way;
    for a handful of rows while filters hide many videos, :func:`visible_sql` is cheaper.
    """
    return f"""(
        {alias}.missing = 0
        AND {alias}.rowid NOT IN (
            SELECT hv.rowid FROM content_filters cf JOIN studios s ON s.name = cf.value
            JOIN videos hv ON hv.studio_id = s.id
            WHERE cf.kind = 'studio'
            UNION ALL
            SELECT hv.rowid FROM content_filters cf JOIN performers p ON cf.value = p.name
            JOIN video_performers vp ON vp.performer_id = p.id JOIN videos hv ON hv.hash = vp.hash
            WHERE cf.kind = 'performer'
            UNION ALL
            SELECT hv.rowid FROM content_filters cf JOIN categories c ON cf.value = c.name
            JOIN video_categories vc ON vc.category_id = c.id JOIN videos hv ON hv.hash = vc.hash
            WHERE cf.kind = 'category')
    )"""


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
