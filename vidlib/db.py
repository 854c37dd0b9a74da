"""SQLite access: one place that opens the database, tunes it and migrates its schema.

Three kinds of process (web, worker, watcher) write the same file, so every connection uses
WAL, a busy timeout and short transactions. Schema changes are numbered migrations recorded
in ``PRAGMA user_version``; a migration never drops data.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import sqlite3
from typing import Callable, Iterator

import sqlite_utils

log = logging.getLogger(__name__)

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next schema migration (order of definition = order applied)."""
    MIGRATIONS.append(fn)
    return fn


def connect(path: str, busy_timeout_ms: int = 10000) -> sqlite_utils.Database:
    """Open ``path`` with WAL, a busy timeout and foreign keys on; migrate it to the latest schema."""
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, check_same_thread=False, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    """The number of migrations applied to ``db``."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply every pending migration, each in its own transaction. Returns the new version."""
    version = schema_version(db)
    if version >= len(MIGRATIONS):
        return version
    # BEGIN IMMEDIATE takes the write lock so two processes starting together migrate once.
    for index in range(version, len(MIGRATIONS)):
        conn = db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) > index:  # another process got there first
                conn.execute("COMMIT")
                continue
            MIGRATIONS[index](db)
            conn.execute(f"PRAGMA user_version = {index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("database migrated to schema version %d (%s)", index + 1, MIGRATIONS[index].__name__)
    return schema_version(db)


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run several statements inside the caller's transaction (executescript would COMMIT)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement!r}")


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    """The library: folders, videos, names, favourites, collections, media status, filters, problems."""
    _run_script(
        db,
        """
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            added_at TEXT NOT NULL,
            last_scan_at TEXT,
            force_polling INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE studios (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE
        );
        CREATE TABLE performers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE
        );
        CREATE TABLE categories (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE
        );
        CREATE TABLE videos (
            hash TEXT PRIMARY KEY,
            oshash TEXT NOT NULL,
            full_hash TEXT,
            path TEXT NOT NULL,
            folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
            filename TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            sidecar_mtime REAL NOT NULL DEFAULT 0,
            title TEXT NOT NULL,
            studio_id INTEGER REFERENCES studios(id),
            date TEXT,
            description TEXT,
            duration REAL,
            width INTEGER,
            height INTEGER,
            fps REAL,
            video_codec TEXT,
            audio_codec TEXT,
            bitrate INTEGER,
            container TEXT,
            rotation INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            missing INTEGER NOT NULL DEFAULT 0,
            missing_since TEXT
        );
        CREATE UNIQUE INDEX videos_present_path ON videos(path) WHERE missing = 0;
        CREATE INDEX videos_oshash ON videos(oshash);
        CREATE INDEX videos_folder ON videos(folder_id);
        CREATE INDEX videos_added ON videos(added_at);
        CREATE INDEX videos_studio ON videos(studio_id);
        CREATE TABLE video_performers (
            hash TEXT NOT NULL REFERENCES videos(hash) ON DELETE CASCADE,
            performer_id INTEGER NOT NULL REFERENCES performers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hash, performer_id)
        );
        CREATE INDEX video_performers_performer ON video_performers(performer_id);
        CREATE TABLE video_categories (
            hash TEXT NOT NULL REFERENCES videos(hash) ON DELETE CASCADE,
            category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
            position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (hash, category_id)
        );
        CREATE INDEX video_categories_category ON video_categories(category_id);
        CREATE TABLE legacy_metadata (
            hash TEXT PRIMARY KEY REFERENCES videos(hash) ON DELETE CASCADE,
            data TEXT NOT NULL,
            imported_at TEXT NOT NULL
        );
        CREATE TABLE favourites (
            hash TEXT PRIMARY KEY REFERENCES videos(hash) ON DELETE CASCADE,
            added_at TEXT NOT NULL
        );
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        );
        CREATE TABLE collection_items (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            hash TEXT NOT NULL REFERENCES videos(hash) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            PRIMARY KEY (collection_id, hash)
        );
        CREATE TABLE media (
            hash TEXT NOT NULL REFERENCES videos(hash) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            progress REAL,
            error TEXT,
            job_id TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (hash, kind)
        );
        CREATE INDEX media_status ON media(kind, status);
        CREATE TABLE content_filters (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('studio', 'category', 'performer')),
            value TEXT NOT NULL COLLATE NOCASE,
            added_at TEXT NOT NULL,
            UNIQUE (kind, value)
        );
        CREATE TABLE duplicates (
            path TEXT PRIMARY KEY,
            hash TEXT NOT NULL REFERENCES videos(hash) ON DELETE CASCADE,
            folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            found_at TEXT NOT NULL
        );
        CREATE INDEX duplicates_hash ON duplicates(hash);
        CREATE TABLE collisions (
            id INTEGER PRIMARY KEY,
            oshash TEXT NOT NULL,
            hash_a TEXT NOT NULL,
            path_a TEXT NOT NULL,
            hash_b TEXT NOT NULL,
            path_b TEXT NOT NULL,
            found_at TEXT NOT NULL,
            UNIQUE (hash_a, hash_b)
        );
        CREATE TABLE scan_errors (
            path TEXT PRIMARY KEY,
            folder_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
            size INTEGER,
            mtime REAL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A short write transaction that takes the lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes can fail with "database is locked"
    without waiting when another process writes in between; IMMEDIATE waits (busy timeout).
    Nested use becomes a savepoint.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string with seconds precision."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def get_or_create_name(db: sqlite_utils.Database, table: str, name: str) -> int:
    """Id of the row called ``name`` (case-insensitive) in a names table, creating it if needed."""
    assert table in ("studios", "performers", "categories")
    row = db.execute(f"SELECT id FROM {table} WHERE name = ?", [name]).fetchone()
    if row:
        return row[0]
    return db.execute(f"INSERT INTO {table} (name) VALUES (?)", [name]).lastrowid


# The FTS row of a video as migration 2 wrote it (six columns); migration 5 replaced it.
_FTS_ROW_V2 = """
    INSERT INTO video_fts (rowid, title, studio, performers, categories, description, filename)
    SELECT v.rowid, v.title, COALESCE(s.name, ''),
        COALESCE((SELECT group_concat(p.name, ' | ') FROM video_performers vp JOIN performers p ON p.id = vp.performer_id WHERE vp.hash = v.hash), ''),
        COALESCE((SELECT group_concat(c.name, ' | ') FROM video_categories vc JOIN categories c ON c.id = vc.category_id WHERE vc.hash = v.hash), ''),
        COALESCE(v.description, ''), v.filename
    FROM videos v LEFT JOIN studios s ON s.id = v.studio_id WHERE v.hash = {hash};
"""

# FTS5's unicode61 tokenizer treats private-use characters as part of a word, and search never
# sends one (its words are letters and digits), so tokens starting with this mark in the
# ``flags`` column can only be matched on purpose: FTS_HIDDEN for a video that is missing or
# hidden by a content filter, FTS_STUDIO/PERFORMER/CATEGORY + id for its names.
FTS_MARK = "\ue000"
FTS_HIDDEN, FTS_STUDIO, FTS_PERFORMER, FTS_CATEGORY = (FTS_MARK + k for k in "hspc")

_FTS_FLAGS = f"""(CASE WHEN v.missing != 0 OR v.hidden != 0 THEN '{FTS_HIDDEN} ' ELSE '' END)
        || COALESCE('{FTS_STUDIO}' || v.studio_id, '')
        || COALESCE((SELECT group_concat(' {FTS_PERFORMER}' || vp.performer_id, '') FROM video_performers vp WHERE vp.hash = v.hash), '')
        || COALESCE((SELECT group_concat(' {FTS_CATEGORY}' || vc.category_id, '') FROM video_categories vc WHERE vc.hash = v.hash), '')"""

# The FTS row of a video, rebuilt by the triggers of migration 5. Performer and category names
# are joined with " | " so a phrase never spans two names.
_FTS_ROW = (
    _FTS_ROW_V2.replace("description, filename)", "description, filename, flags)")
    .replace("COALESCE(v.description, ''), v.filename", "COALESCE(v.description, ''), v.filename,\n        " + _FTS_FLAGS)
)


@migration
def m002_search(db: sqlite_utils.Database) -> None:
    """Full-text search (FTS5 with porter stemming, accents folded, prefixes) kept in sync by triggers.

    The FTS rowid is the videos rowid; `flask --app vidlib rebuild-fts` rebuilds it (VACUUM may
    renumber rowids of a table without an INTEGER PRIMARY KEY).
    """
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE video_fts USING fts5(
            title, studio, performers, categories, description, filename,
            tokenize = 'porter unicode61 remove_diacritics 2',
            prefix = '2 3 4'
        );
        CREATE TABLE index_state (
            name TEXT PRIMARY KEY,
            version INTEGER NOT NULL DEFAULT 0,
            built_version INTEGER NOT NULL DEFAULT 0,
            built_at TEXT,
            info TEXT
        );
        INSERT INTO index_state (name, version) VALUES ('similarity', 1);
        INSERT INTO video_fts (video_fts, rank) VALUES ('rank', 'bm25(4.0, 2.0, 3.0, 2.0, 0.5, 1.0)');
        """
        + _fts_triggers(_FTS_ROW_V2, "title, studio_id, description, filename"),
    )
    _refill_fts(db, _FTS_ROW_V2)


def _fts_triggers(row: str, video_columns: str, when: str = "") -> str:
    """The triggers that rewrite a video's FTS row (``row``) when the video or its links change."""
    return f"""
        CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
            {row.format(hash="new.hash")}
        END;
        CREATE TRIGGER videos_fts_update AFTER UPDATE OF {video_columns} ON videos {when} BEGIN
            DELETE FROM video_fts WHERE rowid = old.rowid;
            {row.format(hash="new.hash")}
        END;
        CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
            DELETE FROM video_fts WHERE rowid = old.rowid;
        END;
        CREATE TRIGGER video_performers_fts_insert AFTER INSERT ON video_performers BEGIN
            DELETE FROM video_fts WHERE rowid = (SELECT rowid FROM videos WHERE hash = new.hash);
            {row.format(hash="new.hash")}
        END;
        CREATE TRIGGER video_performers_fts_delete AFTER DELETE ON video_performers BEGIN
            DELETE FROM video_fts WHERE rowid = (SELECT rowid FROM videos WHERE hash = old.hash);
            {row.format(hash="old.hash")}
        END;
        CREATE TRIGGER video_categories_fts_insert AFTER INSERT ON video_categories BEGIN
            DELETE FROM video_fts WHERE rowid = (SELECT rowid FROM videos WHERE hash = new.hash);
            {row.format(hash="new.hash")}
        END;
        CREATE TRIGGER video_categories_fts_delete AFTER DELETE ON video_categories BEGIN
            DELETE FROM video_fts WHERE rowid = (SELECT rowid FROM videos WHERE hash = old.hash);
            {row.format(hash="old.hash")}
        END;
    """


def _refill_fts(db: sqlite_utils.Database, row: str) -> int:
    db.execute("DELETE FROM video_fts")
    db.execute(row.replace("WHERE v.hash = {hash};", ";"))
    return db.execute("SELECT COUNT(*) FROM video_fts").fetchone()[0]


def rebuild_fts(db: sqlite_utils.Database) -> int:
    """Refill the FTS table from the videos (inside the caller's transaction); returns the row count."""
    return _refill_fts(db, _FTS_ROW)


def bump_library_version(db: sqlite_utils.Database) -> int:
    """Record that the library changed (the similarity index is now stale); returns the new version."""
    db.execute("UPDATE index_state SET version = version + 1 WHERE name = 'similarity'")
    return db.execute("SELECT version FROM index_state WHERE name = 'similarity'").fetchone()[0]


def hidden_expr(alias: str) -> str:
    """SQL true when a content filter hides the video ``alias`` (studio, performer or category)."""
    return f"""(
        EXISTS (
            SELECT 1 FROM content_filters cf JOIN studios s ON s.name = cf.value
            WHERE cf.kind = 'studio' AND s.id = {alias}.studio_id)
        OR EXISTS (
            SELECT 1 FROM video_performers vp JOIN performers p ON p.id = vp.performer_id
            JOIN content_filters cf ON cf.kind = 'performer' AND cf.value = p.name
            WHERE vp.hash = {alias}.hash)
        OR EXISTS (
            SELECT 1 FROM video_categories vc JOIN categories c ON c.id = vc.category_id
            JOIN content_filters cf ON cf.kind = 'category' AND cf.value = c.name
            WHERE vc.hash = {alias}.hash)
    )"""


@migration
def m003_hidden_flag(db: sqlite_utils.Database) -> None:
    """``videos.hidden``: whether a content filter hides the video, kept true by triggers.

    Visibility becomes two column tests (``missing = 0 AND hidden = 0``) that every listing,
    count and search can use cheaply, instead of three correlated subqueries per row.
    """
    refresh_one = "UPDATE videos SET hidden = {expr} WHERE hash = {hash};"
    _run_script(
        db,
        f"""
        ALTER TABLE videos ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX videos_visible_added ON videos(missing, hidden, added_at);
        CREATE INDEX videos_visible_title ON videos(missing, hidden, title COLLATE NOCASE);
        CREATE TRIGGER content_filters_hide AFTER INSERT ON content_filters BEGIN
            UPDATE videos SET hidden = {hidden_expr("videos")} WHERE hidden = 0;
        END;
        CREATE TRIGGER content_filters_unhide AFTER DELETE ON content_filters BEGIN
            UPDATE videos SET hidden = {hidden_expr("videos")} WHERE hidden = 1;
        END;
        CREATE TRIGGER videos_hidden_insert AFTER INSERT ON videos BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="new.hash")}
        END;
        CREATE TRIGGER videos_hidden_studio AFTER UPDATE OF studio_id ON videos BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="new.hash")}
        END;
        CREATE TRIGGER video_performers_hidden_insert AFTER INSERT ON video_performers BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="new.hash")}
        END;
        CREATE TRIGGER video_performers_hidden_delete AFTER DELETE ON video_performers BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="old.hash")}
        END;
        CREATE TRIGGER video_categories_hidden_insert AFTER INSERT ON video_categories BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="new.hash")}
        END;
        CREATE TRIGGER video_categories_hidden_delete AFTER DELETE ON video_categories BEGIN
            {refresh_one.format(expr=hidden_expr("videos"), hash="old.hash")}
        END;
        UPDATE videos SET hidden = {hidden_expr("videos")};
        """,
    )


@migration
def m004_playback(db: sqlite_utils.Database) -> None:
    """``videos.pix_fmt`` and ``videos.playback`` (direct, remux or transcode; vidlib/playback/compat.py).

    Rows probed before this migration get their mode from the stored codecs; their pixel format
    is unknown (NULL) until the file is probed again.
    """
    from vidlib.playback.compat import decide

    db.conn.execute("ALTER TABLE videos ADD COLUMN pix_fmt TEXT")
    db.conn.execute("ALTER TABLE videos ADD COLUMN playback TEXT")
    rows = db.conn.execute("SELECT hash, container, video_codec, audio_codec FROM videos").fetchall()
    db.conn.executemany("UPDATE videos SET playback = ? WHERE hash = ?", [(decide(r[1], r[2], r[3])[0], r[0]) for r in rows])


_FTS_VIDEO_COLUMNS = ("title", "studio_id", "description", "filename", "missing", "hidden")


@migration
def m005_fts_flags(db: sqlite_utils.Database) -> None:
    """``video_fts.flags``: visibility and names as tokens, so FTS5 alone filters and counts.

    A missing or hidden video carries FTS_HIDDEN, every video FTS_STUDIO/PERFORMER/CATEGORY + id
    of its names, so a search's exact visible total is ``count(*) ... MATCH '(q) NOT hidden'``
    (no row of ``videos`` read per match) and a studio / performer / category filter is an FTS5
    intersection. The FTS row is now also rewritten when ``missing`` or ``hidden`` change, and
    only when a column it depends on really changed (``hidden`` is set for every row when a
    content filter is added). bm25 gives ``flags`` no weight.
    """
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _FTS_VIDEO_COLUMNS)
    _run_script(
        db,
        """
        DROP TRIGGER videos_fts_insert;
        DROP TRIGGER videos_fts_update;
        DROP TRIGGER videos_fts_delete;
        DROP TRIGGER video_performers_fts_insert;
        DROP TRIGGER video_performers_fts_delete;
        DROP TRIGGER video_categories_fts_insert;
        DROP TRIGGER video_categories_fts_delete;
        DROP TABLE video_fts;
        CREATE VIRTUAL TABLE video_fts USING fts5(
            title, studio, performers, categories, description, filename, flags,
            tokenize = 'porter unicode61 remove_diacritics 2',
            prefix = '2 3 4'
        );
        INSERT INTO video_fts (video_fts, rank) VALUES ('rank', 'bm25(4.0, 2.0, 3.0, 2.0, 0.5, 1.0, 0.0)');
        """
        + _fts_triggers(_FTS_ROW, ", ".join(_FTS_VIDEO_COLUMNS), f"WHEN {changed}"),
    )
    rebuild_fts(db)


