"""The /api routes through the Flask test client, over a real scanned library (no mocks)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import add_folder, copy_sample, scan

VALID = ("mp4", "webm", "mkv", "short", "noaudio", "unicode", "hostile", "rotated", "large")
BROKEN = ("corrupt", "empty", "text")
TOKEN = "s3cret"


def assert_error(response, code: int) -> dict:
    """The response is the one JSON error envelope with ``code``."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    return body


def hashes_by_name(app) -> dict[str, str]:
    db = app.extensions["vidlib"].db
    return {r["filename"]: r["hash"] for r in db.execute("SELECT filename, hash FROM videos")}


def fill(app, library, sample_videos, keys=VALID) -> dict[str, str]:
    """Copy samples into ``library``, add and scan it; returns {sample key: hash}."""
    for key in keys:
        copy_sample(sample_videos, key, library)
    add_folder(app, library)
    scan(app)
    by_name = hashes_by_name(app)
    return {key: by_name[sample_videos[key].name] for key in keys if sample_videos[key].name in by_name}


@pytest.fixture()
def hashes(app, library, sample_videos) -> dict[str, str]:
    return fill(app, library, sample_videos)


# -- get-video-data ---------------------------------------------------------------------------


def test_get_video_data_fields_from_file_name(client, hashes, sample_videos):
    h = hashes["mp4"]
    r = client.get(f"/api/get-video-data/{h}")
    assert r.status_code == 200
    v = r.get_json()
    assert v["hash"] == h
    assert v["filename"] == sample_videos["mp4"].name
    assert v["title"] == "Beach Day"
    assert v["studio"] == "Acme Studio"
    assert v["date"] == "2023-05-01"
    assert v["performers"] == ["Jane Doe", "John Roe"]
    assert v["categories"] == []
    assert v["favourite"] is False
    assert v["url"] == f"/video/{h}"
    assert v["size"] == sample_videos["mp4"].stat().st_size
    assert v["width"] == 320 and v["height"] == 240
    assert v["video_codec"] == "h264" and v["audio_codec"] == "aac"
    assert v["duration"] == pytest.approx(2.0, abs=0.2)
    assert v["rotation"] == 0
    assert set(v["media"]) == {"poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large"}
    assert all(m["status"] == "missing" for m in v["media"].values())
    # The internal path is not part of the public record.
    assert "path" not in v


def test_get_video_data_plain_name_and_media_status(app, client, hashes):
    h = hashes["mkv"]
    v = client.get(f"/api/get-video-data/{h}").get_json()
    assert v["title"] == "plain title video"
    assert v["studio"] is None and v["date"] is None and v["performers"] == []
    db = app.extensions["vidlib"].db
    db.execute("INSERT INTO media (hash, kind, status, progress, error, updated_at) VALUES (?, 'poster', 'done', 1.0, NULL, 'now')", [h])
    db.execute("INSERT INTO media (hash, kind, status, progress, error, updated_at) VALUES (?, 'teaser_small', 'failed', NULL, 'boom', 'now')", [h])
    media = client.get(f"/api/get-video-data/{h}").get_json()["media"]
    assert media["poster"] == {"status": "done", "progress": 1.0, "error": None, "url": f"/media/{h[:2]}/{h}/poster.jpg?v=now"}
    assert media["teaser_small"] == {"status": "failed", "progress": None, "error": "boom", "url": None}
    assert media["seek_thumbnails"]["status"] == "missing"


def test_get_video_data_unknown_hash_is_404(client, hashes):
    body = assert_error(client.get("/api/get-video-data/0123456789abcdef"), 404)
    assert "0123456789abcdef" in body["message"]


@pytest.mark.parametrize("bad", ["xyz", "0123456789abcdef0", "0123456789ABCDEF", "..etc", "..%5Cetc", "%00", "0123456789abcdeg", "0123456789abcde"])
def test_get_video_data_malformed_hash_is_400(client, bad):
    body = assert_error(client.get(f"/api/get-video-data/{bad}"), 400)
    assert "malformed video hash" in body["message"]


@pytest.mark.parametrize("path", ["/api/get-video-data/../etc", "/api/get-video-data/..%2Fetc", "/api/no-such-route"])
def test_path_outside_the_routes_is_404_envelope(client, path):
    # A "hash" with a slash does not match the route at all; still the JSON envelope.
    assert_error(client.get(path), 404)


