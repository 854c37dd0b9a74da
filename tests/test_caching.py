"""Compiled response dumps, the orjson provider, the ``data`` counter and the listing cache."""

from __future__ import annotations

import json

import pytest
from marshmallow import Schema, fields, post_dump

from tests.test_api import fill
from vidlib import schemas
from vidlib.cache import data_version
from vidlib.db import _DATA_TABLES
from vidlib.routes.dumping import _compile, compile_dump


class _Inner(Schema):
    name = fields.String(required=True)
    count = fields.Integer(dump_default=0)


class _Edge(Schema):
    text = fields.String(allow_none=True)
    number = fields.Integer()
    ratio = fields.Float()
    flag = fields.Boolean()
    tags = fields.List(fields.String())
    inner = fields.Nested(_Inner)
    inners = fields.List(fields.Nested(_Inner))
    many_inner = fields.Nested(_Inner, many=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()))
    raw = fields.Dict()
    renamed = fields.String(data_key="shownAs")
    source = fields.Integer(attribute="elsewhere")
    defaulted = fields.String(dump_default="none given")


class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


EDGE_INPUTS = [
    {},
    {"text": None, "number": None, "ratio": None, "flag": None, "tags": None, "inner": None, "counts": None},
    {"text": 5, "number": "7", "ratio": 3, "flag": 1, "tags": [1, "b", b"c"], "inner": {"name": b"x"}, "inners": [{"name": "a", "count": 2.0}, {"name": "b"}]},
    {"text": b"bytes", "number": 7.9, "ratio": "2.5", "flag": "yes", "many_inner": [{"name": "m"}], "counts": {"a": {"b": "3"}}, "raw": {1: 2}},
    {"renamed": "r", "elsewhere": "42", "source": 1, "defaulted": None, "number": True},
    _Obj(text="object", number=3, inner=_Obj(name="o", count="4"), elsewhere=9),
]


@pytest.mark.parametrize("obj", EDGE_INPUTS, ids=range(len(EDGE_INPUTS)))
def test_compiled_dump_is_marshmallow_dump(obj):
    schema = _Edge()
    expected = json.dumps(schema.dump(obj), sort_keys=True)
    assert json.dumps(_compile(schema, False)(obj), sort_keys=True) == expected
    assert json.dumps(_compile(_Edge(many=True), True)([obj, obj]), sort_keys=True) == json.dumps(_Edge(many=True).dump([obj, obj]), sort_keys=True)


def test_absent_dict_method_key_is_read_like_marshmallow():
    # marshmallow falls back to getattr: a field named like a dict method ("items") that is
    # absent from a dict gets the bound method; the compiled form does the same.
    class Page(Schema):
        items = fields.List(fields.Integer())
        keys = fields.Raw()

    schema = Page()
    assert _compile(schema, False)({"items": [1, "2"], "keys": "k"}) == schema.dump({"items": [1, "2"], "keys": "k"}) == {"items": [1, 2], "keys": "k"}
    for dump in (schema.dump, _compile(schema, False)):
        with pytest.raises(TypeError):
            dump({})


def test_schemas_with_hooks_or_method_fields_keep_marshmallow():
    class Hooked(Schema):
        a = fields.String()

        @post_dump
        def upper(self, data, **kwargs):
            return {k: v.upper() for k, v in data.items()}

    class Methodical(Schema):
        a = fields.Method("get_a")

        def get_a(self, obj):
            return "m"

    for cls in (Hooked, Methodical):
        schema = cls()
        assert compile_dump(schema) is False
        assert "dump" not in schema.__dict__
    assert Hooked().dump({"a": "x"}) == {"a": "X"}


def test_every_response_schema_of_the_api_compiles():
    response_schemas = [obj for obj in vars(schemas).values() if isinstance(obj, type) and issubclass(obj, Schema) and obj is not Schema and obj.__module__ == schemas.__name__ and not obj.__name__.endswith("ArgsSchema")]
    assert len(response_schemas) > 20
    assert [cls.__name__ for cls in response_schemas if not compile_dump(cls())] == []


def test_verify_mode_is_on_in_the_test_suite():
    from vidlib.routes import dumping

    assert dumping.VERIFY, "VIDLIB_VERIFY_DUMPS=1 is set by tests/conftest.py so every test response checks its compiled dump"