@migration
def m006_visible_version(db: sqlite_utils.Database) -> None:
    """``index_state`` row ``visible``: a counter bumped whenever the set of visible videos may change.

    Triggers bump it when a video is added or removed or its ``hash``, ``missing`` or ``hidden``
    changes (a content filter sets ``hidden``), so a process can keep work that depends only on
    which videos are visible (the seeded shuffle's keys) and check it with one row read.
    """
    _run_script(db, _video_counter("visible", ("hash", "missing", "hidden")))


def _video_counter(name: str, columns: tuple[str, ...]) -> str:
    """SQL for an ``index_state`` counter ``name`` that triggers bump when a video is added or
    removed or one of ``columns`` really changes."""
    bump = f"UPDATE index_state SET version = version + 1 WHERE name = '{name}';"
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    return f"""
        INSERT INTO index_state (name, version) VALUES ('{name}', 1);
        CREATE TRIGGER videos_{name}_insert AFTER INSERT ON videos BEGIN {bump} END;
        CREATE TRIGGER videos_{name}_delete AFTER DELETE ON videos BEGIN {bump} END;
        CREATE TRIGGER videos_{name}_update AFTER UPDATE OF {", ".join(columns)} ON videos WHEN {changed} BEGIN {bump} END;
        """


# Tables whose rows the read API shows (video records, listings, names and their counts).
_DATA_TABLES = ("videos", "favourites", "media", "video_performers", "video_categories", "performers", "studios", "categories", "content_filters")


