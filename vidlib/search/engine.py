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
from typing import Any, Callable

import numpy as np
import sqlite_utils

from vidlib.db import FTS_CATEGORY, FTS_HIDDEN, FTS_PERFORMER, FTS_STUDIO
from vidlib.errors import VidlibError
from vidlib.filters import listing_visible_sql, visible_sql
from vidlib.library.videos import load_videos, nocase_key, visible_name_counts, visible_rowids
from vidlib.search.facets import link_arrays
from vidlib.search.spelling import Speller
from vidlib.search.terms import prefix_needed
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


def speller_for(index: SimilarityIndex | None) -> Speller | None:
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
    for more_clauses, more_params in (_name_clauses(req), _row_clauses(req)):
        clauses += more_clauses
        params += more_params
    return " AND ".join(clauses), params


def _row_clauses(req: SearchRequest) -> tuple[list[str], list[Any]]:
    """The duration, height and date conditions of a request, on ``videos v``."""
    clauses, params = [], []
    for sql, value in (("v.duration >= ?", req.min_duration), ("v.duration <= ?", req.max_duration), ("v.height >= ?", req.min_height), ("v.added_at >= ?", req.added_since or None)):
        if value is not None:
            clauses.append(sql)
            params.append(value)
    return clauses, params


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


def _facets(db: sqlite_utils.Database, hashes: list[str] | None, where: str, params: list[Any]) -> dict[str, list[dict]]:
    """Counts of studios, performers and categories among the matches (``hashes``, visible
    videos) or, without them, the videos ``where`` selects: from the per-process link arrays
    (vidlib/search/facets.py), or in SQL where there are none (imported ids)."""
    links = link_arrays(db)
    if links is None:
        return _facets_sql(db, None if hashes is None else json.dumps(hashes), where, params)
    if hashes is None:
        hashes = [r[0] for r in db.execute(f"SELECT v.hash FROM videos v WHERE {where}", params)]
    return links.facets(hashes, FACET_LIMIT)


def _facets_sql(db: sqlite_utils.Database, hashes_json: str | None, where: str, params: list[Any]) -> dict[str, list[dict]]:
    """Counts of studios, performers and categories among the matches, in SQL.

    ``hashes_json``: the matches as a JSON list of (visible) hashes, read straight from the link
    tables and counted per id before the names are joined (one name lookup per group, not per
    link: a third of the time for 500 candidates); otherwise the videos ``where`` selects.
    """
    if hashes_json is not None:
        scope, params = "hash IN (SELECT value FROM json_each(?))", [hashes_json]
        queries = {
            "studios": f"SELECT n.name AS name, x.count AS count FROM (SELECT studio_id, COUNT(*) AS count FROM videos WHERE {scope} GROUP BY studio_id) x JOIN studios n ON n.id = x.studio_id",
            "performers": f"SELECT n.name AS name, x.count AS count FROM (SELECT performer_id, COUNT(*) AS count FROM video_performers WHERE {scope} GROUP BY performer_id) x JOIN performers n ON n.id = x.performer_id",
            "categories": f"SELECT n.name AS name, x.count AS count FROM (SELECT category_id, COUNT(*) AS count FROM video_categories WHERE {scope} GROUP BY category_id) x JOIN categories n ON n.id = x.category_id",
        }
    else:
        queries = {
            "studios": f"SELECT s.name AS name, COUNT(*) AS count FROM videos v JOIN studios s ON s.id = v.studio_id WHERE {where} GROUP BY s.id",
            "performers": f"SELECT p.name AS name, COUNT(*) AS count FROM videos v JOIN video_performers vp ON vp.hash = v.hash JOIN performers p ON p.id = vp.performer_id WHERE {where} GROUP BY p.id",
            "categories": f"SELECT c.name AS name, COUNT(*) AS count FROM videos v JOIN video_categories vc ON vc.hash = v.hash JOIN categories c ON c.id = vc.category_id WHERE {where} GROUP BY c.id",
        }
    result = {}
    for key, sql in queries.items():
        rows = db.execute(sql + " ORDER BY count DESC, name COLLATE NOCASE LIMIT ?", params + [FACET_LIMIT])
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
        # No text: a filtered listing straight from SQL. A studio, performer, category or
        # favourites filter names a set that should drive the statements (count, page, facets):
        # with the indexable visibility test SQLite walks every visible video and probes the set
        # for each (a performer's page with facets: 600 -> 3 ms at 100,000 videos).
        named = bool(req.studios or req.performers or req.categories or req.favourites)
        where, params = _filter_sql(req, many=not named)
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

    # A page deeper than the candidate pool widens it, so every match counted in the total can
    # be paged to.
    deepest, full = offset + req.per_page, sort not in ("relevance", "random")
    # The last word is a prefix only where that matches more than the exact term (terms.py).
    prefix_last = bool(words) and prefix_needed(db, words[-1])
    if req.raw:
        match = req.q
    else:
        match = fts_query(words, prefix_last=prefix_last)
    candidates, total = _candidates(db, match, req, config, deepest, full)
    if not candidates and not req.raw:
        speller = speller_for(index)
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
            candidates, total = _candidates(db, fts_query(words, alternatives, prefix_last=False), req, config, deepest, full)
            if candidates:
                result["corrected"] = " ".join(corrected)
        if not candidates and len(words) > 1:
            # Nothing has every word: fall back to any word (bm25 still prefers more matches).
            candidates, total = _candidates(db, fts_query(words, alternatives, prefix_last=prefix_last, any_word=True), req, config, deepest, full)
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
        result["facets"] = _facets(db, hashes, where, params)
    return result