def test_orjson_provider_gives_the_standard_encoding(app):
    value = {"a": [1, 2.5, None, True, "é\u2028"], "b": {"c": "d"}, 7: "int key"}
    with app.app_context():
        assert json.loads(app.json.dumps(value)) == json.loads(json.dumps(value))
        big = {"n": 2**70}  # orjson refuses integers beyond 64 bits: Flask's own encoder takes over
        assert json.loads(app.json.dumps(big)) == big
        response = app.json.response(big)
        assert response.mimetype == "application/json" and json.loads(response.get_data()) == big


# -- the data counter ---------------------------------------------------------------------------


def test_data_counter_moves_on_every_change_of_every_shown_table(app, hashes):
    db = app.extensions["vidlib"].db
    h = hashes["mp4"]
    statements = {
        "videos": "UPDATE videos SET title = title || '!' WHERE hash = :h",
        "favourites": "INSERT INTO favourites (hash, added_at) VALUES (:h, 'now')",
        "media": "INSERT INTO media (hash, kind, status, updated_at) VALUES (:h, 'poster', 'queued', 'now')",
        "video_performers": "DELETE FROM video_performers WHERE hash IN (SELECT hash FROM video_performers LIMIT 1)",
        "video_categories": "INSERT OR IGNORE INTO video_categories (hash, category_id) SELECT :h, id FROM categories LIMIT 1",
        "performers": "INSERT INTO performers (name) VALUES ('Somebody New')",
        "studios": "UPDATE studios SET name = name || '?'",
        "categories": "INSERT INTO categories (name) VALUES ('new category')",
        "content_filters": "INSERT INTO content_filters (kind, value, added_at) VALUES ('studio', 'Nobody', 'now')",
    }
    assert set(statements) == set(_DATA_TABLES)
    for table, sql in statements.items():
        before = data_version(db)
        cursor = db.execute(sql, {"h": h})
        if cursor.rowcount:
            assert data_version(db) > before, table
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%\\_data\\_%' ESCAPE '\\'").fetchone()[0] == 3 * len(_DATA_TABLES)


@pytest.fixture()
def hashes(app, library, sample_videos):
    return fill(app, library, sample_videos)


# -- the listing cache --------------------------------------------------------------------------


def _cache(app):
    return app.extensions["vidlib"].response_cache