@migration
def m007_data_version(db: sqlite_utils.Database) -> None:
    """``index_state`` row ``data``: a counter bumped by any change to what the read API shows.

    A trigger per insert, update and delete of each table in ``_DATA_TABLES`` bumps it, so a
    process can keep a listing, name counts or a finished response until the counter moves
    (vidlib/cache.py) and check it with one row read.
    """
    bump = "UPDATE index_state SET version = version + 1 WHERE name = 'data';"
    triggers = "\n".join(
        f"CREATE TRIGGER {table}_data_{event.lower()} AFTER {event} ON {table} BEGIN {bump} END;"
        for table in _DATA_TABLES
        for event in ("INSERT", "UPDATE", "DELETE")
    )
    _run_script(db, "INSERT INTO index_state (name, version) VALUES ('data', 1);\n" + triggers)


# The tokenizer of ``video_fts`` (migration 5); vidlib.search.terms tokenizes query words with it.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"


@migration
def m008_fts_vocabulary(db: sqlite_utils.Database) -> None:
    """``video_fts_vocab``: the terms of the full-text index (an fts5vocab table, no data of its own).

    Search asks it whether the last query word's term is a prefix of any other term: when it is
    not, the word is sent as an exact term instead of a prefix (FTS5 copies a prefix's merged
    doclist for every statement; an exact term is read in place). docs/search.md.
    """
    db.conn.execute("CREATE VIRTUAL TABLE video_fts_vocab USING fts5vocab(video_fts, 'row')")