_FAVOURITES = "v.hash IN (SELECT f.hash FROM favourites f)"


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
        clauses.append(_FAVOURITES)
    return clauses, params


_FTS5_QUERY_ERRORS = ("fts5", "syntax", "no such column", "unknown special query", "unterminated string", "expected integer")

# Columns whose matches make a candidate "strong" in the window plan (the rest: description, file name).
_STRONG_COLUMNS = "{title studio performers categories}"
# The lexical part of the blend in the window plan: bm25 is not computed there (docs/search.md).
WINDOW_LEXICAL_STRONG, WINDOW_LEXICAL_WEAK = 1.0, 0.5


def _flag(token: str) -> str:
    return f'flags : "{token}"'


def _name_terms(db: sqlite_utils.Database, req: SearchRequest) -> list[str] | None:
    """The request's studio / performer / category filters as FTS5 terms on ``flags``.

    None when a named studio, performer or category does not exist (nothing can match).
    """
    terms = []
    if req.studios:
        ids = [r[0] for r in db.execute(f"SELECT id FROM studios WHERE name IN ({','.join('?' * len(req.studios))})", req.studios)]
        if not ids:
            return None
        terms.append("(" + " OR ".join(_flag(f"{FTS_STUDIO}{i}") for i in ids) + ")")
    for table, prefix, names in (("performers", FTS_PERFORMER, req.performers), ("categories", FTS_CATEGORY, req.categories)):
        for name in names:
            row = db.execute(f"SELECT id FROM {table} WHERE name = ?", [name]).fetchone()
            if row is None:
                return None
            terms.append(_flag(f"{prefix}{row[0]}"))
    return terms


def _row_sql(req: SearchRequest) -> tuple[str, list[Any]]:
    """The request's conditions FTS5 cannot test (favourites, duration, height, date), on ``videos v``."""
    clauses, params = _row_clauses(req)
    if req.favourites:
        clauses.insert(0, _FAVOURITES)
    return "".join(f" AND {c}" for c in clauses), params


def _balanced(raw: str) -> bool:
    """True when the parentheses of a raw FTS5 query (outside its strings) balance, so wrapping it
    in ``( ... )`` cannot change what the rest of the expression applies to."""
    depth, quoted = 0, False
    for char in raw:
        if char == '"':
            quoted = not quoted  # a doubled quote inside a string toggles twice
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                return False
    return depth == 0


