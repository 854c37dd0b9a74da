"""Keyword search: FTS5 candidates (bm25), TF-IDF cosine rerank, filters, sorting, facets.

Relevance blend (docs/search.md): for the candidates of a query,

    score = (1 - w) * bm25 / best_bm25  +  w * cosine(query, profile)

where ``w`` is SEARCH_RERANK_WEIGHT (0.5). bm25 (column weights title 4, studio 2,
performers 3, categories 2, description 0.5, file name 1) says how well the words match;
the cosine against the video's TF-IDF profile favours videos whose profile is *about* the
query words rather than merely mentioning them once.

User text never reaches FTS5 unquoted: every word becomes a quoted phrase (the last one a
prefix for type-ahead), unless ``raw`` mode is asked for explicitly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import sqlite_utils

from vidlib.errors import VidlibError
from vidlib.filters import listing_visible_sql, visible_sql
from vidlib.library.videos import load_videos
from vidlib.search.spelling import Speller
from vidlib.search.tfidf import SimilarityIndex, fold

log = logging.getLogger(__name__)

MAX_QUERY_WORDS = 32
SORTS = ("relevance", "newest", "oldest", "longest", "shortest", "title", "random")
_TOKEN = re.compile(r"[^\W_]+")
FACET_LIMIT = 20


@dataclass
class SearchRequest:
    q: str = ""
    raw: bool = False
    studios: list[str] = field(default_factory=list)
    performers: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    favourites: bool = False
    min_duration: float | None = None
    max_duration: float | None = None
    min_height: int | None = None
    added_since: str | None = None
    sort: str | None = None
    seed: int = 0
    page: int = 1
    per_page: int = 48
    facets: bool = False


def query_words(text: str) -> list[str]:
    """The words of user text as FTS5 tokenizes them (at most MAX_QUERY_WORDS)."""
    return _TOKEN.findall(text)[:MAX_QUERY_WORDS]


def _phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(words: list[str], alternatives: dict[int, list[str]] | None = None, prefix_last: bool = True, any_word: bool = False) -> str:
    """A safe FTS5 query: each word a quoted phrase, typo alternatives OR-ed in, last word a prefix."""
    parts = []
    for i, word in enumerate(words):
        term = _phrase(word) + ("*" if prefix_last and i == len(words) - 1 else "")
        alts = (alternatives or {}).get(i)
        if alts:
            term = "(" + " OR ".join([term] + [_phrase(a) for a in alts]) + ")"
        parts.append(term)
    return (" OR " if any_word else " AND ").join(parts)


def _speller(index: SimilarityIndex | None) -> Speller | None:
    if index is None:
        return None
    speller = getattr(index, "_speller", None)
    if speller is None:
        vocab = index.vectorizer.vocabulary_
        idf = index.vectorizer.idf_
        words = index.vocabulary_words
        speller = Speller(words, {w: -float(idf[vocab[w]]) for w in words})
        index._speller = speller  # built once per loaded index
    return speller


def _filter_sql(req: SearchRequest, many: bool = False) -> tuple[str, list[Any]]:
    # A listing reads the videos table itself: the indexable visibility test; a candidate list
    # comes from FTS matches, which must drive the join (vidlib/filters.py).
    clauses = [listing_visible_sql("v") if many else visible_sql("v")]
    params: list[Any] = []
    name_clauses, name_params = _name_clauses(req)
    clauses += name_clauses
    params += name_params
    if req.min_duration is not None:
        clauses.append("v.duration >= ?")
        params.append(req.min_duration)
    if req.max_duration is not None:
        clauses.append("v.duration <= ?")
        params.append(req.max_duration)
    if req.min_height is not None:
        clauses.append("v.height >= ?")
        params.append(req.min_height)
    if req.added_since:
        clauses.append("v.added_at >= ?")
        params.append(req.added_since)
    return " AND ".join(clauses), params


def _has_narrowing_filters(req: SearchRequest) -> bool:
    return bool(req.studios or req.performers or req.categories or req.favourites or req.min_duration is not None or req.max_duration is not None or req.min_height is not None or req.added_since)


_SQL_ORDER = {
    "newest": "v.added_at DESC, v.hash",
    "oldest": "v.added_at ASC, v.hash",
    "longest": "v.duration DESC, v.hash",
    "shortest": "v.duration ASC, v.hash",
    "title": "v.title COLLATE NOCASE, v.hash",
}


def _seeded_key(seed: int):
    prefix = f"{seed}:".encode()
    return lambda h: hashlib.blake2b(prefix + h.encode(), digest_size=8).digest()


def _facets(db: sqlite_utils.Database, hashes_json: str | None, where: str, params: list[Any]) -> dict[str, list[dict]]:
    """Counts of studios, performers and categories among the matches."""
    if hashes_json is not None:
        scope, scope_params = "v.hash IN (SELECT value FROM json_each(?))", [hashes_json]
    else:
        scope, scope_params = where, params
    queries = {
        "studios": "SELECT s.name AS name, COUNT(*) AS count FROM videos v JOIN studios s ON s.id = v.studio_id WHERE {scope} GROUP BY s.id",
        "performers": "SELECT p.name AS name, COUNT(*) AS count FROM videos v JOIN video_performers vp ON vp.hash = v.hash JOIN performers p ON p.id = vp.performer_id WHERE {scope} GROUP BY p.id",
        "categories": "SELECT c.name AS name, COUNT(*) AS count FROM videos v JOIN video_categories vc ON vc.hash = v.hash JOIN categories c ON c.id = vc.category_id WHERE {scope} GROUP BY c.id",
    }
    result = {}
    for key, sql in queries.items():
        rows = db.execute(sql.format(scope=scope) + " ORDER BY count DESC, name COLLATE NOCASE LIMIT ?", scope_params + [FACET_LIMIT])
        result[key] = [dict(r) for r in rows]
    return result


def search(db: sqlite_utils.Database, config: dict[str, Any], index: SimilarityIndex | None, req: SearchRequest) -> dict[str, Any]:
    """Run one search; returns ``{items, total, page, per_page, sort, corrected, facets}``."""
    where, params = _filter_sql(req)
    words = [] if req.raw else query_words(req.q)
    sort = req.sort or ("relevance" if (words or (req.raw and req.q.strip())) else "newest")
    offset = (req.page - 1) * req.per_page
    corrected: list[str] = []
    result: dict[str, Any] = {"page": req.page, "per_page": req.per_page, "sort": sort, "corrected": None, "facets": None}

    if not words and not (req.raw and req.q.strip()):
        # No text: a filtered listing straight from SQL.
        where, params = _filter_sql(req, many=True)
        if sort == "relevance":
            sort = result["sort"] = "newest"
        total = db.execute(f"SELECT COUNT(*) FROM videos v WHERE {where}", params).fetchone()[0]
        if sort == "random":
            hashes = sorted((r[0] for r in db.execute(f"SELECT v.hash FROM videos v WHERE {where}", params)), key=_seeded_key(req.seed))
            page_hashes = hashes[offset : offset + req.per_page]
        else:
            rows = db.execute(f"SELECT v.hash FROM videos v WHERE {where} ORDER BY {_SQL_ORDER[sort]} LIMIT ? OFFSET ?", params + [req.per_page, offset])
            page_hashes = [r[0] for r in rows]
        result.update(total=total, items=_with_scores(db, page_hashes, {}))
        if req.facets:
            result["facets"] = _facets(db, None, where, params)
        return result

    # The best SEARCH_CANDIDATES matches are reranked; a page deeper than that widens the
    # pool so every match counted in the total can be paged to.
    limit = max(config["SEARCH_CANDIDATES"], offset + req.per_page)
    if req.raw:
        match = req.q
    else:
        match = fts_query(words)
    candidates, total = _candidates(db, match, req, where, params, limit)
    if not candidates and not req.raw:
        speller = _speller(index)
        alternatives: dict[int, list[str]] = {}
        if speller is not None:
            for i, word in enumerate(words):
                fixes = speller.corrections(fold(word))[:3]
                if fixes:
                    alternatives[i] = fixes
                    corrected.append(fixes[0])
                else:
                    corrected.append(word)
        if alternatives:
            candidates, total = _candidates(db, fts_query(words, alternatives, prefix_last=False), req, where, params, limit)
            if candidates:
                result["corrected"] = " ".join(corrected)
        if not candidates and len(words) > 1:
            # Nothing has every word: fall back to any word (bm25 still prefers more matches).
            candidates, total = _candidates(db, fts_query(words, alternatives, any_word=True), req, where, params, limit)
    scores = _relevance(candidates, index, result["corrected"] or req.q, config["SEARCH_RERANK_WEIGHT"])
    if sort == "relevance":
        # Best score first, ties by hash: two stable sorts on plain keys (no tuple per candidate,
        # which keeps a thousand-candidate search from feeding the cyclic garbage collector).
        hashes = sorted(c["hash"] for c in candidates)
        hashes.sort(key=lambda h: -scores[h])
    elif sort == "random":
        hashes = sorted((c["hash"] for c in candidates), key=_seeded_key(req.seed))
    else:
        key, reverse = {
            "newest": (lambda c: c["added_at"], True),
            "oldest": (lambda c: c["added_at"], False),
            "longest": (lambda c: c["duration"] or 0, True),
            "shortest": (lambda c: c["duration"] or 0, False),
            "title": (lambda c: fold(c["title"]), False),
        }[sort]
        hashes = [c["hash"] for c in sorted(sorted(candidates, key=lambda c: c["hash"]), key=key, reverse=reverse)]
    result.update(total=total, items=_with_scores(db, hashes[offset : offset + req.per_page], scores))
    if req.facets:
        result["facets"] = _facets(db, json.dumps(hashes), where, params)
    return result


_FTS5_QUERY_ERRORS = ("fts5", "syntax", "no such column", "unknown special query", "unterminated string", "expected integer")


def _candidates(db: sqlite_utils.Database, match: str, req: SearchRequest, where: str, params: list[Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The best ``limit`` visible matches by bm25 (ties by hash), and the exact number of visible matches.

    FTS5 computes bm25 only for the rows whose ``rank`` is read, and iterating matches without
    it is cheap; every plan below is shaped by that.
    """
    try:
        if _has_narrowing_filters(req):
            return _filtered_candidates(db, match, req, where, params, limit)
        return _ranked_candidates(db, match, where, params, limit)
    except sqlite3.OperationalError as exc:
        message = str(exc)
        # FTS5's query-parser errors (only a raw query can cause them); not all say "fts5".
        if any(part in message for part in _FTS5_QUERY_ERRORS):
            raise VidlibError(f"invalid raw search query: {message}") from None
        raise