@migration
def m009_link_order_indexes(db: sqlite_utils.Database) -> None:
    """Covering indexes of a video's performers and categories in their stored order.

    A page of records reads each video's names (vidlib.library.videos.load_videos): with only
    the (hash, name id) keys SQLite looked every link's row up for its position; these indexes
    answer from the index alone (a page of 48 records ~25 % cheaper at 100,000 videos).
    """
    _run_script(
        db,
        """
        CREATE INDEX video_performers_order ON video_performers(hash, position, performer_id);
        CREATE INDEX video_categories_order ON video_categories(hash, position, category_id);
        """,
    )


@migration
def m010_rows_version(db: sqlite_utils.Database) -> None:
    """``index_state`` row ``rows``: bumped when a video is added or removed or its ``hash``,
    ``missing``, ``hidden``, ``duration`` or ``height`` changes.

    Web processes keep the visible videos' rowids, hashes, durations and heights as arrays until
    it moves (vidlib.library.videos.visible_rowids), so search turns FTS5 matches into visible
    hashes and tests duration and height conditions without reading a row per match.
    """
    _run_script(db, _video_counter("rows", ("hash", "missing", "hidden", "duration", "height")))


@migration
def m011_drop_visible_triggers(db: sqlite_utils.Database) -> None:
    """The ``visible`` counter's triggers (migration 6) go: the per-process arrays it kept are
    now kept by ``rows`` (migration 10), which moves on every change ``visible`` did. Its
    ``index_state`` row stays, unused."""
    _run_script(
        db,
        """
        DROP TRIGGER videos_visible_insert;
        DROP TRIGGER videos_visible_delete;
        DROP TRIGGER videos_visible_update;
        """,
    )


@migration
def m012_links_version(db: sqlite_utils.Database) -> None:
    """``index_state`` row ``links``: bumped when a video is added or removed or its ``hash`` or
    ``studio_id`` changes, and by any change to the performer and category links or the names.

    Web processes keep every video's studio, performers and categories as arrays until it moves
    (vidlib.search.facets.link_arrays), so facets are counted without a statement per kind.
    Media, favourites and visibility do not move it: preview generation does not rebuild them.
    """
    bump = "UPDATE index_state SET version = version + 1 WHERE name = 'links';"
    triggers = "\n".join(
        f"CREATE TRIGGER {table}_links_{event.lower()} AFTER {event} ON {table} BEGIN {bump} END;"
        for table in ("video_performers", "video_categories", "performers", "studios", "categories")
        for event in ("INSERT", "UPDATE", "DELETE")
    )
    _run_script(db, _video_counter("links", ("hash", "studio_id")) + triggers)