def test_listing_is_served_from_the_cache_until_the_library_changes(app, client, hashes):
    cache = _cache(app)
    first = client.get("/search/search-videos?sort=newest&per_page=50")
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Cache-Control"] == "no-cache"
    hits = cache.hits
    again = client.get("/search/search-videos?sort=newest&per_page=50")
    assert cache.hits == hits + 1
    assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["X-Content-Type-Options"] == "nosniff"  # the app's headers still come on a hit

    # The browser asks with its ETag: 304, no body.
    not_modified = client.get("/search/search-videos?sort=newest&per_page=50", headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.get_data() == b""

    # A favourite changes the favourites page (and every record's favourite flag).
    assert client.get("/search/search-videos?favourites=true").get_json()["total"] == 0
    assert client.post(f"/api/add-favourite/{hashes['mp4']}").status_code == 200
    favourites = client.get("/search/search-videos?favourites=true").get_json()
    assert favourites["total"] == 1 and favourites["items"][0]["hash"] == hashes["mp4"]
    changed = client.get("/search/search-videos?sort=newest&per_page=50", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    # A change that leaves a listing as it was: made again, same bytes, still a 304.
    studios = client.get("/api/get-studios")
    assert client.post(f"/api/remove-favourite/{hashes['mp4']}").status_code == 200
    hits = cache.hits
    again = client.get("/api/get-studios", headers={"If-None-Match": studios.headers["ETag"]})
    assert again.status_code == 304 and cache.hits == hits


def test_name_lists_follow_content_filters_and_writes_of_other_processes(app, client, hashes):
    studios = {s["name"] for s in client.get("/api/get-studios").get_json()["items"]}
    assert "Acme Studio" in studios
    assert client.post("/api/content-filters", json={"kind": "studio", "value": "Acme Studio"}).status_code == 201
    assert "Acme Studio" not in {s["name"] for s in client.get("/api/get-studios").get_json()["items"]}
    # A write from elsewhere (the worker, a scan: another connection) moves the counter too.
    import sqlite_utils

    other = sqlite_utils.Database(app.extensions["vidlib"].db_path)
    other.execute("DELETE FROM content_filters")
    other.conn.commit()
    other.close()
    assert {s["name"] for s in client.get("/api/get-studios").get_json()["items"]} == studios


def test_searches_with_words_and_errors_are_not_cached(app, client, hashes):
    cache = _cache(app)
    for _ in range(2):
        assert client.get("/search/search-videos?q=beach").status_code == 200
        assert client.get("/api/get-performers?per_page=100000").status_code == 400
    assert cache.hits == 0


def test_cache_can_be_turned_off(make_app, library, sample_videos):
    app = make_app(RESPONSE_CACHE_MB=0)
    fill(app, library, sample_videos, keys=("mp4",))
    response = app.test_client().get("/api/get-studios")
    assert response.status_code == 200 and "ETag" not in response.headers
    assert app.extensions["vidlib"].response_cache is None


def test_cache_keeps_to_its_size(app):
    from vidlib.cache import ResponseCache

    cache = ResponseCache(max_bytes=1000)
    for i in range(20):
        cache.put(f"/k{i}".encode(), 1, b"x" * 100, [])
    assert cache._bytes <= 1000 and cache.get(b"/k19", 1) is not None and cache.get(b"/k0", 1) is None
    assert cache.get(b"/k19", 2) is None  # another library state
    cache.put(b"/big", 1, b"x" * 600, [])  # over a quarter of the cache: not kept
    assert cache.get(b"/big", 1) is None


def test_spotlight_exact_draw_follows_the_weights(app, hashes, monkeypatch):
    import random

    from vidlib.library import videos

    db = app.extensions["vidlib"].db
    config = app.extensions["vidlib"].config
    db.execute("UPDATE videos SET width = 1920, height = 1080 WHERE hash IN (?, ?)", [hashes["mkv"], hashes["mp4"]])
    db.execute("INSERT INTO favourites (hash, added_at) VALUES (?, 'now')", [hashes["mp4"]])  # weight 1 + 2 + 1 = 4 against 2
    monkeypatch.setattr(videos, "SPOTLIGHT_TRIES_ARRAY", 0)  # always the exact draw over the kept candidates
    rng = random.Random(7)
    picks = [videos.spotlight_hash(db, config, rng) for _ in range(900)]
    assert set(picks) == {hashes["mkv"], hashes["mp4"]}
    assert 1.6 < picks.count(hashes["mp4"]) / picks.count(hashes["mkv"]) < 2.5
    # The candidates are kept until the library changes, then read again.
    kept = videos._spotlight_candidates(db, config)
    assert videos._spotlight_candidates(db, config) is kept
    db.execute("DELETE FROM favourites")
    assert videos._spotlight_candidates(db, config) is not kept
    assert {videos.spotlight_hash(db, config, rng) for _ in range(50)} == {hashes["mkv"], hashes["mp4"]}


def test_name_counts_are_kept_until_the_library_changes(app, client, hashes):
    from vidlib.library import videos

    db = app.extensions["vidlib"].db

    def suggestion(prefix):
        found = [s for s in client.get("/search/autocomplete", query_string={"q": prefix}).get_json() if s["kind"] == "studio"]
        return {s["value"]: s["count"] for s in found}

    acme = db.execute("SELECT COUNT(*) FROM videos v JOIN studios s ON s.id = v.studio_id WHERE s.name = 'Acme Studio' AND v.missing = 0 AND v.hidden = 0").fetchone()[0]
    assert acme > 0 and suggestion("acm") == {"Acme Studio": acme}
    assert videos.visible_name_counts(db, "studios") is videos.visible_name_counts(db, "studios")  # kept
    # A video going missing (as a scan would mark it) changes the count at once.
    db.execute("UPDATE videos SET missing = 1 WHERE hash = (SELECT v.hash FROM videos v JOIN studios s ON s.id = v.studio_id WHERE s.name = 'Acme Studio' LIMIT 1)")
    assert suggestion("acm") == ({"Acme Studio": acme - 1} if acme > 1 else {})
    by_count = {n["name"]: n["count"] for n in client.get("/api/get-studios?sort=count").get_json()["items"]}
    assert by_count.get("Acme Studio", 0) == acme - 1