def _candidates(db: sqlite_utils.Database, match: str, req: SearchRequest, config: dict[str, Any], deepest: int, full: bool) -> tuple[list[dict[str, Any]], int]:
    """Visible matches to rerank, and the exact number of visible matches.

    Visibility and the name filters are FTS5 terms (``flags``, migration 5), so the total is one
    ``count(*)`` that reads no ``videos`` row unless the request filters on duration, height,
    date or favourites. Up to SEARCH_RANK_ALL_MAX matches, every match is ranked by bm25 and the
    best SEARCH_CANDIDATES kept. Above it, ranking every match would cost ~1 µs each, and FTS5's
    bm25 walks every phrase's whole doclist even for a few rows: the candidates are the newest
    SEARCH_CANDIDATES matches of the title and name columns, then the newest of the others (FTS5
    walks a doclist by rowid for free), with a fixed lexical score per group (docs/search.md).
    The pool grows to ``deepest`` (the end of the page asked for). ``full``: also read the
    columns the other sorts need.
    """
    if req.raw and not _balanced(match):
        raise VidlibError("invalid raw search query: unbalanced parentheses")
    names = _name_terms(db, req)
    if names is None:
        return [], 0
    rows_sql, rows_params = _row_sql(req)
    columns = "v.hash, v.added_at, v.duration, v.title" if full else "v.hash"
    found: list[dict[str, Any]] = []

    def expr(text: str) -> str:
        return f"({text})" + "".join(f" AND {t}" for t in names) + f" NOT {_flag(FTS_HIDDEN)}"

    def add(rows, limit: int, rank: Callable[[Any], float], skip: set[str] | frozenset = frozenset()) -> None:
        # Rows (rowid, rank or key, hash[, added_at, duration, title]) are consumed as they come:
        # no list of row tuples kept alive.
        for row in rows:
            if len(found) == limit:
                break
            if row[2] not in skip:
                if full:
                    found.append({"hash": row[2], "rank": rank(row[1]), "added_at": row[3], "duration": row[4], "title": row[5]})
                else:
                    found.append({"hash": row[2], "rank": rank(row[1])})

    # Without conditions on the videos row or columns for other sorts, matches become visible
    # hashes through the per-process rowid map (vidlib.library.videos.visible_rowids) instead
    # of a videos row each; a rowid it does not know (hidden, or added since) gives None,
    # which is skipped. Otherwise ``visible_sql`` repeats the FTS test on the rows read, so a
    # hidden video never shows.
    # Duration and height conditions are tested on the same per-process arrays (kept until the
    # ``rows`` counter moves, migration 10), so those searches read no videos row either.
    # Favourites and the date condition stay SQL conditions on the row.
    by_rowid = None if (full or req.favourites or req.added_since) else visible_rowids(db)
    in_arrays = by_rowid is not None and bool(rows_sql)
    strong = None if req.raw else f"{_STRONG_COLUMNS} : ({match})"
    joined = f"FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ?{rows_sql} AND {visible_sql('v')}"
    try:
        limit = max(config["SEARCH_CANDIDATES"], deepest)
        rank_all = max(limit, config["SEARCH_RANK_ALL_MAX"])
        count = "SELECT count(*) FROM video_fts WHERE video_fts MATCH ?"
        cursor = db.conn.cursor()
        cursor.row_factory = None
        if in_arrays:
            # Every match's rowid from FTS5, newest first, tested on the arrays.
            ids = np.fromiter((r[0] for r in cursor.execute(_NEWEST_IDS, [expr(match)])), dtype=np.int64)
            passing = ids[by_rowid.passes(ids, req.min_duration, req.max_duration, req.min_height)].tolist()

            def rows_for(rowids: list[int], keys: list) -> Any:
                return zip(rowids, keys, by_rowid.hashes_of(rowids))

            return found, _passing_plan(cursor, expr, strong, match, passing, rows_for, limit, rank_all, add, found)
        # With name filters, the videos that have those names bound the matches and are cheap to
        # count (short doclists), while the words' doclists can be long (a prefix's is copied
        # for every statement): when few enough, rank and count in one pass, skipping a count.
        one_pass = bool(names) and db.execute(count, [" AND ".join(names) + f" NOT {_flag(FTS_HIDDEN)}"]).fetchone()[0] <= rank_all
        if not one_pass:
            # Exact without conditions on the videos row, an upper bound with them (the plan is
            # chosen on it; the exact count then comes with the rows).
            total = db.execute(count, [expr(match)]).fetchone()[0]
            one_pass = bool(rows_sql) and 0 < total <= rank_all
        if one_pass:  # rank and count the rows that pass (row[0] is the count)
            sql = f"SELECT COUNT(*) OVER (), video_fts.rank, {columns} {joined} ORDER BY +video_fts.rank, v.hash LIMIT ?"
            rows = db.execute(sql, [expr(match)] + rows_params + [limit]).fetchall()
            total = rows[0][0] if rows else 0
            add(rows, limit, float)
        elif total == 0:
            pass
        elif total <= rank_all:
            # Let FTS5 rank and cut, then read the cut; ties across the cut: read them all
            # (equal bm25 scores are common: same words, same lengths).
            sql = "SELECT rowid, rank FROM video_fts WHERE video_fts MATCH ? ORDER BY rank LIMIT ?"
            fetch = min(limit + 64, total)
            ranked = {rowid: rank for rowid, rank in db.execute(sql, [expr(match), fetch])}
            cut = list(ranked.values())[limit - 1 :]
            if fetch < total and cut[0] == cut[-1]:
                ranked = {rowid: rank for rowid, rank in db.execute(sql, [expr(match), total])}
            if by_rowid is not None:  # the per-process rowid -> hash map: no videos row read
                rowids = list(ranked)
                add(zip(rowids, ranked.values(), by_rowid.hashes_of(rowids)), total, float, _NONE)
            else:
                sql = f"SELECT v.rowid, v.rowid, {columns} FROM videos v WHERE v.rowid IN (SELECT value FROM json_each(?)) AND {visible_sql('v')}"
                add(db.execute(sql, [json.dumps(list(ranked))]), total, ranked.__getitem__)
            _best_first(found, limit)
        elif rows_sql:
            # Conditions on the videos row: every passing match is read once, newest first (their
            # number is the exact total), streamed and kept only as its hash (or, for the other
            # sorts, its tuple) under its rowid: a common word with only a duration filter does
            # not keep tens of thousands of tracked tuples alive (garbage collections).
            by_id: dict[int, Any] = {}
            for row in cursor.execute(f"SELECT video_fts.rowid, NULL, {columns} {joined} ORDER BY video_fts.rowid DESC", [expr(match)] + rows_params):
                by_id[row[0]] = row[2:] if full else (row[2],)

            def rows_for(rowids: list[int], keys: list) -> Any:
                return ((rowid, key, *by_id[rowid]) for rowid, key in zip(rowids, keys))

            total = _passing_plan(cursor, expr, strong, match, list(by_id), rows_for, limit, rank_all, add, found)
        else:
            newest = f"SELECT NULL, NULL, {columns} {joined} ORDER BY video_fts.rowid DESC LIMIT ?"
            if by_rowid is not None:
                # FTS5 alone walks the newest matches; the map gives their hashes (hidden ones,
                # never among them, would come back as None and be skipped).

                def newest_of(text: str, skip_count: int):
                    rowids = [r[0] for r in cursor.execute(_NEWEST_IDS + " LIMIT ?", [expr(text), limit + skip_count])]
                    return zip(rowids, rowids, by_rowid.hashes_of(rowids))

            else:

                def newest_of(text: str, skip_count: int):
                    return db.execute(newest, [expr(text)] + rows_params + [limit])
            if strong is not None:
                add(newest_of(strong, 0), limit, lambda _: -WINDOW_LEXICAL_STRONG, _NONE)
            if len(found) < limit:
                add(newest_of(match, len(found)), limit, lambda _: -WINDOW_LEXICAL_WEAK, {c["hash"] for c in found} | _NONE)
    except sqlite3.OperationalError as exc:
        message = str(exc)
        # FTS5's query-parser errors (only a raw query can cause them); not all say "fts5".
        if any(part in message for part in _FTS5_QUERY_ERRORS):
            raise VidlibError(f"invalid raw search query: {message}") from None
        raise
    return found, total


