"""Building, persisting and (re)loading the similarity index.

The ``index_state`` row ``similarity`` holds ``version`` (bumped whenever a scan changes the
library) and ``built_version`` / ``built_at`` (stamped by the last build). Every process keeps
the index it loaded and reloads when ``built_at`` changes, so all gunicorn workers agree.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import sqlite_utils

from vidlib.db import now_iso, write_transaction
from vidlib.library import records
from vidlib.search.tfidf import SimilarityIndex, build_index, load_index, save_index

log = logging.getLogger(__name__)

INDEX_FILE = "similarity.joblib"


def index_path(config: dict[str, Any]) -> str:
    """Where the index file lives: ``DATA_DIR/index/similarity.joblib``."""
    return os.path.join(config["DATA_DIR"], "index", INDEX_FILE)


def library_documents(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every present video's profile fields (filters are applied at query time, not here)."""
    rows = [dict(r) for r in db.execute("SELECT v.hash, v.title, s.name AS studio FROM videos v LEFT JOIN studios s ON s.id = v.studio_id WHERE v.missing = 0")]
    names = records.video_names(db, [r["hash"] for r in rows])
    for row in rows:
        row.update(names[row["hash"]])
    return rows


def merge_fts(db: sqlite_utils.Database, pages: int = 2000) -> int:
    """Merge the full-text index into one b-tree, ~``pages`` pages per short write transaction.

    Every change to a video rewrites its FTS row, and a scan writes a new video's row once per
    performer and category link: the index piles up segments and deleted entries that every
    query then walks (a count of 69,000 matches took ~4.5 ms after a 100,000-video load, ~1.5 ms
    merged). FTS5's ``merge`` with a negative budget merges segments of any level; a step that
    changes fewer than two rows had nothing left to do. Returns the number of steps that merged.
    """
    steps = 0
    while True:
        with write_transaction(db):
            before = db.conn.total_changes
            db.execute("INSERT INTO video_fts (video_fts, rank) VALUES ('merge', ?)", [-abs(pages)])
            merged = db.conn.total_changes - before >= 2
        if not merged:
            return steps
        steps += 1


def rebuild(db: sqlite_utils.Database, config: dict[str, Any]) -> SimilarityIndex:
    """Build the index from the database, persist it and stamp ``index_state``.

    The index job runs after library changes, so it also merges the full-text index (``merge_fts``).
    """
    merge_fts(db)
    version = db.execute("SELECT version FROM index_state WHERE name = 'similarity'").fetchone()[0]
    index = build_index(library_documents(db), version, config["SIMILARITY_MAX_DF"])
    index.built_at = now_iso() + f"#{os.getpid()}-{id(index)}"
    save_index(index, index_path(config))
    with write_transaction(db):
        db.execute(
            "UPDATE index_state SET built_version = ?, built_at = ?, info = ? WHERE name = 'similarity'",
            [version, index.built_at, f"{len(index.hashes)} videos, {index.matrix.shape[1]} terms"],
        )
    return index


def index_is_stale(db: sqlite_utils.Database) -> bool:
    """True when the library changed since the index was last built."""
    row = db.execute("SELECT version, built_version FROM index_state WHERE name = 'similarity'").fetchone()
    return row["version"] != row["built_version"]


class IndexHolder:
    """A process's loaded index, reloaded when the stamp in the database changes."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self._index: SimilarityIndex | None = None
        self._lock = threading.Lock()

    def get(self, db: sqlite_utils.Database) -> SimilarityIndex | None:
        """The current index, or None when none has been built yet."""
        row = db.execute("SELECT built_at FROM index_state WHERE name = 'similarity'").fetchone()
        stamp = row[0] if row else None
        if stamp is None:
            return None
        current = self._index
        if current is not None and current.built_at == stamp:
            return current
        with self._lock:
            if self._index is not None and self._index.built_at == stamp:
                return self._index
            try:
                loaded = load_index(index_path(self.config))
            except (OSError, EOFError, ValueError) as exc:
                log.warning("cannot load the similarity index: %s", exc)
                return self._index
            self._index = loaded
            # The speller is part of what a loaded index keeps: built now, then both frozen.
            from vidlib.search.engine import speller_for
            from vidlib.state import freeze_long_lived

            speller_for(loaded)
            freeze_long_lived()
            log.info("loaded similarity index built at %s (%d videos)", loaded.built_at, len(loaded.hashes))
            return loaded