def test_missing_video_is_404(app, client, hashes, library, sample_videos):
    h = hashes["noaudio"]
    (library / sample_videos["noaudio"].name).unlink()
    scan(app)
    assert_error(client.get(f"/api/get-video-data/{h}"), 404)
    # but the others are still there
    assert client.get(f"/api/get-video-data/{hashes['mp4']}").status_code == 200


# -- random picks -----------------------------------------------------------------------------


def test_random_video_empty_library_is_404(client):
    assert_error(client.get("/api/get-random-video"), 404)
    assert_error(client.get("/api/get-random-spotlight-video"), 404)


def test_random_video_returns_visible_videos(client, hashes):
    seen = set()
    for _ in range(40):
        r = client.get("/api/get-random-video")
        assert r.status_code == 200
        seen.add(r.get_json()["hash"])
    assert seen <= set(hashes.values())
    assert len(seen) > 1  # 9 videos, 40 draws: all the same is astronomically unlikely


def test_random_video_never_picks_missing(app, client, library, sample_videos):
    hashes = fill(app, library, sample_videos, keys=("mp4", "webm"))
    (library / sample_videos["webm"].name).unlink()
    scan(app)
    for _ in range(20):
        assert client.get("/api/get-random-video").get_json()["hash"] == hashes["mp4"]


