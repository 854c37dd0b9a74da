"""Query words as the full-text index sees them, and whether a last word needs to be a prefix.

Search sends the last word of a query as a prefix (``"moun"*``) so results follow the user's
typing. FTS5 answers a prefix longer than its prefix indexes by merging the doclists of every
term that starts with it into a copy, for each statement that uses it (~20 ns a match: a few
hundred microseconds to over a millisecond for a common word, and a search runs two to four
statements). When the word's term is not the beginning of any other term in the index, the
prefix and the exact term match the same rows, and the exact term is read in place.
"""

from __future__ import annotations

import functools
import sqlite3
import threading

import sqlite_utils

from vidlib.db import FTS_TOKENIZE

_lock = threading.Lock()
_tokenizer: sqlite3.Connection | None = None

# The largest code point: every longer term starting with ``term`` sorts below term + this.
_TOP = "\U0010ffff"


# Words up to this length are cached (a pure function of the word); longer ones, which only odd
# input has, are tokenized each time so they cannot fill the cache with large keys.
_CACHED_LENGTH = 64


def index_terms(word: str) -> tuple[str, ...]:
    """The terms FTS5 indexes for ``word`` (case and accents folded, porter-stemmed).

    Tokenized by FTS5 itself with ``video_fts``'s tokenizer, in a private in-memory database, so
    the answer is exactly the index's.
    """
    return _cached_terms(word) if len(word) <= _CACHED_LENGTH else _tokenize(word)


@functools.lru_cache(maxsize=8192)
def _cached_terms(word: str) -> tuple[str, ...]:
    return _tokenize(word)


def _tokenize(word: str) -> tuple[str, ...]:
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            conn.execute(f"CREATE VIRTUAL TABLE tok USING fts5(x, tokenize = '{FTS_TOKENIZE}', detail = none)")
            conn.execute("CREATE VIRTUAL TABLE tok_terms USING fts5vocab(tok, 'instance')")
            _tokenizer = conn
        conn = _tokenizer
        conn.execute("BEGIN")
        try:
            conn.execute("INSERT INTO tok (rowid, x) VALUES (1, ?)", [word])
            # 'instance' rows come in (term, doc, col, offset) order: sort by offset for word order
            terms = [r[0] for r in sorted(conn.execute("SELECT term, offset FROM tok_terms"), key=lambda r: r[1] or 0)]
        finally:
            conn.execute("ROLLBACK")
    return tuple(terms)


def prefix_needed(db: sqlite_utils.Database, word: str) -> bool:
    """False when ``word`` as an exact term matches the same videos as ``word`` as a prefix.

    That is when FTS5 makes one term of the word and no other term in ``video_fts`` starts with
    it (``video_fts_vocab``, migration 8: a seek in the term index, ~10 µs).
    """
    terms = index_terms(word)
    if len(terms) != 1:
        return True
    term = terms[0]
    # ``term >= term + "\x01"``, not ``term > term``: fts5vocab seeks to the lower bound and
    # counts every row it visits, and counting the word's own term walks its whole doclist.
    longer = db.execute("SELECT 1 FROM video_fts_vocab WHERE term >= ? AND term < ? LIMIT 1", [term + "\x01", term + _TOP]).fetchone()
    return longer is not None
