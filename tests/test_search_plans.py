"""How a search runs at scale: visibility and names as FTS5 tokens (``video_fts.flags``), the
newest-first window for searches with many matches, the raw-query guard, merging the FTS index
and migration 5. Videos are inserted straight into a real SQLite database (as bench/search.py
does) so the row order, the words and the filters are exact; the triggers and FTS5 are real.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from vidlib import db as vdb
from vidlib.search.index import merge_fts

HIDDEN_TERM = f'flags : "{vdb.FTS_HIDDEN}"'


def insert_video(db, n: int, title: str, description: str = "", studio: str = "Plain Studio", performers: tuple[str, ...] = ()) -> str:
    """One video row (and its performer links) the way a scan writes them; returns its hash."""
    video_hash = f"{n:016x}"
    studio_id = vdb.get_or_create_name(db, "studios", studio)
    db.execute(
        "INSERT INTO videos (hash, oshash, path, filename, size, mtime, title, studio_id, description, duration, height, added_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 0, ?, ?, ?, 600, 720, ?, ?)",
        [video_hash, video_hash, f"/lib/{n}.mp4", f"{n}.mp4", title, studio_id, description, f"2024-01-{n:02d}T00:00:00+00:00", "2024-01-01T00:00:00+00:00"],
    )
    for position, name in enumerate(performers):
        db.execute("INSERT INTO video_performers (hash, performer_id, position) VALUES (?, ?, ?)", [video_hash, vdb.get_or_create_name(db, "performers", name), position])
    return video_hash


# Rows 1-12, in insertion (rowid) order. "comet" is in the title of 1-6, only in the description
# of 7-10, nowhere in 11-12. Video 3 and video 8 are by "Shy Star", whom a content filter hides.
STRONG = [1, 2, 3, 4, 5, 6]
WEAK = [7, 8, 9, 10]
SHY = {3, 8}


@pytest.fixture()
def comets(make_app):
    app = make_app()
    db = app.extensions["vidlib"].db
    hashes = {}
    for n in range(1, 13):
        performer = ("Shy Star",) if n in SHY else ("Ann Lee",)
        if n in STRONG:
            hashes[n] = insert_video(db, n, f"Comet night {n}", "a quiet evening", performers=performer)
        elif n in WEAK:
            hashes[n] = insert_video(db, n, f"Evening walk {n}", f"we saw a comet over the hills {n}", performers=performer)
        else:
            hashes[n] = insert_video(db, n, f"Harbour lights {n}", "boats", studio="Dock Films", performers=performer)
    client = app.test_client()
    assert client.post("/api/content-filters", json={"kind": "performer", "value": "Shy Star"}).status_code == 201
    return app, db, hashes


def visible_count(db, match: str) -> int:
    """The plain way: every match joined to its video and tested."""
    sql = "SELECT COUNT(*) FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ? AND v.missing = 0 AND v.hidden = 0"
    return db.execute(sql, [match]).fetchone()[0]


def get(client, **params) -> dict:
    response = client.get("/search/search-videos", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_hidden_and_missing_videos_carry_the_hidden_token(comets):
    app, db, hashes = comets

    def flagged() -> set[str]:
        rows = db.execute("SELECT v.hash FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ?", [HIDDEN_TERM])
        return {r[0] for r in rows}

    assert flagged() == {hashes[n] for n in SHY}
    db.execute("UPDATE videos SET missing = 1 WHERE hash = ?", [hashes[5]])
    assert flagged() == {hashes[n] for n in SHY | {5}}
    db.execute("UPDATE videos SET missing = 0 WHERE hash = ?", [hashes[5]])
    client = app.test_client()
    filter_id = client.get("/api/content-filters").get_json()[0]["id"]
    assert client.delete(f"/api/content-filters/{filter_id}").status_code == 204
    assert flagged() == set()
    # A studio filter hides through the video's studio; a new link hides through the trigger.
    assert client.post("/api/content-filters", json={"kind": "studio", "value": "Dock Films"}).status_code == 201
    assert flagged() == {hashes[11], hashes[12]}
    assert client.post("/api/content-filters", json={"kind": "performer", "value": "Shy Star"}).status_code == 201
    db.execute("INSERT INTO video_performers (hash, performer_id, position) VALUES (?, (SELECT id FROM performers WHERE name = 'Shy Star'), 1)", [hashes[1]])
    assert flagged() == {hashes[n] for n in SHY | {1, 11, 12}}
    # Every visible match is counted, whatever the plan.
    assert get(client, q="comet")["total"] == visible_count(db, '"comet"*') == 10 - 3


def test_a_hidden_video_never_shows_and_totals_are_exact_in_both_plans(make_app, comets):
    _, db, hashes = comets
    shown_everywhere = set()
    for settings in ({"SEARCH_RANK_ALL_MAX": 1000}, {"SEARCH_RANK_ALL_MAX": 0, "SEARCH_CANDIDATES": 2}):
        client = make_app(**settings).test_client()
        for params in ({"q": "comet"}, {"q": "comet", "performer": "Ann Lee"}, {"q": "comet", "min_duration": 60}, {"q": "evening"}):
            pages = [get(client, per_page=3, page=p, **params) for p in (1, 2, 3, 4)]
            assert {page["total"] for page in pages} == {visible_count(db, '"comet"*' if params["q"] == "comet" else '"evening"*')}
            shown = {item["hash"] for page in pages for item in page["items"]}
            assert not shown & {hashes[n] for n in SHY}
            shown_everywhere |= shown
    assert shown_everywhere == {hashes[n] for n in STRONG + WEAK if n not in SHY}


def test_window_plan_takes_the_newest_title_matches_first(make_app, comets):
    _, db, hashes = comets
    # More matches (8 visible) than SEARCH_RANK_ALL_MAX and the pool: the window plan.
    window = make_app(SEARCH_RANK_ALL_MAX=0, SEARCH_CANDIDATES=3, SEARCH_RERANK_WEIGHT=0.0).test_client()
    found = get(window, q="comet", per_page=3)
    assert found["total"] == 8
    # The newest three visible title matches (rowids 6, 5, 4), all with the full lexical score.
    assert {i["hash"] for i in found["items"]} == {hashes[6], hashes[5], hashes[4]}
    assert {i["score"] for i in found["items"]} == {1.0}
    # A bigger pool takes every title match first, then the newest description-only ones at half score.
    wide = make_app(SEARCH_RANK_ALL_MAX=0, SEARCH_CANDIDATES=7, SEARCH_RERANK_WEIGHT=0.0).test_client()
    items = get(wide, q="comet", per_page=7)["items"]
    assert [i["hash"] for i in items[:5]] == sorted(hashes[n] for n in STRONG if n not in SHY)
    assert {i["hash"] for i in items[5:]} == {hashes[10], hashes[9]}
    assert [i["score"] for i in items] == [1.0] * 5 + [0.5] * 2


def test_window_plan_and_full_ranking_agree_on_what_comes_first(make_app, comets):
    """bm25 also puts the title matches (weight 4) above description-only ones (weight 0.5)."""
    _, db, hashes = comets
    ranked = get(make_app(SEARCH_RERANK_WEIGHT=0.0).test_client(), q="comet", per_page=8)["items"]
    window = get(make_app(SEARCH_RANK_ALL_MAX=0, SEARCH_CANDIDATES=8, SEARCH_RERANK_WEIGHT=0.0).test_client(), q="comet", per_page=8)["items"]
    title_matches = {hashes[n] for n in STRONG if n not in SHY}
    assert {i["hash"] for i in ranked[:5]} == {i["hash"] for i in window[:5]} == title_matches


def test_name_filters_are_fts_terms_that_follow_the_links(comets):
    app, db, hashes = comets
    client = app.test_client()
    assert {i["hash"] for i in get(client, q="comet", performer="Ann Lee")["items"]} == {hashes[n] for n in STRONG + WEAK if n not in SHY}
    db.execute("DELETE FROM video_performers WHERE hash = ?", [hashes[1]])
    vdb.get_or_create_name(db, "performers", "Bo Vale")
    db.execute("INSERT INTO video_performers (hash, performer_id, position) VALUES (?, (SELECT id FROM performers WHERE name = 'Bo Vale'), 0)", [hashes[1]])
    assert hashes[1] not in {i["hash"] for i in get(client, q="comet", performer="Ann Lee")["items"]}
    assert [i["hash"] for i in get(client, q="comet", performer="Bo Vale")["items"]] == [hashes[1]]
    db.execute("UPDATE videos SET studio_id = (SELECT id FROM studios WHERE name = 'Dock Films') WHERE hash = ?", [hashes[2]])
    found = get(client, q="comet", studio=["Dock Films", "Nobody Studio"])
    assert [i["hash"] for i in found["items"]] == [hashes[2]] and found["total"] == 1
    assert get(client, q="comet", performer="Nobody At All")["total"] == 0
    # Words that look like the tokens find nothing: search never sends the mark.
    for q in (vdb.FTS_PERFORMER + "1", vdb.FTS_STUDIO + "1", "p1", "s1", "c1"):
        assert get(client, q=q)["total"] == 0, q


@pytest.mark.parametrize("q", ["comet) OR (evening", "(comet", "comet)", ") OR comet NOT (x"])
def test_raw_query_cannot_escape_the_visibility_term(comets, q):
    app, _, _ = comets
    response = app.test_client().get("/search/search-videos", query_string={"q": q, "raw": "true"})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert "parentheses" in response.get_json()["message"]


def test_raw_query_parentheses_inside_strings_are_text(comets):
    app, db, hashes = comets
    found = get(app.test_client(), q='"comet)" OR (night)', raw="true")
    assert found["total"] == visible_count(db, '"comet)" OR (night)') == 8  # comet: 1-10 without 3 and 8


def test_merge_fts_merges_once_and_keeps_results(comets):
    app, db, _ = comets
    client = app.test_client()
    before = {q: get(client, q=q, per_page=20)["items"] for q in ("comet", "evening", "harbour")}
    assert merge_fts(db) >= 1  # twelve inserts and their links left several segments
    assert merge_fts(db) == 0
    db.execute("INSERT INTO video_fts (video_fts) VALUES ('integrity-check')")
    assert {q: get(client, q=q, per_page=20)["items"] for q in before} == before


def test_migration_5_rebuilds_the_index_with_flags(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    db = sqlite_utils.Database(conn)
    for index, step in enumerate(vdb.MIGRATIONS[:4]):
        step(db)
        db.execute(f"PRAGMA user_version = {index + 1}")
    hidden = insert_video(db, 1, "Comet night", performers=("Shy Star",))
    insert_video(db, 2, "Comet dawn", performers=("Ann Lee",))
    db.execute("INSERT INTO content_filters (kind, value, added_at) VALUES ('performer', 'Shy Star', '2024-01-01')")
    assert "flags" not in {r[1] for r in db.execute("PRAGMA table_info(video_fts)")}
    assert vdb.migrate(db) == len(vdb.MIGRATIONS)
    assert db.execute("SELECT COUNT(*) FROM video_fts WHERE video_fts MATCH '\"comet\"'").fetchone()[0] == 2
    flagged = db.execute("SELECT v.hash FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ?", [HIDDEN_TERM]).fetchall()
    assert [r[0] for r in flagged] == [hidden]
    ann = db.execute("SELECT id FROM performers WHERE name = 'Ann Lee'").fetchone()[0]
    assert db.execute("SELECT COUNT(*) FROM video_fts WHERE video_fts MATCH ?", [f'"comet" AND flags : "{vdb.FTS_PERFORMER}{ann}"']).fetchone()[0] == 1


@pytest.mark.parametrize("arrays", [True, False], ids=["arrays", "sql"])
def test_window_plan_with_row_conditions_reads_the_passing_rows_once(make_app, comets, monkeypatch, arrays):
    """A duration condition in the window plan: the title group is the newest title matches
    that pass it, then the newest passing description-only ones; the total is exact, for the
    relevance sort and for the sorts that read more columns. The same with the condition tested
    on the per-process arrays and in SQL."""
    from vidlib.search import engine

    if not arrays:
        monkeypatch.setattr(engine, "visible_rowids", lambda db: None)
    _, db, hashes = comets
    db.execute("UPDATE videos SET duration = 30 WHERE hash IN (?, ?)", [hashes[5], hashes[9]])
    short = {hashes[5], hashes[9]}
    narrow = make_app(SEARCH_RANK_ALL_MAX=0, SEARCH_CANDIDATES=3, SEARCH_RERANK_WEIGHT=0.0).test_client()
    found = get(narrow, q="comet", min_duration=60, per_page=3)
    assert found["total"] == 6 == visible_count(db, '"comet"*') - 2
    assert {i["hash"] for i in found["items"]} == {hashes[6], hashes[4], hashes[2]}
    wide = make_app(SEARCH_RANK_ALL_MAX=0, SEARCH_CANDIDATES=5, SEARCH_RERANK_WEIGHT=0.0).test_client()
    items = get(wide, q="comet", min_duration=60, per_page=5)["items"]
    assert [i["hash"] for i in items] == sorted(hashes[n] for n in (1, 2, 4, 6)) + [hashes[10]]
    assert [i["score"] for i in items] == [1.0] * 4 + [0.5]
    newest = get(wide, q="comet", min_duration=60, per_page=7, sort="newest")
    assert newest["total"] == 6 and [i["hash"] for i in newest["items"]] == [hashes[n] for n in (10, 7, 6, 4, 2, 1)]
    assert not short & {i["hash"] for i in items + newest["items"]}


@pytest.mark.parametrize("settings", [{"SEARCH_RANK_ALL_MAX": 1000}, {"SEARCH_RANK_ALL_MAX": 0, "SEARCH_CANDIDATES": 3}], ids=["ranked", "window"])
def test_duration_and_height_on_the_arrays_agree_with_sql(make_app, comets, monkeypatch, settings):
    """Duration and height conditions are tested on the per-process arrays: the same pages and
    totals as the SQL conditions on the row (the arrays switched off), and a change to a
    video's duration or height is seen by the next search (the ``rows`` counter)."""
    from vidlib.search import engine

    _, db, hashes = comets
    db.execute("UPDATE videos SET duration = 30 WHERE hash IN (?, ?)", [hashes[5], hashes[9]])
    db.execute("UPDATE videos SET height = NULL WHERE hash = ?", [hashes[2]])
    db.execute("UPDATE videos SET height = 1080 WHERE hash IN (?, ?)", [hashes[4], hashes[10]])
    client = make_app(**settings).test_client()
    cases = [{"min_duration": 60}, {"max_duration": 100}, {"min_height": 1000}, {"min_height": 700, "min_duration": 60, "max_duration": 600},
             {"min_height": 700, "performer": "Ann Lee"}, {"min_duration": 601}]

    def pages(params):
        got = [get(client, q="comet", per_page=2, page=p, **params) for p in (1, 2, 3, 4)]
        return got[0]["total"], [(i["hash"], i["score"]) for g in got for i in g["items"]]

    with_arrays = [pages(params) for params in cases]
    monkeypatch.setattr(engine, "visible_rowids", lambda db: None)
    with_sql = [pages(params) for params in cases]
    monkeypatch.undo()
    assert with_arrays == with_sql
    assert [total for total, _ in with_arrays] == [6, 2, 2, 5, 7, 0]
    assert {h for h, _ in with_arrays[2][1]} == {hashes[4], hashes[10]}
    # A changed height is in the next search's arrays.
    db.execute("UPDATE videos SET height = 2160 WHERE hash = ?", [hashes[1]])
    assert pages({"min_height": 1000})[0] == 3