def _ranked_candidates(db: sqlite_utils.Database, match: str, where: str, params: list[Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """No narrowing filters: let FTS5 rank and cut first, then keep the visible rows of the cut.

    Hidden videos inside the cut are replaced by the next matches (a bigger cut) so that up to
    ``limit`` visible matches are returned. The total is free when the cut held every match;
    otherwise it is counted.
    """
    # FTS5 ranks every match whatever the LIMIT, so a second round costs as much as the first:
    # take some slack for hidden videos up front, and size a second round by the hidden share seen.
    # Rows are consumed as they come (no fetchall) and sorted on plain keys, so the thousand
    # rows of a search are not all alive at once as tracked objects (fewer full GC passes).
    fetch = limit + limit // 8 + 16
    while True:
        rank_of = {rowid: rank for rowid, rank in db.execute("SELECT rowid, rank FROM video_fts WHERE video_fts MATCH ? ORDER BY rank LIMIT ?", [match, fetch])}
        found = [
            {"hash": video_hash, "rank": rank_of[rowid], "added_at": added_at, "duration": duration, "title": title}
            for rowid, video_hash, added_at, duration, title in db.execute(
                f"SELECT v.rowid, v.hash, v.added_at, v.duration, v.title FROM videos v WHERE v.rowid IN (SELECT value FROM json_each(?)) AND {where}",
                [json.dumps(sorted(rank_of))] + params,
            )
        ]
        exhausted = len(rank_of) < fetch
        if exhausted or len(found) >= limit:
            break
        shown = max(len(found), 1) / len(rank_of)
        fetch = len(rank_of) + int((limit - len(found)) / shown * 1.25) + 16
    found.sort(key=itemgetter("hash"))
    found.sort(key=itemgetter("rank"))  # stable: ties stay in hash order
    candidates = found[:limit]
    if exhausted:
        return candidates, len(found)
    # Without narrowing filters ``where`` is exactly visibility.
    total = db.execute(
        f"SELECT COUNT(*) FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ? AND {visible_sql('v')}",
        [match],
    ).fetchone()[0]
    return candidates, total


def _name_clauses(req: SearchRequest) -> tuple[list[str], list[Any]]:
    """The studio / performer / category / favourite conditions of a request, on ``videos v``.

    Written as ``IN (subquery)`` so SQLite can drive them from the link-table indexes.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if req.studios:
        clauses.append(f"v.studio_id IN (SELECT id FROM studios WHERE name IN ({','.join('?' * len(req.studios))}))")
        params += req.studios
    for name in req.performers:
        clauses.append("v.hash IN (SELECT vp.hash FROM video_performers vp JOIN performers p ON p.id = vp.performer_id WHERE p.name = ?)")
        params.append(name)
    for name in req.categories:
        clauses.append("v.hash IN (SELECT vc.hash FROM video_categories vc JOIN categories c ON c.id = vc.category_id WHERE c.name = ?)")
        params.append(name)
    if req.favourites:
        clauses.append("v.hash IN (SELECT f.hash FROM favourites f)")
    return clauses, params


def _name_filters_sql(req: SearchRequest) -> tuple[str, list[Any]] | None:
    """The rowids of videos passing the request's name and favourite filters (None without any)."""
    clauses, params = _name_clauses(req)
    if not clauses:
        return None
    return f"SELECT v.rowid FROM videos v WHERE {' AND '.join(clauses)}", params


def _filtered_candidates(db: sqlite_utils.Database, match: str, req: SearchRequest, where: str, params: list[Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Narrowing filters: filter every match first (so a selective filter still finds matches
    ranked below any cut), rank only the rows that pass, count them in the same pass."""
    names = _name_filters_sql(req)
    # ``+rowid IN (...)``: a cheap test of each match against the (small) set of rowids passing
    # the name filters, before the videos row is read; the full ``where`` still decides.
    name_clause = f"AND +video_fts.rowid IN ({names[0]})" if names else ""
    # ``ORDER BY +rank``: sort the passing rows here rather than have FTS5 rank every match.
    sql = f"""
        SELECT v.hash, video_fts.rank AS rank, v.added_at, v.duration, v.title, COUNT(*) OVER () AS total
        FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid
        WHERE video_fts MATCH ? {name_clause} AND {where}
        ORDER BY +video_fts.rank, v.hash LIMIT ?
    """
    total = 0
    candidates = []
    for video_hash, rank, added_at, duration, title, total in db.execute(sql, [match] + (names[1] if names else []) + params + [limit]):
        candidates.append({"hash": video_hash, "rank": rank, "added_at": added_at, "duration": duration, "title": title})
    return candidates, total


def _relevance(candidates: list[dict[str, Any]], index: SimilarityIndex | None, text: str, weight: float) -> dict[str, float]:
    if not candidates:
        return {}
    best = min(c["rank"] for c in candidates) or -1.0
    lexical = {c["hash"]: (c["rank"] / best if best < 0 else 1.0) for c in candidates}
    cosine: dict[str, float] = {}
    if index is not None and weight > 0:
        cosine = index.scores_for([c["hash"] for c in candidates], index.query_vector(text))
    if not cosine:
        return lexical
    return {h: (1 - weight) * lexical[h] + weight * cosine.get(h, 0.0) for h in lexical}


def _with_scores(db: sqlite_utils.Database, hashes: list[str], scores: dict[str, float]) -> list[dict[str, Any]]:
    items = load_videos(db, hashes)
    for item in items:
        item["score"] = round(scores[item["hash"]], 6) if item["hash"] in scores else None
    return items


def autocomplete(db: sqlite_utils.Database, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Suggestions for the search box: performers, studios, categories and titles starting with ``text``."""
    words = query_words(text)
    if not words:
        return []
    needle = " ".join(words)
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    suggestions: list[dict[str, Any]] = []
    for kind, table, link_sql in (
        ("performer", "performers", "SELECT COUNT(*) FROM video_performers l JOIN videos v ON v.hash = l.hash WHERE l.performer_id = n.id AND {vis}"),
        ("studio", "studios", "SELECT COUNT(*) FROM videos v WHERE v.studio_id = n.id AND {vis}"),
        ("category", "categories", "SELECT COUNT(*) FROM video_categories l JOIN videos v ON v.hash = l.hash WHERE l.category_id = n.id AND {vis}"),
    ):
        count_sql = link_sql.format(vis=visible_sql("v"))
        rows = db.execute(
            f"SELECT name, count FROM (SELECT n.name AS name, ({count_sql}) AS count FROM {table} n "
            f"WHERE n.name LIKE ? ESCAPE '\\' OR n.name LIKE ? ESCAPE '\\') WHERE count > 0 "
            f"ORDER BY (name LIKE ? ESCAPE '\\') DESC, count DESC, name COLLATE NOCASE LIMIT ?",
            [escaped + "%", "% " + escaped + "%", escaped + "%", limit],
        )
        suggestions += [{"kind": kind, "value": r["name"], "count": r["count"], "hash": None} for r in rows]
    match = "title : (" + fts_query(words) + ")"
    rows = db.execute(
        f"SELECT v.hash, v.title FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ? AND {visible_sql('v')} ORDER BY rank LIMIT ?",
        [match, limit],
    )
    suggestions += [{"kind": "title", "value": r["title"], "count": None, "hash": r["hash"]} for r in rows]
    folded = fold(needle)
    # Names and titles that start with the text first, then the rest; at most ``limit``.
    suggestions.sort(key=lambda s: (not fold(s["value"]).startswith(folded), {"performer": 0, "studio": 1, "category": 2, "title": 3}[s["kind"]]))
    return suggestions[:limit]