# bm25 of the listed rows only: ``+rowid`` keeps the IN list a filter (FTS5 would run the MATCH
# once per listed rowid), and ``+rank`` computes the rank after it.
_RANK_PASSING = "SELECT rowid, rank FROM video_fts WHERE video_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY +rank"
_NEWEST_IDS = "SELECT rowid FROM video_fts WHERE video_fts MATCH ? ORDER BY rowid DESC"
_NONE = frozenset([None])  # a rowid the map does not know: skipped


def _best_first(found: list[dict[str, Any]], limit: int) -> None:
    """Sort ranked candidates best bm25 first, ties in hash order, and keep ``limit``."""
    found.sort(key=itemgetter("hash"))
    found.sort(key=itemgetter("rank"))  # stable: ties in hash order
    del found[limit:]


def _passing_plan(cursor: sqlite3.Cursor, expr: Callable[[str], str], strong: str | None, match: str, passing: list[int], rows_for: Callable[[list[int], list], Any],
                  limit: int, rank_all: int, add: Callable[..., None], found: list) -> int:
    """Candidates among the matches that passed a search's row conditions (``passing``: their
    rowids, newest first); returns their number, the exact total.

    Up to ``rank_all`` of them are ranked by bm25 like any search with that many matches;
    more, and the window plan runs over them: the newest title-and-names matches (from FTS5
    alone, kept where their rowid passed), then the newest of the rest. ``rows_for(rowids,
    keys)`` gives the rows ``add`` takes for those rowids (rowid, key, hash[, more columns]).
    """
    total = len(passing)
    if total == 0:
        return 0
    if total <= rank_all:
        ranked = cursor.execute(_RANK_PASSING, [expr(match), json.dumps(passing)]).fetchall()
        add(rows_for([r[0] for r in ranked], [r[1] for r in ranked]), total, float, _NONE)
        _best_first(found, limit)
        return total
    if strong is not None:
        passed, picked = set(passing), []
        for (rowid,) in cursor.execute(_NEWEST_IDS, [expr(strong)]):
            if rowid in passed:
                picked.append(rowid)
                if len(picked) == limit:
                    break
        add(rows_for(picked, picked), limit, lambda _: -WINDOW_LEXICAL_STRONG, _NONE)
    if len(found) < limit:
        newest = passing[: limit + len(found)]
        add(rows_for(newest, newest), limit, lambda _: -WINDOW_LEXICAL_WEAK, {c["hash"] for c in found} | _NONE)
    return total


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


