"""Keyword search, autocomplete and similarity over a real scanned library (no mocks).

The library is ~50 real (tiny) videos made from one ffmpeg clip: each copy gets a unique
trailer (its own hash), a descriptive file name and sometimes a .json sidecar. It has four
series (same title words, studio and performers), performers shared across studios, unrelated
noise, and a few videos made for particular features (stemming, accents, typos, rerank).
Everything goes through the real scanner, the real SQLite FTS5 table and its triggers, the
real TF-IDF index and the Flask test client.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, add_folder, distinct_copy, scan, wait_until
from vidlib import create_app
from vidlib.search.index import rebuild
from vidlib.search.tfidf import fold
from vidlib.search.tfidf import words as tfidf_words

# Words for long descriptions; none of them is used in a title, a name or a query below.
FILLER = "pebble tundra saffron quartz willow ember lagoon fjord canyon prairie heron thistle juniper basalt cedar drizzle".split()

SERIES = {
    # title words: (studio, performers, categories)
    "Sunset Chronicles": ("Golden Hour", ["Alice Marsh", "Bob Stone"], ["Romance", "Outdoor"]),
    "Harbor Nights": ("Port Films", ["Carla Reyes", "Dan Hollow"], ["Drama"]),
    "Desert Run": ("Dune Studio", ["Eve Kline"], ["Action"]),
    "Frozen Peaks": ("Ice Works", ["Fay Lund", "Gus Moor"], ["Outdoor", "Winter"]),
}
SERIES_LENGTH = 6

# Alice Marsh works with Bob Stone (6 videos), Hana Pike (2) and Ivan Cole (1).
SHARED = [
    ("Coastline", "2022-03-01", ["Alice Marsh", "Hana Pike"], "Seaside Picnic"),
    ("Coastline", "2022-03-02", ["Alice Marsh", "Hana Pike"], "Morning Swim"),
    ("Far Away", "2022-04-01", ["Alice Marsh", "Ivan Cole"], "Night Train"),
]

NOISE = [
    ("City Lights", "Rosa Vale", "Sunset Boulevard Walk"),  # shares a title word with a series
    ("Dockside", "Tom Reed", "Harbor Cranes"),  # likewise
    ("Red Barn", "Olga Finch", "Copper Kettle"),
    ("Nimbus", "Pete Quill", "Paper Lanterns"),
    ("Granite", "Uma West", "Stone Circle"),
    ("Velvet Tape", "Vic Holt", "Jazz Cellar"),
    ("Orbit", "Wes Lark", "Moon Landing"),
    ("Fable", "Xia Chen", "Tea Ceremony"),
    ("Brightside", "Yara Dunn", "Kite Festival"),
    ("Cobalt", "Zane Frost", "Glass Blowing"),
    ("Meridian", "Nora Pratt", "Chess Match"),
    ("Lumen", "Omar Haddad", "Night Market"),
]


@dataclass(frozen=True)
class Entry:
    name: str  # file name
    variant: str = "base"  # key of the tiny_videos fixture
    sidecar: dict | None = None


def library_spec() -> list[Entry]:
    rng = random.Random(7)

    def filler(n: int) -> str:
        return " ".join(rng.choice(FILLER) for _ in range(n))

    entries = []
    for s, (title, (studio, performers, categories)) in enumerate(SERIES.items()):
        for i in range(1, SERIES_LENGTH + 1):
            entries.append(Entry(f"{studio} - 2021-{s + 1:02d}-{i:02d} - {', '.join(performers)} - {title} {i}.mp4", sidecar={"categories": categories}))
    for studio, date, performers, title in SHARED:
        entries.append(Entry(f"{studio} - {date} - {', '.join(performers)} - {title}.mp4"))
    for i, (studio, performer, title) in enumerate(NOISE):
        entries.append(Entry(f"{studio} - 2020-{i + 1:02d}-10 - {performer} - {title}.mp4"))
    entries += [
        Entry("Acme Studio - 2023-05-01 - Jane Doe, Émile Roux - Beach Day.mp4", "tall", {"categories": ["Beach", "Summer"], "description": "A sunny afternoon by the sea with friends."}),
        Entry("Blue Films - 2022-01-15 - Ann Lee - Mountain Trip.mp4", "long"),
        Entry("Blue Films - 2022-02-20 - Ann Lee - Lighthouse Keeper.mp4"),
        Entry("Beach or Mountain.mp4"),
        # Everything from the sidecar except the file name.
        Entry("mystery_clip.mp4", sidecar={"title": "Quiet Harvest", "studio": "Orchard House", "performers": ["Lena Birch"], "categories": ["Countryside"], "description": "Apples gathered under a silver moon."}),
        # Rerank: mentions "volcano" once in a long description ...
        Entry("Zen Garden Walk.mp4", sidecar={"description": filler(60) + " and a volcano far away " + filler(60)}),
        # ... versus a video about volcanoes whose very long description (a transcript) never says it.
        Entry("Volcano.mp4", sidecar={"categories": ["Volcano"], "description": filler(3000)}),
    ]
    return entries


def build_library(root: Path, tiny_videos: dict[str, Path]) -> None:
    for n, entry in enumerate(library_spec()):
        target = distinct_copy(tiny_videos[entry.variant], root / entry.name, n)
        if entry.sidecar:
            target.with_suffix(".json").write_text(json.dumps(entry.sidecar), encoding="utf-8")


@dataclass
class Lib:
    app: object
    client: object
    root: Path
    h: dict  # title -> hash

    @property
    def db(self):
        return self.app.extensions["vidlib"].db

    def title_of(self, video_hash: str) -> str:
        return {v: k for k, v in self.h.items()}[video_hash]


def _scanned(app, root: Path, tiny_videos, index: bool = True) -> Lib:
    build_library(root, tiny_videos)
    add_folder(app, root)
    stats = scan(app)
    assert stats.errors == 0 and stats.new == len(library_spec())
    st = app.extensions["vidlib"]
    if index:
        rebuild(st.db, st.config)
    titles = {r["title"]: r["hash"] for r in st.db.execute("SELECT title, hash FROM videos")}
    assert len(titles) == len(library_spec())  # titles are unique: tests name videos by title
    return Lib(app, app.test_client(), root, titles)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_videos) -> Lib:
    """The labelled library with its index, shared by the tests that only read."""
    base = tmp_path_factory.mktemp("search-shared")
    (base / "library").mkdir()
    app = create_app({"TESTING": True, "DATA_DIR": str(base / "data"), "REDIS_URL": "unix:///nonexistent/vidlib-test.sock"})
    return _scanned(app, base / "library", tiny_videos)


@pytest.fixture()
def labelled(app, library, tiny_videos) -> Lib:
    """A fresh labelled library with its index, for tests that change things."""
    return _scanned(app, library, tiny_videos)


def search(client, **params) -> dict:
    r = client.get("/search/search-videos", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/json"
    return r.get_json()


def titles(client, **params) -> list[str]:
    params.setdefault("per_page", 200)
    return [item["title"] for item in search(client, **params)["items"]]


def assert_error(response, code: int) -> dict:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code and body["message"]
    return body


def series_titles(name: str) -> list[str]:
    return [f"{name} {i}" for i in range(1, SERIES_LENGTH + 1)]


# -- the library itself ------------------------------------------------------------------------


def test_trailer_copies_probe_like_the_original(tiny_videos, tmp_path):
    from vidlib.library.hashing import oshash
    from vidlib.library.probe import probe

    a = distinct_copy(tiny_videos["base"], tmp_path / "a.mp4", 1)
    b = distinct_copy(tiny_videos["base"], tmp_path / "b.mp4", 2)
    original = probe(str(tiny_videos["base"]))
    assert probe(str(a)).duration == probe(str(b)).duration == original.duration
    assert (probe(str(a)).width, probe(str(a)).height) == (64, 64)
    assert probe(str(tiny_videos["tall"])).height == 144 and probe(str(tiny_videos["long"])).duration == pytest.approx(2.0, abs=0.15)
    assert len({oshash(a)[0], oshash(b)[0], oshash(tiny_videos["base"])[0]}) == 3


# -- FTS kept in sync by triggers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "q, column",
    [("harvest", "title"), ("orchard", "studio"), ("birch", "performers"), ("countryside", "categories"), ("apples", "description"), ("mystery", "filename")],
)
def test_scanned_video_is_findable_by_each_field(shared, q, column):
    assert "Quiet Harvest" in titles(shared.client, q=q)
    # The word is in exactly that column of the FTS row (a raw column filter finds it there).
    assert titles(shared.client, q=f"{column}:{q}", raw="true") == ["Quiet Harvest"]


def test_names_from_file_names_are_searchable(shared):
    assert set(titles(shared.client, q="golden hour")) == set(series_titles("Sunset Chronicles"))
    assert set(titles(shared.client, q="carla reyes")) == set(series_titles("Harbor Nights"))
    assert titles(shared.client, q="winter") and set(titles(shared.client, q="winter")) == set(series_titles("Frozen Peaks"))
    assert set(titles(shared.client, q="Alice Marsh")) == set(series_titles("Sunset Chronicles")) | {"Seaside Picnic", "Morning Swim", "Night Train"}


def test_sidecar_change_and_rescan_updates_search(labelled):
    client = labelled.client
    sidecar = labelled.root / "mystery_clip.json"
    before = {"harvest", "orchard", "birch", "countryside", "apples"}
    for word in before:
        assert titles(client, q=word)[:1] == ["Quiet Harvest"], word
    sidecar.write_text(json.dumps({"title": "Loud Festival", "studio": "Night Owl", "performers": ["Mara Quinn"], "categories": ["Urban"], "description": "Drums at dawn."}))
    later = os.stat(sidecar).st_mtime + 10
    os.utime(sidecar, (later, later))
    stats = scan(labelled.app)
    assert stats.updated == 1
    for word in before:
        assert "Quiet Harvest" not in titles(client, q=word) and "Loud Festival" not in titles(client, q=word), word
    for word in ("loud", "owl", "quinn", "urban", "drums", "mystery"):
        assert titles(client, q=word) == ["Loud Festival"], word
    # One FTS row per video: the triggers replaced rows, they did not add any.
    db = labelled.db
    assert db.execute("SELECT COUNT(*) FROM video_fts").fetchone()[0] == db.execute("SELECT COUNT(*) FROM videos").fetchone()[0]


def test_renamed_file_is_found_by_its_new_name(labelled):
    old = labelled.root / "Blue Films - 2022-02-20 - Ann Lee - Lighthouse Keeper.mp4"
    old.rename(labelled.root / "Blue Films - 2022-02-20 - Ann Lee - Harbour Pilot.mp4")
    stats = scan(labelled.app)
    assert stats.moved == 1
    assert titles(labelled.client, q="lighthouse") == []
    found = search(labelled.client, q="harbour pilot")["items"]
    assert [i["hash"] for i in found] == [labelled.h["Lighthouse Keeper"]]


def test_missing_and_removed_videos_disappear_from_results(labelled):
    client = labelled.client
    (labelled.root / "Blue Films - 2022-01-15 - Ann Lee - Mountain Trip.mp4").unlink()
    assert scan(labelled.app).missing == 1
    assert titles(client, q="mountain") == ["Beach or Mountain"]
    assert "Mountain Trip" not in titles(client)
    assert search(client)["total"] == len(library_spec()) - 1
    # A row deleted outright takes its FTS row with it (delete trigger).
    db = labelled.db
    rowid = db.execute("SELECT rowid FROM videos WHERE hash = ?", [labelled.h["Lighthouse Keeper"]]).fetchone()[0]
    db.execute("DELETE FROM videos WHERE hash = ?", [labelled.h["Lighthouse Keeper"]])
    assert db.execute("SELECT COUNT(*) FROM video_fts WHERE rowid = ?", [rowid]).fetchone()[0] == 0
    assert titles(client, q="lighthouse") == []
    # Removing the folder marks everything missing: nothing is found any more.
    folder_id = db.execute("SELECT id FROM folders").fetchone()[0]
    assert client.delete(f"/api/folders/{folder_id}").status_code == 204
    assert search(client, q="sunset")["items"] == [] and search(client)["total"] == 0


def test_rebuild_fts_cli_restores_the_same_results(labelled):
    queries = ["sunset", "alice", "outdoor", "apples", "mystery", "emile", "moun"]
    expected = {q: [i["hash"] for i in search(labelled.client, q=q, per_page=200)["items"]] for q in queries}
    assert all(expected.values())
    db = labelled.db
    db.execute("DELETE FROM video_fts")
    assert all(search(labelled.client, q=q)["items"] == [] for q in queries)
    result = labelled.app.test_cli_runner().invoke(args=["rebuild-fts"])
    assert result.exit_code == 0, result.output
    assert f"full-text index rebuilt: {len(library_spec())} videos" in result.output
    assert {q: [i["hash"] for i in search(labelled.client, q=q, per_page=200)["items"]] for q in queries} == expected


# -- language: stemming, accents, case, prefixes, typos ---------------------------------------------


def test_stemming_accents_case_and_prefix(shared):
    c = shared.client
    assert "Mountain Trip" in titles(c, q="mountains")
    for q in ("emile", "Émile", "ÉMILE", "roux"):
        assert titles(c, q=q) == ["Beach Day"], q
    assert set(titles(c, q="BEACH")) == set(titles(c, q="beach")) == {"Beach Day", "Beach or Mountain"}
    for q in ("moun", "Moun", "mountai"):
        assert "Mountain Trip" in titles(c, q=q), q
    # The last word is a prefix; all words must match.
    assert titles(c, q="mountain tri") == ["Mountain Trip"]
    assert titles(c, q="beach da") == ["Beach Day"]


@pytest.mark.parametrize(
    "typo, word, title",
    [
        ("lighthoxse", "lighthouse", "Lighthouse Keeper"),  # one wrong letter
        ("lighthose", "lighthouse", "Lighthouse Keeper"),  # one missing
        ("lighthouuse", "lighthouse", "Lighthouse Keeper"),  # one extra
        ("lihgthouse", "lighthouse", "Lighthouse Keeper"),  # two letters swapped
        ("mountein", "mountain", "Mountain Trip"),
        ("mountan", "mountain", "Mountain Trip"),
        ("mountaain", "mountain", "Mountain Trip"),
        ("moutnain", "mountain", "Mountain Trip"),
        ("chronciles", "chronicles", "Sunset Chronicles 3"),
        ("hollwo", "hollow", "Harbor Nights 2"),  # a performer's name
    ],
)
def test_typos_are_corrected(shared, typo, word, title):
    body = search(shared.client, q=typo, per_page=200)
    assert title in [i["title"] for i in body["items"]]
    assert body["corrected"] == word


def test_typo_in_one_word_of_several(shared):
    body = search(shared.client, q="mountan trip")
    assert [i["title"] for i in body["items"]] == ["Mountain Trip"]
    assert body["corrected"] == "mountain trip"


def test_no_correction_for_short_words_exact_matches_or_far_words(shared):
    short = search(shared.client, q="trpi")  # 4 letters: not corrected
    assert short["items"] == [] and short["corrected"] is None
    assert search(shared.client, q="lighthouse")["corrected"] is None
    far = search(shared.client, q="lxghthoxse")  # two edits away
    assert far["items"] == [] and far["corrected"] is None


def test_no_typo_correction_before_the_index_is_built(app, library, tiny_videos):
    lib = _scanned(app, library, tiny_videos, index=False)
    body = search(lib.client, q="lihgthouse")
    assert body["items"] == [] and body["corrected"] is None
    # Search itself works without the index: plain bm25 order, the best match scores 1.
    found = search(lib.client, q="lighthouse")
    assert [i["title"] for i in found["items"]] == ["Lighthouse Keeper"] and found["items"][0]["score"] == 1.0


# -- safety: user text is never FTS syntax, nothing gives a 500 ------------------------------------


def _random_text(n: int) -> str:
    rng = random.Random(42)
    alphabet = "abcdefghijklmnopqrstuvwxyz      \"'*()-:^+{}[],.;NEAROT\\/é日😀"
    return "".join(rng.choice(alphabet) for _ in range(n))


HOSTILE = [
    '"', '""', "AND(", "*", "NEAR", "NEAR(a b)", "-", "title:beach", "studio : x", "^", "'); DROP TABLE videos;--",
    "a OR b", "beach NOT day", "(", ")", "{title}: beach", "NEAR(beach day, 2)", "beach*", "+beach", "%", "_", "\\",
    "😀🎬", "日本語のビデオ", "שלום עולם", "مرحبا", "e\u0301mile", "\u200d", "\ufeff", "x" * 300,
    _random_text(10 * 1024), "\x00", "beach\x00day",
]


@pytest.mark.parametrize("q", HOSTILE, ids=[repr(q[:20]) for q in HOSTILE])
def test_hostile_queries_answer_200(shared, q):
    for params in ({"q": q}, {"q": q, "facets": "true", "sort": "title"}, {"q": q, "studio": q[:500], "performer": q[:500], "category": q[:500]}):
        body = search(shared.client, **params)
        assert isinstance(body["items"], list) and body["total"] >= len(body["items"])
    r = shared.client.get("/search/autocomplete", query_string={"q": q[:500]})
    assert r.status_code == 200 and isinstance(r.get_json(), list)
    # The videos table is still there.
    assert shared.db.execute("SELECT COUNT(*) FROM videos").fetchone()[0] == len(library_spec())


def hashes(client, **params) -> list[str]:
    return [i["hash"] for i in search(client, per_page=200, **params)["items"]]


def test_operators_are_plain_words(shared):
    c = shared.client
    # As a column filter "title:beach" would find only titles; as words it needs "title" too.
    assert hashes(c, q="title:beach") == hashes(c, q="title beach")
    assert hashes(c, q="studio : x") == hashes(c, q="studio x")
    assert hashes(c, q="NEAR(beach day)") == hashes(c, q="near beach day")
    # OR is the word "or" (FTS5 operators are upper case): only the video whose title has all three words.
    assert titles(c, q="beach OR mountain") == ["Beach or Mountain"]
    assert hashes(c, q="a OR b") == hashes(c, q="a or b")
    # "-day" is not NOT day.
    assert titles(c, q="beach -day") == ["Beach Day"]
    assert titles(c, q="beach AND day") == titles(c, q="beach and day")
    # Quotes are not phrase syntax either.
    assert hashes(c, q='"day beach"') == hashes(c, q="day beach")


def test_raw_mode_uses_fts_syntax(shared):
    c = shared.client
    assert set(titles(c, q="title:beach", raw="true")) == {"Beach Day", "Beach or Mountain"}
    assert titles(c, q="categories:beach", raw="true") == ["Beach Day"]
    assert set(titles(c, q="beach NOT day", raw="true")) == {"Beach or Mountain"}
    assert set(titles(c, q="mountain OR lighthouse", raw="true")) == {"Mountain Trip", "Lighthouse Keeper", "Beach or Mountain"}
    assert titles(c, q="NEAR(beach day)", raw="true") == ["Beach Day"]
    assert set(titles(c, q="{title filename}: harbor", raw="true")) == set(series_titles("Harbor Nights")) | {"Harbor Cranes"}


@pytest.mark.parametrize("q", ["AND(", '"', "beach:", "NEAR(x y, abc)", "*x", "-x", "nosuchcolumn:x", "(" * 300 + "x", "x OR", "^", "'x'"])
def test_raw_mode_invalid_syntax_is_400(shared, q):
    body = assert_error(shared.client.get("/search/search-videos", query_string={"q": q, "raw": "true"}), 400)
    assert "invalid raw search query" in body["message"]


# -- filters, sort, paging, facets ----------------------------------------------------------------


def test_studio_filter_is_any_of(shared):
    c = shared.client
    both = titles(c, studio=["Golden Hour", "Port Films"])
    assert sorted(both) == sorted(series_titles("Sunset Chronicles") + series_titles("Harbor Nights"))
    assert search(c, studio=["Golden Hour", "Port Films"])["total"] == 12
    assert titles(c, studio="golden hour") == titles(c, studio="Golden Hour")  # names compare case-insensitively
    assert set(titles(c, q="sunset", studio="City Lights")) == {"Sunset Boulevard Walk"}
    assert titles(c, q="chronicles", studio="Port Films") == []
    assert titles(c, studio="No Such Studio") == []


def test_performer_filter_is_all_of(shared):
    c = shared.client
    assert len(titles(c, performer="Alice Marsh")) == 9
    assert set(titles(c, performer=["Alice Marsh", "Hana Pike"])) == {"Seaside Picnic", "Morning Swim"}
    assert titles(c, performer=["Alice Marsh", "Hana Pike", "Bob Stone"]) == []
    assert set(titles(c, q="night", performer="Alice Marsh")) == {"Night Train"}


def test_category_filter(shared):
    c = shared.client
    assert sorted(titles(c, category="Outdoor")) == sorted(series_titles("Sunset Chronicles") + series_titles("Frozen Peaks"))
    assert sorted(titles(c, category=["Outdoor", "Winter"])) == sorted(series_titles("Frozen Peaks"))
    assert titles(c, q="sunset", category="Outdoor", studio="Golden Hour", performer="Bob Stone", per_page=3) == titles(c, q="sunset", category="Outdoor", per_page=3)


def test_duration_and_height_filters(shared):
    c = shared.client
    everything = len(library_spec())
    assert titles(c, min_duration=1) == ["Mountain Trip"]
    assert search(c, max_duration=1)["total"] == everything - 1
    assert titles(c, min_duration=0.4, max_duration=0.6, q="mountain") == ["Beach or Mountain"]
    assert titles(c, min_height=100) == ["Beach Day"]
    assert search(c, min_height=64)["total"] == everything
    assert titles(c, min_height=145) == []


def test_favourites_added_since_and_date_sorts(labelled):
    c, db = labelled.client, labelled.db
    for title in ("Night Train", "Desert Run 2"):
        assert c.post(f"/api/add-favourite/{labelled.h[title]}").status_code == 200
    assert set(titles(c, favourites="true")) == {"Night Train", "Desert Run 2"}
    assert titles(c, favourites="true", q="desert") == ["Desert Run 2"]
    # Give every video its own added_at: the n-th title of the sorted list was added n days after 2020-01-01.
    order = sorted(labelled.h)
    for n, title in enumerate(order):
        db.execute("UPDATE videos SET added_at = ? WHERE hash = ?", [f"{dt.date(2020, 1, 1) + dt.timedelta(days=n)}T12:00:00+00:00", labelled.h[title]])
    assert titles(c, sort="oldest") == order
    assert titles(c, sort="newest") == order[::-1]
    assert titles(c) == order[::-1]  # no text: newest first by default
    since = dt.date(2020, 1, 1) + dt.timedelta(days=40)
    assert titles(c, added_since=since.isoformat(), sort="oldest") == order[40:]
    sunset = series_titles("Sunset Chronicles")
    assert titles(c, q="chronicles", sort="oldest") == [t for t in order if t in sunset]
    assert titles(c, q="chronicles", sort="newest") == [t for t in order if t in sunset][::-1]


def test_duration_and_title_sorts(shared):
    c = shared.client
    for params in ({}, {"q": "a"}, {"q": "walk"}):
        longest = search(c, sort="longest", per_page=200, **params)["items"]
        assert [(-i["duration"], i["hash"]) for i in longest] == sorted((-i["duration"], i["hash"]) for i in longest)
        shortest = search(c, sort="shortest", per_page=200, **params)["items"]
        assert [(i["duration"], i["hash"]) for i in shortest] == sorted((i["duration"], i["hash"]) for i in shortest)
        by_title = titles(c, sort="title", **params)
        assert by_title == sorted(by_title, key=lambda t: fold(t))
    assert titles(c, sort="longest")[0] == "Mountain Trip" and titles(c, sort="shortest")[-1] == "Mountain Trip"
    assert titles(c, sort="title")[:3] == ["Beach Day", "Beach or Mountain", "Chess Match"]


@pytest.mark.parametrize("q", ["", "outdoor"])
def test_random_sort_is_fixed_by_the_seed(shared, q):
    c = shared.client
    first = hashes(c, q=q, sort="random", seed=5)
    assert first == hashes(c, q=q, sort="random", seed=5)
    assert sorted(first) == sorted(hashes(c, q=q))
    assert first != hashes(c, q=q, sort="random", seed=6)
    pages = [i["hash"] for p in range(1, len(first) // 4 + 2) for i in search(c, q=q, sort="random", seed=5, per_page=4, page=p)["items"]]
    assert pages == first


@pytest.mark.parametrize("params", [{}, {"q": "sunset"}, {"q": "outdoor", "sort": "title"}, {"category": "Outdoor", "sort": "oldest"}])
def test_pages_concatenate_without_repeats(shared, params):
    c = shared.client
    full = search(c, per_page=200, **params)
    assert full["total"] == len(full["items"]) > 3
    collected = []
    page = 1
    while True:
        body = search(c, per_page=3, page=page, **params)
        assert body["total"] == full["total"] and body["page"] == page and body["per_page"] == 3
        if not body["items"]:
            break
        collected += [i["hash"] for i in body["items"]]
        page += 1
    assert collected == [i["hash"] for i in full["items"]]
    assert len(set(collected)) == len(collected)


def test_default_and_bad_paging_and_sort(shared):
    c = shared.client
    body = search(c)
    assert body["per_page"] == 48 and body["page"] == 1 and body["sort"] == "newest" and len(body["items"]) == min(48, len(library_spec()))
    assert search(c, q="sunset")["sort"] == "relevance"
    assert len(search(c, per_page=200)["items"]) == len(library_spec())
    for query in ("per_page=0", "per_page=201", "per_page=-3", "per_page=x", "page=0", "page=x", "sort=bogus", "sort=RANDOM", "seed=-1", "min_duration=-1", "min_height=x", "added_since=yesterday", "raw=maybe", "q=" + "x" * 20001):
        body = assert_error(c.get(f"/search/search-videos?{query}"), 400)
        assert "invalid request" in body["message"] or "per_page" in body["message"], query


@pytest.mark.parametrize("params", [{"q": "outdoor"}, {"q": "alice"}, {}, {"q": "night"}, {"studio": ["Golden Hour", "Coastline"]}])
def test_facets_count_the_matches(shared, params):
    body = search(shared.client, facets="true", per_page=200, **params)
    items = body["items"]
    assert body["total"] == len(items)
    expected = {
        "studios": collections.Counter(i["studio"] for i in items if i["studio"]),
        "performers": collections.Counter(p for i in items for p in i["performers"]),
        "categories": collections.Counter(c for i in items for c in i["categories"]),
    }
    for key, counter in expected.items():
        facet = body["facets"][key]
        if len(counter) <= 20:
            assert {f["name"]: f["count"] for f in facet} == dict(counter), key
        else:
            assert len(facet) == 20 and all(counter[f["name"]] == f["count"] for f in facet)
        assert [f["count"] for f in facet] == sorted((f["count"] for f in facet), reverse=True)
    # Facets only on request.
    assert search(shared.client, **params)["facets"] is None


# -- relevance: the TF-IDF blend -------------------------------------------------------------------


def test_rerank_prefers_the_video_about_the_words(make_app, labelled):
    blended = search(labelled.client, q="volcano")["items"]
    plain = search(make_app(SEARCH_RERANK_WEIGHT=0.0).test_client(), q="volcano")["items"]
    # bm25 alone: one mention in a moderately long description beats a title and a category
    # (the long transcript of "Volcano" drags its bm25 down).
    assert [i["title"] for i in plain] == ["Zen Garden Walk", "Volcano"]
    assert plain[0]["score"] == 1.0 > plain[1]["score"]
    # The blend adds the cosine with the video's profile, which is about volcanoes for "Volcano"
    # and says nothing about them for "Zen Garden Walk" (descriptions are not in profiles).
    assert [i["title"] for i in blended] == ["Volcano", "Zen Garden Walk"]
    assert blended[0]["score"] > blended[1]["score"]
    assert blended[1]["score"] == pytest.approx(0.5)  # (1 - 0.5) * 1 + 0.5 * cosine 0


def test_rerank_weight_is_used_between_zero_and_one(make_app, labelled):
    def score_of(client, title):
        return {i["title"]: i["score"] for i in search(client, q="volcano")["items"]}[title]

    scores = [score_of(make_app(SEARCH_RERANK_WEIGHT=w).test_client(), "Volcano") for w in (0.0, 0.25, 0.5, 1.0)]
    bm25, cosine = scores[0], scores[3]
    assert 0 < bm25 < 1 and 0 < cosine <= 1
    assert scores[1] == pytest.approx(0.75 * bm25 + 0.25 * cosine, abs=1e-5)
    assert scores[2] == pytest.approx(0.5 * bm25 + 0.5 * cosine, abs=1e-5)


def test_series_words_rank_the_series_first(shared):
    found = titles(shared.client, q="sunset")
    assert set(found[:SERIES_LENGTH]) == set(series_titles("Sunset Chronicles"))
    assert found[SERIES_LENGTH:] == ["Sunset Boulevard Walk"]
    items = search(shared.client, q="sunset")["items"]
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)


# -- autocomplete ---------------------------------------------------------------------------------


def autocomplete(client, q, **params) -> list[dict]:
    r = client.get("/search/autocomplete", query_string={"q": q, **params})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_autocomplete_kinds(shared):
    c = shared.client
    assert {"kind": "performer", "value": "Jane Doe", "count": 1, "hash": None} in autocomplete(c, "doe")  # a word inside the name
    assert {"kind": "performer", "value": "Alice Marsh", "count": 9, "hash": None} in autocomplete(c, "ali")
    assert {"kind": "studio", "value": "Golden Hour", "count": 6, "hash": None} in autocomplete(c, "gold")
    assert {"kind": "studio", "value": "Golden Hour", "count": 6, "hash": None} in autocomplete(c, "hou")
    assert {"kind": "category", "value": "Outdoor", "count": 12, "hash": None} in autocomplete(c, "outd")
    assert {"kind": "title", "value": "Lighthouse Keeper", "count": None, "hash": shared.h["Lighthouse Keeper"]} in autocomplete(c, "lightho")
    assert {"kind": "title", "value": "Lighthouse Keeper", "count": None, "hash": shared.h["Lighthouse Keeper"]} in autocomplete(c, "keep")
    assert {(s["kind"], s["value"]) for s in autocomplete(c, "beach")} == {("category", "Beach"), ("title", "Beach Day"), ("title", "Beach or Mountain")}
    assert autocomplete(c, "zzzz") == []


def test_autocomplete_titles_beyond_the_rank_limit_are_the_newest(shared, monkeypatch):
    from vidlib.search import engine

    db = shared.app.extensions["vidlib"].db
    expected = [r[0] for r in db.execute(
        "SELECT v.title FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid "
        "WHERE video_fts MATCH 'title : (beach*)' AND v.missing = 0 AND v.hidden = 0 ORDER BY v.rowid DESC"
    )]
    assert len(expected) >= 2
    monkeypatch.setattr(engine, "AUTOCOMPLETE_RANK_ALL_MAX", 1)  # every title set counts as large
    titles = [s["value"] for s in autocomplete(shared.client, "beach", limit=50) if s["kind"] == "title"]
    starts = [t for t in expected if fold(t).startswith("beach")]
    assert titles == starts + [t for t in expected if t not in starts]  # newest first within each group


def test_autocomplete_order_and_limit(shared):
    c = shared.client
    found = autocomplete(c, "mo")
    starts = [fold(s["value"]).startswith("mo") for s in found]
    assert starts == sorted(starts, reverse=True)  # names that start with the text first
    assert ("performer", "Gus Moor") in {(s["kind"], s["value"]) for s in found}
    assert not starts[-1]
    many = autocomplete(c, "s", limit=50)
    assert len(many) > 3
    assert len(autocomplete(c, "s", limit=3)) == 3
    assert len(autocomplete(c, "s")) == min(10, len(many))


def test_autocomplete_empty_and_bad_arguments(shared):
    c = shared.client
    assert autocomplete(c, "") == []
    assert autocomplete(c, "  ") == []
    assert autocomplete(c, "%") == [] and autocomplete(c, "_") == []
    assert_error(c.get("/search/autocomplete"), 400)
    for query in ("q=a&limit=0", "q=a&limit=51", "q=a&limit=x", "q=" + "a" * 501):
        assert_error(c.get(f"/search/autocomplete?{query}"), 400)


# -- similar videos ---------------------------------------------------------------------------------


def similar(client, video_hash, start=0, limit=5) -> dict:
    r = client.get(f"/search/get-similar-videos/{video_hash}/{start}/{limit}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_a_fresh_process_loads_the_index_once_however_many_threads_ask(labelled):
    """A fresh web worker's first burst of requests: all its threads ask for the index at once,
    while the first of them imports the search modules (numpy, scipy, scikit-learn). One
    holder, one load, one index for all: each thread made its own holder and loaded its own
    copy (~170 MB a thread at 100,000 videos, a 780 MiB peak in bench/load.py)."""
    probe = (
        "import logging, sys, threading\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from vidlib import create_app\n"
        f"app = create_app({{'TESTING': True, 'DATA_DIR': {str(labelled.app.config['DATA_DIR'])!r}, 'REDIS_URL': 'unix:///nonexistent/vidlib-test.sock'}})\n"
        "assert 'vidlib.search.index' not in sys.modules\n"
        "st, barrier, got = app.extensions['vidlib'], threading.Barrier(8), []\n"
        "def ask():\n"
        "    barrier.wait(); got.append(st.similarity)\n"
        "threads = [threading.Thread(target=ask) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join(60) for t in threads]\n"
        "print('distinct', len({id(i) for i in got}), 'none', sum(i is None for i in got), 'sklearn', 'sklearn' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("loaded similarity index") == 1, done.stdout
    assert "distinct 1 none 0 sklearn False" in done.stdout, done.stdout  # (scikit-learn: ~70 MB a worker)


def test_similar_videos_precision_at_5(shared):
    precisions = []
    for name in SERIES:
        members = set(series_titles(name))
        for title in members:
            items = similar(shared.client, shared.h[title], 0, 5)["items"]
            assert len(items) == 5
            found = [i["title"] for i in items]
            assert title not in found
            precisions.append(len(members & set(found)) / 5)
            assert precisions[-1] >= 0.8, (title, found)
    assert sum(precisions) / len(precisions) >= 0.9


def test_similar_videos_shape_order_and_self_exclusion(shared):
    for title, video_hash in shared.h.items():
        body = similar(shared.client, video_hash, 0, 20)
        assert video_hash not in [i["hash"] for i in body["items"]], title
        scores = [i["score"] for i in body["items"]]
        assert all(isinstance(s, float) and 0 < s <= 1.000001 for s in scores), title
        assert scores == sorted(scores, reverse=True), title
        assert body["start_from"] == 0 and body["limit"] == 20


def test_similar_videos_paging_is_stable(shared):
    for title in ("Sunset Chronicles 1", "Night Train", "Beach Day", "Harbor Cranes"):
        h = shared.h[title]
        whole = similar(shared.client, h, 0, 6)
        first, second = similar(shared.client, h, 0, 3), similar(shared.client, h, 3, 3)
        joined = [i["hash"] for i in first["items"] + second["items"]]
        assert joined == [i["hash"] for i in whole["items"]], title
        assert len(set(joined)) == len(joined)
        assert first["has_more"] is True
        # Ties (the series members all score the same) are broken the same way every time.
        assert [i["hash"] for i in similar(shared.client, h, 0, 6)["items"]] == [i["hash"] for i in whole["items"]]
    everything = similar(shared.client, shared.h["Night Train"], 0, 200)
    assert everything["has_more"] is False
    assert similar(shared.client, shared.h["Night Train"], len(everything["items"]), 5) == {"items": [], "start_from": len(everything["items"]), "limit": 5, "has_more": False}


def test_similar_videos_bad_arguments(shared):
    c = shared.client
    h = shared.h["Desert Run 1"]
    for start, limit in (("x", "5"), ("-1", "5"), ("0", "0"), ("0", "x"), ("0", "201"), ("1.5", "5"), ("0", "-2"), ("100001", "5")):
        assert_error(c.get(f"/search/get-similar-videos/{h}/{start}/{limit}"), 400)
    assert_error(c.get("/search/get-similar-videos/zz/0/5"), 400)
    assert_error(c.get(f"/search/get-similar-videos/{h.upper()}/0/5"), 400)
    assert_error(c.get("/search/get-similar-videos/0123456789abcdef/0/5"), 404)


# -- similar performers and studios ------------------------------------------------------------------


def test_similar_performers(shared):
    c = shared.client
    r = c.get("/search/get-similar-performers/Alice Marsh")
    assert r.status_code == 200
    body = r.get_json()
    assert body["name"] == "Alice Marsh"
    items = body["items"]
    # Those who share the most videos with her come first: Bob (6), Hana (2), Ivan (1).
    assert [(i["name"], i["count"]) for i in items[:3]] == [("Bob Stone", 6), ("Hana Pike", 2), ("Ivan Cole", 1)]
    assert all(set(i) == {"name", "score", "count"} and i["score"] > 0 for i in items)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    assert "Alice Marsh" not in [i["name"] for i in items]
    assert c.get("/search/get-similar-performers/alice marsh").get_json() == body  # case-insensitive, canonical name
    assert len(c.get("/search/get-similar-performers/Alice Marsh?limit=2").get_json()["items"]) == 2
    assert c.get("/search/get-similar-performers/Bob Stone").get_json()["items"][0] == {"name": "Alice Marsh", "score": items[0]["score"], "count": 9}
    assert_error(c.get("/search/get-similar-performers/Nobody Here"), 404)
    assert_error(c.get("/search/get-similar-performers/Alice Marsh?limit=0"), 400)


def test_similar_studios(shared):
    c = shared.client
    body = c.get("/search/get-similar-studios/Golden Hour").get_json()
    assert body["name"] == "Golden Hour"
    # Coastline has two videos with Alice Marsh, Far Away one.
    assert [(i["name"], i["count"]) for i in body["items"][:2]] == [("Coastline", 2), ("Far Away", 1)]
    assert [i["score"] for i in body["items"]] == sorted((i["score"] for i in body["items"]), reverse=True)
    assert "Golden Hour" not in [i["name"] for i in body["items"]]
    assert c.get("/search/get-similar-studios/Coastline").get_json()["items"][0]["name"] == "Golden Hour"
    assert_error(c.get("/search/get-similar-studios/No Such Studio"), 404)
    assert_error(c.get("/search/get-similar-studios/Golden Hour?limit=201"), 400)


def test_similar_endpoints_answer_503_before_the_first_build(app, library, tiny_videos):
    lib = _scanned(app, library, tiny_videos, index=False)
    for url in (f"/search/get-similar-videos/{lib.h['Desert Run 1']}/0/5", "/search/get-similar-performers/Alice Marsh", "/search/get-similar-studios/Golden Hour"):
        body = assert_error(lib.client.get(url), 503)
        assert "not been built" in body["message"]
    # Unknown and malformed still answer as such.
    assert_error(lib.client.get("/search/get-similar-videos/0123456789abcdef/0/5"), 404)
    assert_error(lib.client.get("/search/get-similar-videos/nothex/0/5"), 400)
    # Once built (here by the CLI), the same process answers.
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0 and f"similarity index: {len(library_spec())} videos" in result.output
    assert similar(lib.client, lib.h["Desert Run 1"])["items"]


# -- index lifecycle: real Redis, real worker processes -------------------------------------------


def _run_worker(data_dir: Path, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": redis_url, "VIDLIB_INDEX_DEBOUNCE_SECONDS": "1", "VIDLIB_MEDIA_AUTO_QUEUE": "0"})
    result = subprocess.run([sys.executable, "worker.py", "--burst", "--no-initial-scan"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _index_jobs(app) -> list[str]:
    queue = app.extensions["vidlib"].queue("index")
    return sorted(queue.scheduled_job_registry.get_job_ids() + queue.get_job_ids())


def _wait_until_due(app) -> None:
    queue = app.extensions["vidlib"].queue("index")
    registry = queue.scheduled_job_registry
    due = max(registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids())
    wait_until(lambda: dt.datetime.now(dt.timezone.utc) > due, timeout=15, message="the debounced rebuild to be due")


def _index_state(app) -> dict:
    return dict(app.extensions["vidlib"].db.execute("SELECT version, built_version, built_at FROM index_state WHERE name = 'similarity'").fetchone())


def test_index_lifecycle_with_a_real_worker(make_app, library, tiny_videos, redis_url):
    from vidlib import jobs

    app = make_app(REDIS_URL=redis_url, INDEX_DEBOUNCE_SECONDS=1)
    client = app.test_client()
    data_dir = Path(app.config["DATA_DIR"])
    # Three folders: one series each, so one rescan is three scan jobs.
    folders = {}
    for n, name in enumerate(("Sunset Chronicles", "Harbor Nights", "Desert Run")):
        studio, performers, _ = SERIES[name]
        folder = library / name.split()[0].lower()
        for i in range(1, 5):
            distinct_copy(tiny_videos["base"], folder / f"{studio} - 2021-01-{i:02d} - {', '.join(performers)} - {name} {i}.mp4", n * 10 + i)
        folders[name] = add_folder(app, folder)
    version_before = _index_state(app)["version"]

    r = client.post("/api/rescan", json={})
    assert r.status_code == 202 and len(r.get_json()["jobs"]) == 3
    _run_worker(data_dir, redis_url)
    # Three scans, three library changes: exactly one rebuild job, waiting for the debounce.
    state = _index_state(app)
    assert state["version"] == version_before + 3 and state["built_at"] is None
    assert _index_jobs(app) == ["index-rebuild"]
    assert app.extensions["vidlib"].queue("index").count == 0
    with app.app_context():
        for _ in range(5):
            jobs.library_changed()
    assert _index_jobs(app) == ["index-rebuild"]
    # Not built yet: similar answers 503 (and asking again queues nothing new).
    h = {r["title"]: r["hash"] for r in app.extensions["vidlib"].db.execute("SELECT title, hash FROM videos")}
    assert len(h) == 12
    assert_error(client.get(f"/search/get-similar-videos/{h['Sunset Chronicles 1']}/0/5"), 503)
    assert _index_jobs(app) == ["index-rebuild"]

    _wait_until_due(app)
    _run_worker(data_dir, redis_url)
    state = _index_state(app)
    assert state["built_version"] == state["version"] == version_before + 8 and state["built_at"]
    assert _index_jobs(app) == []
    first = similar(client, h["Sunset Chronicles 1"], 0, 3)
    assert {i["title"] for i in first["items"]} == {"Sunset Chronicles 2", "Sunset Chronicles 3", "Sunset Chronicles 4"}

    # A second process-like instance on the same data dir loads the same build.
    other = make_app(REDIS_URL=redis_url, INDEX_DEBOUNCE_SECONDS=1)
    other_client = other.test_client()
    assert [i["hash"] for i in similar(other_client, h["Sunset Chronicles 1"], 0, 10)["items"]] == [i["hash"] for i in similar(client, h["Sunset Chronicles 1"], 0, 10)["items"]]
    stamp = other.extensions["vidlib"].similarity.built_at
    assert stamp == state["built_at"]

    # A new series member: rescan its folder, the worker scans it and (debounced) rebuilds.
    new_file = distinct_copy(tiny_videos["base"], library / "sunset" / "Golden Hour - 2021-01-09 - Alice Marsh, Bob Stone - Sunset Chronicles 9.mp4", 99)
    r = client.post("/api/rescan", json={"folder_id": folders["Sunset Chronicles"]})
    assert r.status_code == 202 and r.get_json()["jobs"] == [f"scan-folder-{folders['Sunset Chronicles']}"]
    _run_worker(data_dir, redis_url)
    assert _index_jobs(app) == ["index-rebuild"]
    new_hash = app.extensions["vidlib"].db.execute("SELECT hash FROM videos WHERE filename = ?", [new_file.name]).fetchone()[0]
    # Until the rebuild, the new video is searchable (FTS) but not in similar results.
    assert [i["hash"] for i in search(other_client, q="chronicles 9")["items"]] == [new_hash]
    assert new_hash not in [i["hash"] for i in similar(other_client, h["Sunset Chronicles 1"], 0, 50)["items"]]
    _wait_until_due(app)
    _run_worker(data_dir, redis_url)
    state = _index_state(app)
    assert state["built_version"] == state["version"] and state["built_at"] != stamp
    # The other instance notices the new stamp on its next request and reloads.
    assert new_hash in [i["hash"] for i in similar(other_client, h["Sunset Chronicles 1"], 0, 4)["items"]]
    assert other.extensions["vidlib"].similarity.built_at == state["built_at"] != stamp
    assert similar(other_client, new_hash, 0, 4)["items"][0]["title"].startswith("Sunset Chronicles")


def test_total_is_exact_when_hidden_videos_are_among_the_top_candidates(make_app, library, tiny_videos):
    """With more matches than SEARCH_CANDIDATES and a hidden video among the best ones, the
    total and the pages still count exactly the visible matches."""
    app = make_app(SEARCH_CANDIDATES=3)
    for n in range(8):
        studio = "Hidden House" if n in (0, 1) else "Open Studio"
        distinct_copy(tiny_videos["base"], library / f"{studio} - 2021-01-{n + 1:02d} - Moonrise Harbor {n}.mp4", 500 + n)
    add_folder(app, library)
    scan(app)
    client = app.test_client()
    assert client.get("/search/search-videos", query_string={"q": "moonrise"}).get_json()["total"] == 8
    assert client.post("/api/content-filters", json={"kind": "studio", "value": "Hidden House"}).status_code == 201
    pages = [client.get("/search/search-videos", query_string={"q": "moonrise", "per_page": 2, "page": p}).get_json() for p in (1, 2, 3, 4)]
    assert all(page["total"] == 6 for page in pages)
    titles = [item["title"] for page in pages for item in page["items"]]
    assert len(titles) == len(set(titles)) == 6  # every counted match can be paged to
    assert {item["studio"] for page in pages for item in page["items"]} == {"Open Studio"}


def test_query_vector_is_sklearns_transform(labelled):
    from vidlib.search.index import library_documents
    from vidlib.search.tfidf import fit_vectorizer

    st = labelled.app.extensions["vidlib"]
    with labelled.app.app_context():
        index = st.similarity
        documents = sorted(library_documents(st.db), key=lambda v: v["hash"])
    assert index is not None
    vectorizer, _ = fit_vectorizer(documents, st.config["SIMILARITY_MAX_DF"])  # as the build fits it
    queries = ["volcano", "Volcano volcano garden", "zen garden walk sunset", "ünknown wörds only", "", "sunset sunset sunset beach"]
    for text in queries:
        ours = index.query_vector(text)
        theirs = vectorizer.transform([tfidf_words(text)])
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, text
        assert ours.nnz == theirs.nnz, text
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-6, atol=1e-7, err_msg=text)


def test_an_index_saved_with_sklearns_vectorizer_still_loads(tmp_path):
    """Indexes saved before FittedTerms held the fitted TfidfVectorizer itself: they load (into
    the plain form) and answer the same queries until the next build replaces them."""
    from vidlib.search.tfidf import FittedTerms, build_index, fit_vectorizer, load_index, save_index

    videos = [{"hash": f"{n:016x}", "title": t, "studio": "Acme", "performers": ["Jane Doe"], "categories": []} for n, t in enumerate(["Volcano Walk", "Garden Walk", "Volcano Garden"])]
    index = build_index(videos, 1)
    older = build_index(videos, 1)
    older.vectorizer, _ = fit_vectorizer(sorted(videos, key=lambda v: v["hash"]))
    save_index(older, str(tmp_path / "older.joblib"))
    loaded = load_index(str(tmp_path / "older.joblib"))
    assert isinstance(loaded.vectorizer, FittedTerms) and loaded.vectorizer.vocabulary_ == index.vectorizer.vocabulary_
    for text in ("volcano", "garden walk", "nothing known"):
        np.testing.assert_allclose(loaded.query_vector(text).toarray(), index.query_vector(text).toarray(), err_msg=text)


@pytest.mark.parametrize("titles", [[], ["!!!", "---"], ["Only Words Here"]], ids=["empty", "punctuation", "one-video"])
def test_index_builds_for_degenerate_libraries(titles):
    from vidlib.search.tfidf import build_index

    videos = [{"hash": f"{n:016x}", "title": t, "studio": None, "performers": [], "categories": []} for n, t in enumerate(titles)]
    index = build_index(videos, 1)
    assert index.hashes == [v["hash"] for v in videos]
    assert index.matrix.shape[0] == len(videos)
    assert type(index.vectorizer).__name__ == "FittedTerms"  # plain data: loading it needs no scikit-learn
    assert index.query_vector("words").shape[0] == 1
    if titles == ["Only Words Here"]:
        assert index.query_vector("words").nnz == 1


def test_cosine_from_postings_equals_the_matrix_product(labelled):
    """scores_for looks the candidates up in each query term's postings: same cosines as
    slicing their rows out of the profile matrix and multiplying."""
    with labelled.app.app_context():
        index = labelled.app.extensions["vidlib"].similarity
    hashes = sorted(labelled.h.values()) + ["ffffffffffffffff"]  # one unknown hash is left out
    for text in ["sunset", "Sunset Chronicles harbor", "alice marsh outdoor", "zzz nothing"]:
        query = index.query_vector(text)
        ours = index.scores_for(hashes, query)
        if query.nnz == 0:
            assert ours == {}
            continue
        known = [h for h in hashes if h in index.position]
        theirs = (index.matrix[[index.position[h] for h in known]] @ query.T).toarray().ravel()
        assert list(ours) == known
        np.testing.assert_allclose([ours[h] for h in known], theirs, rtol=1e-6, atol=1e-7, err_msg=text)
        assert any(v > 0 for v in ours.values()), text


def test_last_word_is_exact_only_where_no_longer_term_exists(shared):
    """A last word is sent as an exact term when no other index term starts with its term;
    then it matches exactly what the prefix matched. Words that begin other terms stay
    prefixes, so typing part of a word still finds it."""
    from vidlib.search.engine import fts_query
    from vidlib.search.terms import index_terms, prefix_needed

    db = shared.db
    assert index_terms("Mountains") == ("mountain",) and index_terms("Émile") == ("emil",)
    assert prefix_needed(db, "moun") and prefix_needed(db, "mountai")  # start "mountain"
    assert not prefix_needed(db, "mountain") and not prefix_needed(db, "mountains")
    assert prefix_needed(db, "a b")  # two terms: left as it was
    count = "SELECT count(*) FROM video_fts WHERE video_fts MATCH ?"
    terms = [r[0] for r in db.execute("SELECT term FROM video_fts_vocab WHERE term NOT LIKE ?", ["\ue000%"])]
    assert len(terms) > 100
    exact = 0
    for term in terms:
        as_prefix = db.execute(count, [fts_query([term])]).fetchone()[0]
        if not prefix_needed(db, term):
            exact += 1
            assert db.execute(count, [fts_query([term], prefix_last=False)]).fetchone()[0] == as_prefix, term
        else:
            stem = index_terms(term)  # porter is not idempotent: "lighthous" -> "lighthou"
            assert len(stem) != 1 or [t for t in terms if t != stem[0] and t.startswith(stem[0])], term
    assert exact > len(terms) // 2
    # Through the API: a prefix and the whole word both find the title.
    for q in ("mountain", "mountains", "mount", "chronicles", "chron"):
        assert any("Mountain" in t or "Chronicles" in t for t in titles(shared.client, q=q)), q


def test_records_keep_name_order_and_duplicates(labelled):
    """load_videos gives names in their stored order (position), whatever order SQLite
    aggregates them in, keeps the order of the hashes asked for and leaves unknown ones out."""
    from vidlib.library.videos import load_videos

    db = labelled.db
    video = labelled.h["Seaside Picnic"]
    with labelled.app.app_context():
        before = load_videos(db, [video])[0]
        assert before["performers"] == ["Alice Marsh", "Hana Pike"]
        db.execute("UPDATE video_performers SET position = 1 - position WHERE hash = ?", [video])
        after = load_videos(db, [video])[0]
        assert after["performers"] == ["Hana Pike", "Alice Marsh"]
        other = labelled.h["Night Train"]
        items = load_videos(db, [other, "0000000000000000", video, other])
    assert [i["hash"] for i in items] == [other, video, other]
    assert items[0]["media"].keys() == before["media"].keys() and items[1]["favourite"] is False


def test_long_words_are_tokenized_but_not_cached(shared):
    from vidlib.search import terms

    terms._cached_terms.cache_clear()
    word = "x" * 5000
    assert terms.index_terms(word) == (word,)
    assert terms.index_terms("Mountains") == ("mountain",)
    assert terms._cached_terms.cache_info().currsize == 1
    assert set(titles(shared.client, q="beach " + word)) == {"Beach Day", "Beach or Mountain"}  # any word, as before