def test_facets_from_the_link_arrays_agree_with_sql(make_app, comets, monkeypatch):
    """Facets are counted on the per-process link arrays: the same names, counts and order as
    the grouped SQL statements (the arrays switched off), with and without words, past the
    facet limit (ties ordered by name without ASCII case); a new link, a renamed name and a
    changed studio are seen by the next count (the ``links`` counter), and a throttled rebuild
    counts in SQL meanwhile."""
    from vidlib.search import engine, facets

    app, db, hashes = comets
    # More names than the facet limit, with ties and case differences in the order.
    for n in range(1, 11):
        for k in range(n, 25):
            name = f"{'Zed' if k % 2 else 'zed'} {k:02d}"
            vdb.get_or_create_name(db, "categories", name)
            category_id = db.execute("SELECT id FROM categories WHERE name = ?", [name]).fetchone()[0]
            db.execute("INSERT INTO video_categories (hash, category_id, position) VALUES (?, ?, ?)", [hashes[n], category_id, k])
    client = app.test_client()
    cases = [{"q": "comet"}, {"q": "evening"}, {"performer": "Ann Lee"}, {}, {"studio": "Dock Films"}, {"q": "nothingmatches"}]

    def facet_lists():
        return [get(client, facets="true", **params)["facets"] for params in cases]

    with_arrays = facet_lists()
    assert facets.link_arrays(db) is not None
    monkeypatch.setattr(engine, "link_arrays", lambda db: None)
    with_sql = facet_lists()
    monkeypatch.undo()
    assert with_arrays == with_sql
    assert len(with_arrays[3]["categories"]) == engine.FACET_LIMIT
    assert with_arrays[0]["studios"] == [{"name": "Plain Studio", "count": 8}]  # videos 3 and 8 are hidden
    assert with_arrays[2]["performers"] == [{"name": "Ann Lee", "count": 10}]

    # Changes: a new link, a renamed performer, another studio.
    db.execute("INSERT INTO video_performers (hash, performer_id, position) VALUES (?, ?, 5)", [hashes[1], vdb.get_or_create_name(db, "performers", "Bo Ray")])
    db.execute("UPDATE performers SET name = 'Ann Lee-Smith' WHERE name = 'Ann Lee'")
    db.execute("UPDATE videos SET studio_id = ? WHERE hash = ?", [vdb.get_or_create_name(db, "studios", "Dock Films"), hashes[2]])
    got = get(client, facets="true", q="comet")["facets"]
    assert {f["name"]: f["count"] for f in got["performers"]} == {"Ann Lee-Smith": 8, "Bo Ray": 1}
    assert {f["name"]: f["count"] for f in got["studios"]} == {"Plain Studio": 7, "Dock Films": 1}
    monkeypatch.setattr(engine, "link_arrays", lambda db: None)
    assert get(client, facets="true", q="comet")["facets"] == got