AUTOCOMPLETE_RANK_ALL_MAX = 500


def autocomplete(db: sqlite_utils.Database, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Suggestions for the search box: performers, studios, categories and titles starting with ``text``."""
    words = query_words(text)
    if not words:
        return []
    needle = " ".join(words)
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    folded = fold(needle)
    suggestions: list[dict[str, Any]] = []
    count = "SELECT count(*) FROM video_fts WHERE video_fts MATCH ?"
    hidden = _flag(FTS_HIDDEN)
    for kind, table in (("performer", "performers"), ("studio", "studios"), ("category", "categories")):
        names = {r[0]: r[1] for r in db.execute(f"SELECT id, name FROM {table} WHERE name LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'", [escaped + "%", "% " + escaped + "%"])}
        # Visible videos per name, kept per process until the library changes (the counts of
        # the by-count listings): a dict lookup each, where a count statement per matching name
        # (a doclist walk) cost ~0.1 ms each, dozens for a short prefix.
        visible = visible_name_counts(db, table)
        counts = {i: visible.get(i, 0) for i in names}
        found = [(not fold(names[i]).startswith(folded), -n, nocase_key(names[i]), names[i], n) for i, n in counts.items() if n > 0]
        found.sort()
        suggestions += [{"kind": kind, "value": name, "count": n, "hash": None} for *_, name, n in found[:limit]]
    match = "title : (" + fts_query(words, prefix_last=prefix_needed(db, words[-1])) + ")"
    # bm25 over every title match costs ~1 µs a match (20 ms for a common 3-letter prefix):
    # beyond AUTOCOMPLETE_RANK_ALL_MAX matches the newest titles are suggested instead.
    many = db.execute(count, [f"({match}) NOT {hidden}"]).fetchone()[0] > AUTOCOMPLETE_RANK_ALL_MAX
    rows = db.execute(
        f"SELECT v.hash, v.title FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ? AND {visible_sql('v')} "
        f"ORDER BY {'video_fts.rowid DESC' if many else 'rank'} LIMIT ?",
        [f"({match}) NOT {hidden}", limit],
    )
    suggestions += [{"kind": "title", "value": r["title"], "count": None, "hash": r["hash"]} for r in rows]
    # Names and titles that start with the text first, then the rest; at most ``limit``.
    suggestions.sort(key=lambda s: (not fold(s["value"]).startswith(folded), {"performer": 0, "studio": 1, "category": 2, "title": 3}[s["kind"]]))
    return suggestions[:limit]
