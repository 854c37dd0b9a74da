"""Similar videos, performers and studios from the TF-IDF index, with content filters applied."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from vidlib.errors import NotFound
from vidlib.filters import visible_sql
from vidlib.library.videos import load_videos, visible_hashes, visible_name_counts
from vidlib.search.tfidf import SimilarityIndex, fold


def _visible(db: sqlite_utils.Database, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    import json

    rows = db.execute(f"SELECT v.hash FROM videos v WHERE v.hash IN (SELECT value FROM json_each(?)) AND {visible_sql('v')}", [json.dumps(hashes)])
    return {r[0] for r in rows}


def similar_videos(db: sqlite_utils.Database, index: SimilarityIndex, video_hash: str, start_from: int, limit: int) -> dict[str, Any]:
    """Neighbours ``start_from .. start_from+limit`` of a visible video, hidden ones skipped."""
    want = start_from + limit + 1
    visible_ints = visible_hashes(db)
    allowed = index.rows_of(visible_ints) if visible_ints is not None else None
    if allowed is not None:
        # Which rows are visible, per process until the visible set changes: no statement.
        shown = index.neighbours(video_hash, want, allowed)
    else:
        fetch = max(want * 2, 64)
        while True:
            ranked = index.neighbours(video_hash, fetch)
            visible = _visible(db, [h for h, _ in ranked])
            shown = [(h, s) for h, s in ranked if h in visible]
            if len(shown) >= want or len(ranked) < fetch:
                break
            fetch *= 4
    window = shown[start_from : start_from + limit]
    scores = dict(window)
    items = load_videos(db, [h for h, _ in window])
    for item in items:
        item["score"] = round(scores[item["hash"]], 6)
    return {"items": items, "start_from": start_from, "limit": limit, "has_more": len(shown) > start_from + limit}


def _visible_counts(db: sqlite_utils.Database, kind: str, names: list[str]) -> dict[str, int]:
    """Visible video counts of those of ``names`` that have any (casefolded name -> count), from
    the per-process counts of every name (the same as the by-count listings show)."""
    import json

    counts = visible_name_counts(db, kind)
    rows = db.execute(f"SELECT id, name FROM {kind} WHERE name IN (SELECT value FROM json_each(?))", [json.dumps(names)])
    return {name.casefold(): counts[name_id] for name_id, name in rows if counts.get(name_id, 0) > 0}


def _visible_names(db: sqlite_utils.Database, kind: str, names: list[str]) -> set[str]:
    """The (casefolded) names of ``names`` with at least one visible video."""
    return set(_visible_counts(db, kind, names))


def similar_names(db: sqlite_utils.Database, index: SimilarityIndex, kind: str, name: str, limit: int) -> dict[str, Any]:
    """Performers (or studios) most similar to ``name``; each with a score and its visible video count."""
    label = kind[:-1]
    own = _visible_names(db, kind, [name])
    group = index.groups[kind]
    if name.casefold() not in own or group.position.get(fold(name)) is None:
        raise NotFound(f"no {label} called {name!r}")
    fetch = limit * 2 + 8
    while True:
        ranked = group.similar(name, fetch) or []
        visible = _visible_names(db, kind, [n for n, _ in ranked])
        shown = [(n, s) for n, s in ranked if n.casefold() in visible]
        if len(shown) >= limit or len(ranked) < fetch:
            break
        fetch *= 4
    shown = shown[:limit]
    counts = _visible_counts(db, kind, [n for n, _ in shown])  # only for the names shown
    canonical = group.names[group.position[fold(name)]]
    return {"name": canonical, "items": [{"name": n, "score": round(s, 6), "count": counts.get(n.casefold(), 0)} for n, s in shown]}