def test_link_arrays_rebuild_once_the_throttle_allows_and_refuse_imported_ids(make_app, comets, monkeypatch):
    """A stale value is rebuilt only once 20 times the last build's duration has passed, and
    not while another thread computes (SQL counts meanwhile); hashes that are not 16 lowercase hex digits make no arrays."""
    from vidlib import cache
    from vidlib.search import facets

    app, db, hashes = comets
    first = facets.link_arrays(db)
    assert facets.link_arrays(db) is first  # kept while nothing changes
    # As if the build had taken a second: for the next 20 s a stale value is not rebuilt.
    for place in [p for p in cache._computed if p[1] == "link arrays"]:
        cache._computed[place] = (cache.time.monotonic(), 1.0)
    db.execute("DELETE FROM video_performers WHERE hash = ?", [hashes[1]])
    assert facets.link_arrays(db) is None
    assert get(app.test_client(), facets="true", q="comet")["facets"]["performers"] == [{"name": "Ann Lee", "count": 7}]  # counted in SQL
    monkeypatch.setattr(cache.time, "monotonic", lambda real=cache.time.monotonic: real() + 3600)
    with cache._kept_lock:  # as while another thread computes: no waiting for it, SQL counts
        assert facets.link_arrays(db) is None
    fresh = facets.link_arrays(db)
    assert fresh is not None and fresh is not first
    assert fresh.facets([hashes[1]], 20)["performers"] == []
    assert fresh.facets([hashes[2], hashes[2], "00000000000000ff"], 20)["performers"] == [{"name": "Ann Lee", "count": 1}]
    monkeypatch.undo()
    with pytest.raises(ValueError):
        facets.hash_numbers("0123456789ABCDEF", 1)
    with pytest.raises(ValueError):
        facets.hash_numbers("0123456789abcde", 1)
    db.execute(
        "INSERT INTO videos (hash, oshash, path, filename, size, mtime, title, added_at, updated_at) "
        "VALUES ('imported-1', 'imported-1', '/lib/i.mp4', 'i.mp4', 1, 0, 'Imported', '2024-02-01T00:00:00+00:00', '2024-02-01T00:00:00+00:00')"
    )
    monkeypatch.setattr(cache.time, "monotonic", lambda real=cache.time.monotonic: real() + 7200)
    assert facets.link_arrays(db) is None  # an id that is not 16 hex digits: SQL counts