def _seeded(client, seed, **params):
    r = client.get(f"/api/get-random-video-seeded/{seed}", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_seeded_order_is_stable_and_pages_concatenate(client, hashes):
    assert len(hashes) >= 6
    full = _seeded(client, 42, per_page=200)
    order = [v["hash"] for v in full["items"]]
    assert full["total"] == len(hashes) and full["seed"] == 42 and full["page"] == 1 and full["per_page"] == 200
    assert sorted(order) == sorted(hashes.values())
    assert [v["hash"] for v in _seeded(client, 42, per_page=200)["items"]] == order
    # pages of 2 concatenate to the full order, with no repeats
    pages = []
    page = 1
    while True:
        body = _seeded(client, 42, page=page, per_page=2)
        assert body["total"] == len(hashes)
        if not body["items"]:
            break
        assert len(body["items"]) <= 2
        pages.extend(v["hash"] for v in body["items"])
        page += 1
    assert pages == order
    assert len(set(pages)) == len(pages)
    # default page size applies when per_page is absent
    assert _seeded(client, 42)["per_page"] == 48


def _reference_seeded_order(seed: int, visible: list[str]) -> list[str]:
    """The documented order, computed independently: SplitMix64(hash XOR SplitMix64(seed)), then hash."""
    mask = (1 << 64) - 1

    def mix(x: int) -> int:
        x = (x + 0x9E3779B97F4A7C15) & mask
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    return sorted(visible, key=lambda h: (mix(int(h, 16) ^ mix(seed)), h))


def test_seeded_order_is_the_documented_one_and_follows_library_changes(app, client, hashes, library, sample_videos):
    from vidlib.db import write_transaction
    from vidlib.filters import add_filter

    db = app.extensions["vidlib"].db
    for seed in (0, 7, 2**63 - 1):
        assert [v["hash"] for v in _seeded(client, seed, per_page=200)["items"]] == _reference_seeded_order(seed, list(hashes.values()))
    before = [v["hash"] for v in _seeded(client, 9, per_page=200)["items"]]  # the process now holds the visible set

    # A video going missing leaves the order at once; the others keep their relative places.
    gone = before[0]
    with write_transaction(db):
        db.execute("UPDATE videos SET missing = 1 WHERE hash = ?", [gone])
    after = [v["hash"] for v in _seeded(client, 9, per_page=200)["items"]]
    assert after == [h for h in before if h != gone]
    # So does a video a content filter hides.
    performer = db.execute("SELECT p.name FROM video_performers vp JOIN performers p ON p.id = vp.performer_id JOIN videos v ON v.hash = vp.hash WHERE v.missing = 0 LIMIT 1").fetchone()
    studio = db.execute("SELECT s.name FROM videos v JOIN studios s ON s.id = v.studio_id WHERE v.missing = 0 LIMIT 1").fetchone()
    assert performer or studio, "the samples need a named video"
    add_filter(db, *(("performer", performer[0]) if performer else ("studio", studio[0])))
    hidden = {r[0] for r in db.execute("SELECT hash FROM videos WHERE hidden = 1")}
    assert hidden and not hidden & {v["hash"] for v in _seeded(client, 9, per_page=200)["items"]}
    # A new video joins without reshuffling the others.
    visible_before = [v["hash"] for v in _seeded(client, 9, per_page=200)["items"]]
    with write_transaction(db):
        db.execute("UPDATE videos SET missing = 0 WHERE hash = ?", [gone])
    body = _seeded(client, 9, per_page=200)
    assert body["total"] == len(visible_before) + 1 and gone in [v["hash"] for v in body["items"]]
    assert [v["hash"] for v in body["items"] if v["hash"] != gone] == visible_before


def test_seeded_order_differs_between_seeds(client, hashes):
    orders = {tuple(v["hash"] for v in _seeded(client, seed, per_page=50)["items"]) for seed in (1, 2, 3)}
    # 9! orders: three seeds giving the same one is practically impossible
    assert len(orders) > 1
    big = 2**63 - 1
    assert _seeded(client, big)["seed"] == big


@pytest.mark.parametrize("seed", ["abc", "-1", "1.5", str(2**63), "%20"])
def test_seeded_bad_seed_is_400(client, seed):
    body = assert_error(client.get(f"/api/get-random-video-seeded/{seed}"), 400)
    assert "seed" in body["message"]


@pytest.mark.parametrize("query", ["per_page=0", "per_page=201", "per_page=-3", "per_page=x", "page=0", "page=abc"])
def test_seeded_bad_paging_is_400(client, query):
    assert_error(client.get(f"/api/get-random-video-seeded/7?{query}"), 400)


def test_max_page_size_is_configurable(make_app):
    client = make_app(MAX_PAGE_SIZE=5).test_client()
    assert client.get("/api/get-random-video-seeded/1?per_page=5").status_code == 200
    assert "at most 5" in assert_error(client.get("/api/get-random-video-seeded/1?per_page=6"), 400)["message"]


def test_spotlight_prefers_the_only_favourite(client, hashes):
    # Every sample is 320x240 (not HD) and has no teaser: the favourite is the only candidate.
    fav = hashes["webm"]
    assert client.post(f"/api/add-favourite/{fav}").status_code == 200
    for _ in range(30):
        r = client.get("/api/get-random-spotlight-video")
        assert r.status_code == 200
        assert r.get_json()["hash"] == fav


def test_spotlight_without_candidates_picks_any_visible(client, hashes):
    picks = {client.get("/api/get-random-spotlight-video").get_json()["hash"] for _ in range(20)}
    assert picks <= set(hashes.values())


def test_spotlight_counts_hd_and_large_teasers(app, client, hashes):
    db = app.extensions["vidlib"].db
    db.execute("UPDATE videos SET width = 1920, height = 1080 WHERE hash = ?", [hashes["mkv"]])
    db.execute("INSERT INTO media (hash, kind, status, updated_at) VALUES (?, 'teaser_large', 'done', 'now')", [hashes["short"]])
    picks = {client.get("/api/get-random-spotlight-video").get_json()["hash"] for _ in range(60)}
    assert picks <= {hashes["mkv"], hashes["short"]}


# -- favourites -------------------------------------------------------------------------------


def test_favourites_add_remove_idempotent(client, hashes):
    h = hashes["mp4"]
    assert client.get(f"/api/is-favourite/{h}").get_json() == {"hash": h, "favourite": False}
    for _ in range(2):
        r = client.post(f"/api/add-favourite/{h}")
        assert r.status_code == 200 and r.get_json() == {"hash": h, "favourite": True}
    assert client.get(f"/api/is-favourite/{h}").get_json()["favourite"] is True
    assert client.get(f"/api/get-video-data/{h}").get_json()["favourite"] is True
    assert client.get("/api/stats").get_json()["favourites"] == 1
    for _ in range(2):
        r = client.post(f"/api/remove-favourite/{h}")
        assert r.status_code == 200 and r.get_json() == {"hash": h, "favourite": False}
    assert client.get(f"/api/is-favourite/{h}").get_json()["favourite"] is False
    assert client.get("/api/stats").get_json()["favourites"] == 0


def test_favourite_endpoints_are_post_only(client, hashes):
    h = hashes["mp4"]
    assert_error(client.get(f"/api/add-favourite/{h}"), 405)
    assert_error(client.get(f"/api/remove-favourite/{h}"), 405)
    assert_error(client.post(f"/api/is-favourite/{h}"), 405)
    assert client.get(f"/api/is-favourite/{h}").get_json()["favourite"] is False


def test_favourite_bad_and_unknown_hash(client, hashes):
    for route in ("add-favourite", "remove-favourite"):
        assert_error(client.post(f"/api/{route}/nothex"), 400)
        assert_error(client.post(f"/api/{route}/0123456789abcdef"), 404)
    assert_error(client.get("/api/is-favourite/nothex"), 400)
    assert_error(client.get("/api/is-favourite/0123456789abcdef"), 404)


# -- performers / studios ---------------------------------------------------------------------


def _names(client, kind, **params):
    r = client.get(f"/api/get-{kind}", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


@pytest.fixture()
def named_library(app, library, sample_videos):
    """Videos whose names give performers and studios with different counts."""
    src = sample_videos["mp4"]
    # distinct content per copy: append bytes so each file has its own hash
    names = [
        "Acme Studio - 2023-05-01 - Jane Doe, John Roe - One.mp4",
        "Acme Studio - 2023-05-02 - Jane Doe - Two.mp4",
        "Acme Studio - 2023-05-03 - Jane Doe & Zed Zulu - Three.mp4",
        "blue films - 2022-01-15 - Ann Lee - Four.mp4",
        "Zebra Pictures - 2021-01-01 - John Roe - Five.mp4",
    ]
    for i, name in enumerate(names):
        target = library / name
        shutil.copy2(src, target)
        with open(target, "ab") as fh:
            fh.write(bytes([i]) * (i + 1))
    add_folder(app, library)
    scan(app)
    return hashes_by_name(app)


def test_performers_counts_and_sorting(client, named_library):
    body = _names(client, "performers")
    assert body["total"] == 4 and body["page"] == 1 and body["per_page"] == 48
    assert body["items"] == [
        {"name": "Ann Lee", "count": 1},
        {"name": "Jane Doe", "count": 3},
        {"name": "John Roe", "count": 2},
        {"name": "Zed Zulu", "count": 1},
    ]
    by_count = _names(client, "performers", sort="count")["items"]
    assert [i["name"] for i in by_count] == ["Jane Doe", "John Roe", "Ann Lee", "Zed Zulu"]
    assert [i["name"] for i in _names(client, "performers", q="jo")["items"]] == ["John Roe"]
    assert [i["name"] for i in _names(client, "performers", q="OE")["items"]] == ["Jane Doe", "John Roe"]
    assert _names(client, "performers", q="%")["total"] == 0  # LIKE wildcards are literal
    assert _names(client, "performers", q="_")["total"] == 0


def test_performers_paging(client, named_library):
    first = _names(client, "performers", per_page=3, page=1)
    second = _names(client, "performers", per_page=3, page=2)
    third = _names(client, "performers", per_page=3, page=3)
    assert first["total"] == second["total"] == 4
    assert [i["name"] for i in first["items"] + second["items"]] == ["Ann Lee", "Jane Doe", "John Roe", "Zed Zulu"]
    assert third["items"] == []


def test_studios_counts_and_sorting(client, named_library):
    body = _names(client, "studios")
    # names sort case-insensitively
    assert body["items"] == [
        {"name": "Acme Studio", "count": 3},
        {"name": "blue films", "count": 1},
        {"name": "Zebra Pictures", "count": 1},
    ]
    assert [i["name"] for i in _names(client, "studios", sort="count")["items"]] == ["Acme Studio", "blue films", "Zebra Pictures"]
    assert _names(client, "studios", q="BLUE")["items"] == [{"name": "blue films", "count": 1}]
    assert _names(client, "studios", per_page=1, page=2)["items"] == [{"name": "blue films", "count": 1}]


@pytest.mark.parametrize("kind", ["performers", "studios"])
@pytest.mark.parametrize("query", ["sort=bogus", "per_page=0", "per_page=1000", "page=0", "q=" + "x" * 201])
def test_name_lists_bad_arguments_are_400(client, kind, query):
    assert_error(client.get(f"/api/get-{kind}?{query}"), 400)


# -- content filters --------------------------------------------------------------------------


def test_studio_filter_hides_everywhere(app, client, named_library):
    from vidlib.filters import add_filter

    db = app.extensions["vidlib"].db
    acme = [h for name, h in named_library.items() if name.startswith("Acme")]
    add_filter(db, "studio", "acme studio")  # case-insensitive
    for h in acme:
        assert_error(client.get(f"/api/get-video-data/{h}"), 404)
        assert_error(client.get(f"/video/{h}"), 404)
    visible = set(named_library.values()) - set(acme)
    for _ in range(20):
        assert client.get("/api/get-random-video").get_json()["hash"] in visible
    seeded = _seeded(client, 5)
    assert seeded["total"] == 2 and {v["hash"] for v in seeded["items"]} == visible
    assert [i["name"] for i in _names(client, "studios")["items"]] == ["blue films", "Zebra Pictures"]
    assert _names(client, "performers")["items"] == [{"name": "Ann Lee", "count": 1}, {"name": "John Roe", "count": 1}]


def test_performer_filter_hides_videos_and_counts(app, client, named_library):
    db = app.extensions["vidlib"].db
    db.execute("INSERT INTO content_filters (kind, value, added_at) VALUES ('performer', 'Jane Doe', 'now')")
    performers = {i["name"]: i["count"] for i in _names(client, "performers")["items"]}
    assert performers == {"Ann Lee": 1, "John Roe": 1}
    assert _names(client, "studios")["items"] == [{"name": "blue films", "count": 1}, {"name": "Zebra Pictures", "count": 1}]
    one = named_library["Acme Studio - 2023-05-01 - Jane Doe, John Roe - One.mp4"]
    assert_error(client.get(f"/api/get-video-data/{one}"), 404)
    assert _seeded(client, 1)["total"] == 2


def test_category_filter_and_spotlight(app, client, hashes):
    from vidlib.filters import add_filter

    db = app.extensions["vidlib"].db
    cat_id = db.execute("INSERT INTO categories (name) VALUES ('Outdoor')").lastrowid
    db.execute("INSERT INTO video_categories (hash, category_id, position) VALUES (?, ?, 0)", [hashes["webm"], cat_id])
    assert client.get(f"/api/get-video-data/{hashes['webm']}").get_json()["categories"] == ["Outdoor"]
    client.post(f"/api/add-favourite/{hashes['webm']}")
    assert client.get("/api/get-random-spotlight-video").get_json()["hash"] == hashes["webm"]
    add_filter(db, "category", "outdoor")
    assert_error(client.get(f"/api/get-video-data/{hashes['webm']}"), 404)
    for _ in range(20):
        assert client.get("/api/get-random-spotlight-video").get_json()["hash"] != hashes["webm"]
        assert client.get("/api/get-random-video").get_json()["hash"] != hashes["webm"]


def test_filter_hiding_everything_gives_404s(app, client, library, sample_videos):
    from vidlib.filters import add_filter

    fill(app, library, sample_videos, keys=("mp4",))
    add_filter(app.extensions["vidlib"].db, "performer", "John Roe")
    assert_error(client.get("/api/get-random-video"), 404)
    assert_error(client.get("/api/get-random-spotlight-video"), 404)
    assert _seeded(client, 3) == {"seed": 3, "page": 1, "per_page": 48, "total": 0, "items": []}


# -- dashboard: folders -----------------------------------------------------------------------


def test_folders_add_list_get_delete(client, library, sample_videos, tmp_path):
    copy_sample(sample_videos, "mp4", library)
    assert client.get("/api/folders").get_json() == []
    r = client.post("/api/folders", json={"path": str(library)})
    assert r.status_code == 201, r.get_data(as_text=True)
    folder = r.get_json()
    assert folder["path"] == os.path.realpath(library)
    assert folder["video_count"] == 0 and folder["reachable"] is True and folder["last_scan_at"] is None
    assert folder["scan_job"] is None  # Redis unreachable: added, but not queued
    listed = client.get("/api/folders").get_json()
    assert [f["id"] for f in listed] == [folder["id"]]
    assert client.get(f"/api/folders/{folder['id']}").get_json()["path"] == folder["path"]
    r = client.delete(f"/api/folders/{folder['id']}")
    assert r.status_code == 204 and r.get_data() == b""
    assert client.get("/api/folders").get_json() == []
    assert_error(client.delete(f"/api/folders/{folder['id']}"), 404)
    assert_error(client.get(f"/api/folders/{folder['id']}"), 404)
    assert_error(client.delete("/api/folders/999"), 404)


def test_folder_delete_marks_videos_missing(app, client, hashes):
    folder_id = client.get("/api/folders").get_json()[0]["id"]
    assert client.get("/api/folders").get_json()[0]["video_count"] == len(hashes)
    assert client.delete(f"/api/folders/{folder_id}").status_code == 204
    stats = client.get("/api/stats").get_json()
    assert stats["videos"] == 0 and stats["missing"] == len(hashes) and stats["folders"] == 0
    assert_error(client.get("/api/get-random-video"), 404)


def test_folder_add_validation_errors(app, client, library, tmp_path):
    data_dir = app.extensions["vidlib"].config["DATA_DIR"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        ({}, 400, "path"),
        ({"path": ""}, 400, "path"),
        ({"path": 12}, 400, "path"),
        ({"path": "relative/dir"}, 400, "absolute"),
        ({"path": str(tmp_path / "nope")}, 400, "does not exist"),
        ({"path": str(a_file)}, 400, "not a folder"),
        ({"path": str(tmp_path / "a\0b")}, 400, "NUL"),
        ({"path": data_dir}, 400, "data dir"),
        ({"path": str(tmp_path)}, 400, "data dir"),  # contains the data dir
    ]
    for body, code, words in cases:
        msg = assert_error(client.post("/api/folders", json=body), code)["message"]
        assert words in msg, (body, msg)
    assert_error(client.post("/api/folders", data="{not json", content_type="application/json"), 400)
    assert client.get("/api/folders").get_json() == []


def test_folder_add_conflicts_are_409(client, library):
    inner = library / "inner"
    inner.mkdir()
    assert client.post("/api/folders", json={"path": str(inner)}).status_code == 201
    assert "already" in assert_error(client.post("/api/folders", json={"path": str(inner)}), 409)["message"]
    assert "already" in assert_error(client.post("/api/folders", json={"path": str(inner) + "/"}), 409)["message"]
    assert "contains" in assert_error(client.post("/api/folders", json={"path": str(library)}), 409)["message"]
    deeper = inner / "deeper"
    deeper.mkdir()
    assert "inside" in assert_error(client.post("/api/folders", json={"path": str(deeper)}), 409)["message"]
    assert len(client.get("/api/folders").get_json()) == 1


# -- dashboard: rescan with a real Redis and a real RQ worker --------------------------------


def test_rescan_queues_once_and_worker_indexes(make_app, library, sample_videos, redis_url, monkeypatch):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from vidlib import state as state_mod
    from vidlib.state import AppState

    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    for key in ("mp4", "webm", "mkv"):
        copy_sample(sample_videos, key, library)
    folder_id = add_folder(app, library)

    r = client.post("/api/rescan", json={})
    assert r.status_code == 202, r.get_data(as_text=True)
    jobs = r.get_json()["jobs"]
    assert jobs == [f"scan-folder-{folder_id}"]
    r2 = client.post("/api/rescan", json={"folder_id": folder_id})
    assert r2.status_code == 202 and r2.get_json()["jobs"] == jobs

    conn = Redis.from_url(redis_url)
    queue = Queue("scan", connection=conn)
    assert queue.job_ids == jobs
    assert client.get("/api/stats").get_json()["videos"] == 0

    # The worker process builds its own state from the same config (as worker.py does).
    monkeypatch.setattr(state_mod, "_process_state", AppState(dict(app.extensions["vidlib"].config)))
    worker = SimpleWorker([queue], connection=conn)
    assert worker.work(burst=True)
    job = queue.fetch_job(jobs[0])
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value()["new"] == 3
    assert queue.count == 0

    stats = client.get("/api/stats").get_json()
    assert stats["videos"] == 3
    assert client.get("/api/get-random-video").status_code == 200
    # A finished job does not block a new request for the same work.
    r3 = client.post("/api/rescan", json={"folder_id": folder_id})
    assert r3.status_code == 202 and r3.get_json()["jobs"] == jobs
    assert queue.job_ids == jobs
    conn.close()


def test_add_folder_queues_first_scan(make_app, library, redis_url):
    from redis import Redis
    from rq import Queue

    client = make_app(REDIS_URL=redis_url).test_client()
    folder = client.post("/api/folders", json={"path": str(library)}).get_json()
    assert folder["scan_job"] == f"scan-folder-{folder['id']}"
    conn = Redis.from_url(redis_url)
    assert Queue("scan", connection=conn).job_ids == [folder["scan_job"]]
    conn.close()


def test_rescan_unknown_folder_and_bad_body(make_app, redis_url):
    client = make_app(REDIS_URL=redis_url).test_client()
    assert_error(client.post("/api/rescan", json={"folder_id": 42}), 404)
    assert_error(client.post("/api/rescan", json={"folder_id": "x"}), 400)
    for too_big in (2**63, 11400714819323198485, 0, -1):  # beyond SQLite's integers: found by schemathesis
        assert_error(client.post("/api/rescan", json={"folder_id": too_big}), 400)
    assert_error(client.get("/api/rescan"), 405)
    r = client.post("/api/rescan", json={})
    assert r.status_code == 202 and r.get_json() == {"jobs": []}


def test_rescan_without_redis_is_503(app, client, library):
    add_folder(app, library)
    body = assert_error(client.post("/api/rescan", json={}), 503)
    assert "unavailable" in body["message"].lower()


# -- dashboard: problems and stats ------------------------------------------------------------


def test_duplicates_collisions_scan_errors_stats(app, client, library, sample_videos):
    keys = ("mp4", "webm") + BROKEN
    hashes = fill(app, library, sample_videos, keys=keys)
    copy_sample(sample_videos, "mp4", library / "sub", name="copy of beach.mp4")
    scan(app)
    dups = client.get("/api/duplicates").get_json()
    assert dups == [{"hash": hashes["mp4"], "path": str(library / sample_videos["mp4"].name), "copies": [str(library / "sub" / "copy of beach.mp4")]}]
    assert client.get("/api/collisions").get_json() == []
    errors = client.get("/api/scan-errors").get_json()
    assert sorted(os.path.basename(e["path"]) for e in errors) == sorted(sample_videos[k].name for k in BROKEN)
    assert all(e["reason"] and e["at"] for e in errors)
    stats = client.get("/api/stats").get_json()
    assert stats["videos"] == 2 and stats["duplicates"] == 1 and stats["scan_errors"] == 3 and stats["collisions"] == 0
    assert stats["folders"] == 1 and stats["studios"] == 2 and stats["performers"] == 3
    assert stats["total_bytes"] == sum(sample_videos[k].stat().st_size for k in ("mp4", "webm"))
    assert stats["total_duration"] == pytest.approx(4.0, abs=0.3)


def test_collisions_listing(app, client, hashes):
    db = app.extensions["vidlib"].db
    db.execute(
        "INSERT INTO collisions (oshash, hash_a, path_a, hash_b, path_b, found_at) VALUES (?, ?, '/a', ?, '/b', 'then')",
        [hashes["mp4"], hashes["mp4"], hashes["webm"]],
    )
    assert client.get("/api/collisions").get_json() == [
        {"oshash": hashes["mp4"], "hash_a": hashes["mp4"], "path_a": "/a", "hash_b": hashes["webm"], "path_b": "/b", "found_at": "then"}
    ]
    assert client.get("/api/stats").get_json()["collisions"] == 1


# -- admin rules ------------------------------------------------------------------------------

ADMIN_REQUESTS = [
    ("post", "/api/add-favourite/{h}", None),
    ("post", "/api/remove-favourite/{h}", None),
    ("get", "/api/folders", None),
    ("post", "/api/folders", {"path": "/nonexistent-dir-for-auth-test"}),
    ("get", "/api/folders/1", None),
    ("delete", "/api/folders/999", None),
    ("post", "/api/rescan", {"folder_id": 999}),
    ("get", "/api/duplicates", None),
    ("get", "/api/collisions", None),
    ("get", "/api/scan-errors", None),
]
READ_REQUESTS = ["/api/get-video-data/{h}", "/api/is-favourite/{h}", "/api/get-random-video", "/api/get-random-video-seeded/1",
                 "/api/get-random-spotlight-video", "/api/get-performers", "/api/get-studios", "/api/stats", "/api/openapi.json"]


def _call(client, method, url, body, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return getattr(client, method)(url, **kwargs)


def test_admin_token_required(make_app, library, sample_videos):
    app = make_app(ADMIN_TOKEN=TOKEN)
    h = fill(app, library, sample_videos, keys=("mp4",))["mp4"]
    client = app.test_client()
    for method, url, body in ADMIN_REQUESTS:
        url = url.format(h=h)
        r = _call(client, method, url, body)
        assert_error(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(_call(client, method, url, body, headers={"Authorization": "Bearer wrong"}), 403)
        assert_error(_call(client, method, url, body, headers={"X-Admin-Token": "s3cre"}), 403)
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Admin-Token": TOKEN}, {"Authorization": f"bearer {TOKEN}"}):
            r = _call(client, method, url, body, headers=headers)
            assert r.status_code not in (401, 403), (method, url, headers, r.get_data(as_text=True))
    # The token also works from a non-loopback address; reads need no token.
    r = client.post(f"/api/add-favourite/{h}", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 200 and r.get_json()["favourite"] is True
    for url in READ_REQUESTS:
        assert client.get(url.format(h=h), environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200, url


def test_admin_token_successes(make_app, library, tmp_path):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/api/folders", json={"path": str(library)}, headers=auth)
    assert r.status_code == 201
    assert client.get("/api/folders", headers={"X-Admin-Token": TOKEN}).get_json()[0]["path"] == os.path.realpath(library)
    assert client.delete(f"/api/folders/{r.get_json()['id']}", headers=auth).status_code == 204


def test_without_token_only_loopback_may_administer(client, hashes):
    h = hashes["mp4"]
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    for method, url, body in ADMIN_REQUESTS:
        body_json = assert_error(_call(client, method, url.format(h=h), body, environ_base=remote), 403)
        assert "ADMIN_TOKEN" in body_json["message"]
        # a token sent without one configured does not help
        assert_error(_call(client, method, url.format(h=h), body, environ_base=remote, headers={"X-Admin-Token": "anything"}), 403)
    for url in READ_REQUESTS:
        assert client.get(url.format(h=h), environ_base=remote).status_code == 200, url
    assert client.get(f"/video/{h}", environ_base=remote).status_code == 200
    # Loopback (IPv4 and IPv6) may.
    for addr in ("127.0.0.1", "127.5.6.7", "::1"):
        assert client.get("/api/folders", environ_base={"REMOTE_ADDR": addr}).status_code == 200, addr
    assert client.get("/api/is-favourite/" + h).get_json()["favourite"] is False


# -- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_json_lists_paths(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    spec = json.loads(r.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "vidlib"
    paths = spec["paths"]
    for path in (
        "/api/get-video-data/{video_hash}", "/api/get-random-video", "/api/get-random-video-seeded/{seed}",
        "/api/get-random-spotlight-video", "/api/add-favourite/{video_hash}", "/api/remove-favourite/{video_hash}",
        "/api/is-favourite/{video_hash}", "/api/get-performers", "/api/get-studios", "/api/folders",
        "/api/folders/{folder_id}", "/api/rescan", "/api/duplicates", "/api/collisions", "/api/scan-errors",
        "/api/stats", "/video/{video_hash}",
    ):
        assert path in paths, path
    assert set(paths["/api/add-favourite/{video_hash}"]) >= {"post"}
    assert "get" not in paths["/api/add-favourite/{video_hash}"]
    params = {p["name"] for p in paths["/api/get-performers"]["get"]["parameters"]}
    assert {"q", "sort", "page", "per_page"} <= params
