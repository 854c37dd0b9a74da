"""Site-wide content filters over a real scanned library: the CRUD endpoints, and that a
filtered studio, performer or category is hidden from every route that shows library content.

The last tests walk ``app.url_map``: every rule must be listed either in ``HIDING_CHECKS``
(with a check that runs against a filtered library) or in ``NOT_FILTERED`` (with the reason),
so a route added later fails here until someone decides which it is.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import add_folder, distinct_copy, scan

TOKEN = "filter-admin-token"

# (file name, categories from a .json sidecar)
LIBRARY = [
    ("Acme - 2023-01-01 - Jane Doe, John Roe - Beach Day.mp4", ["Outdoor"]),
    ("Acme - 2023-01-02 - Jane Doe - Beach Night.mp4", ["Outdoor", "Night"]),
    ("Acme - 2023-01-03 - John Roe - Beach Party.mp4", ["Party"]),
    ("Acme - 2023-01-04 - Lou Hart - Beach Sunset.mp4", ["Outdoor"]),  # Lou Hart is only in Acme videos
    ("Blue Films - 2022-01-01 - Ann Lee - Mountain Trip.mp4", ["Outdoor", "Hiking"]),
    ("Blue Films - 2022-01-02 - Ann Lee, Jane Doe - Mountain Lake.mp4", ["Hiking"]),
    ("Blue Films - 2022-01-03 - Ann Lee - Mountain Night.mp4", ["Night"]),
    ("Zebra - 2021-01-01 - Kim Park - City Lights.mp4", ["Urban"]),
    ("Zebra - 2021-01-02 - Kim Park - City Rain.mp4", ["Urban", "Night"]),
    ("Zebra - 2021-01-03 - Kim Park, John Roe - City Beach.mp4", ["Urban"]),
]
# Never hidden by the filters below; the only visible favourite, so the spotlight must pick it.
SPOTLIGHT_TITLE = "City Lights"

# kind -> (value as the filter is typed, canonical name)
FILTERS = {
    "studio": ("acme", "Acme"),  # case-insensitive
    "performer": ("Jane  Doe", "Jane Doe"),  # whitespace normalised
    "category": ("HIKING", "Hiking"),
}


def assert_error(response, code: int) -> dict:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code and body["message"]
    return body


@dataclass
class Video:
    hash: str
    title: str
    studio: str
    performers: list[str]
    categories: list[str]


@dataclass
class Ctx:
    """A scanned, indexed library with one content filter in place, and the expected answers."""

    app: object
    client: object
    kind: str
    name: str
    videos: dict[str, Video]  # title -> video
    hidden: set[str] = field(default_factory=set)
    visible: set[str] = field(default_factory=set)
    media_urls: dict[str, list[str]] = field(default_factory=dict)  # hidden video's media API urls -> file urls
    visible_media: list[str] = field(default_factory=list)

    def visible_videos(self) -> list[Video]:
        return [v for v in self.videos.values() if v.hash in self.visible]

    def counts(self, kind: str) -> dict[str, int]:
        """Visible video count per performer / studio / category name."""
        counter: collections.Counter = collections.Counter()
        for v in self.visible_videos():
            counter.update({"performers": v.performers, "studios": [v.studio], "categories": v.categories}[kind])
        return dict(counter)

    def all_names(self, kind: str) -> set[str]:
        return {n for v in self.videos.values() for n in {"performers": v.performers, "studios": [v.studio], "categories": v.categories}[kind]}


def _build(app, library: Path, tiny_videos) -> dict[str, Video]:
    for n, (name, categories) in enumerate(LIBRARY):
        target = distinct_copy(tiny_videos["base"], library / name, n)
        target.with_suffix(".json").write_text(json.dumps({"categories": categories}))
    add_folder(app, library)
    assert scan(app).new == len(LIBRARY)
    st = app.extensions["vidlib"]
    from vidlib.search.index import rebuild

    rebuild(st.db, st.config)
    client = app.test_client()
    videos = {}
    for row in st.db.execute("SELECT hash FROM videos"):
        data = client.get(f"/api/get-video-data/{row[0]}").get_json()
        videos[data["title"]] = Video(data["hash"], data["title"], data["studio"], data["performers"], data["categories"])
    return videos


def _hidden_by(kind: str, name: str, videos: dict[str, Video]) -> set[str]:
    key = {"studio": lambda v: [v.studio], "performer": lambda v: v.performers, "category": lambda v: v.categories}[kind]
    return {v.hash for v in videos.values() if name in key(v)}


def _generate_media(app, video_hash: str, kinds) -> None:
    from vidlib.media.jobs import generate

    with app.app_context():
        for kind in kinds:
            assert generate(video_hash, kind)["status"] == "done", kind


MEDIA_ROUTES = {
    "poster": "get-poster",
    "preview_thumbnails": "get-preview-thumbnails",
    "seek_thumbnails": "get-seek-thumbnails",
    "teaser_small": "get-teaser-small",
    "teaser_large": "get-teaser-large",
}


def _media_file_urls(body: dict) -> list[str]:
    urls = [body.get("url"), body.get("vtt_url"), body.get("sprite_url")] + list(body.get("urls") or [])
    return sorted({u for u in urls if u})


def make_ctx(app, library, tiny_videos, kind: str) -> Ctx:
    videos = _build(app, library, tiny_videos)
    client = app.test_client()
    typed, name = FILTERS[kind]
    hidden = _hidden_by(kind, name, videos)
    ctx = Ctx(app, client, kind, name, videos, hidden, {v.hash for v in videos.values()} - hidden)
    assert ctx.hidden and ctx.visible and videos[SPOTLIGHT_TITLE].hash in ctx.visible
    # Media of one hidden video (and the poster of a visible one), served before the filter.
    target = sorted(hidden)[0]
    _generate_media(app, target, MEDIA_ROUTES)
    for media_kind, path in MEDIA_ROUTES.items():
        r = client.get(f"/api/media/{path}/{target}")
        assert r.status_code == 200, r.get_data(as_text=True)
        files = _media_file_urls(r.get_json())
        assert files and all(client.get(u).status_code == 200 for u in files)
        ctx.media_urls[f"/api/media/{path}/{target}"] = files
    keeper = videos[SPOTLIGHT_TITLE].hash
    _generate_media(app, keeper, ["poster"])
    ctx.visible_media = [f"/api/media/get-poster/{keeper}"] + _media_file_urls(client.get(f"/api/media/get-poster/{keeper}").get_json())
    # Favourites: every hidden video and one visible one (the spotlight's only visible candidate).
    for video_hash in hidden | {keeper}:
        assert client.post(f"/api/add-favourite/{video_hash}").status_code == 200
    # Everything hidden is reachable before the filter.
    for video_hash in hidden:
        assert client.get(f"/api/get-video-data/{video_hash}").status_code == 200
    r = client.post("/api/content-filters", json={"kind": kind, "value": typed})
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["value"] == " ".join(typed.split())
    return ctx


# -- checks, one per content route --------------------------------------------------------------


def _items_hashes(body: dict) -> list[str]:
    return [i["hash"] for i in body["items"]]


def check_video_data(ctx: Ctx) -> None:
    for h in ctx.hidden:
        assert_error(ctx.client.get(f"/api/get-video-data/{h}"), 404)
    for h in ctx.visible:
        assert ctx.client.get(f"/api/get-video-data/{h}").status_code == 200


def check_video_file(ctx: Ctx) -> None:
    for h in ctx.hidden:
        assert_error(ctx.client.get(f"/video/{h}"), 404)
    r = ctx.client.get(f"/video/{sorted(ctx.visible)[0]}")
    assert r.status_code == 200 and r.data[4:8] == b"ftyp"


def check_playback_streams(ctx: Ctx) -> None:
    for h in ctx.hidden:
        for mode in ("remux", "transcode"):
            assert_error(ctx.client.get(f"/video/{h}/{mode}"), 404)
            assert_error(ctx.client.get(f"/api/playback/stream-start/{h}?mode={mode}&t=0"), 404)
    visible = sorted(ctx.visible)[0]
    at = ctx.client.get(f"/api/playback/stream-start/{visible}?mode=transcode&t=0")
    assert at.status_code == 200
    r = ctx.client.get(at.get_json()["url"])
    assert r.status_code == 200 and r.data[4:8] == b"ftyp"


def check_random(ctx: Ctx) -> None:
    for _ in range(30):
        r = ctx.client.get("/api/get-random-video")
        assert r.status_code == 200 and r.get_json()["hash"] in ctx.visible


def check_seeded(ctx: Ctx) -> None:
    for seed in (0, 1, 987654321):
        body = ctx.client.get(f"/api/get-random-video-seeded/{seed}?per_page=200").get_json()
        assert body["total"] == len(ctx.visible) and set(_items_hashes(body)) == ctx.visible
        pages = [h for p in (1, 2, 3, 4) for h in _items_hashes(ctx.client.get(f"/api/get-random-video-seeded/{seed}?per_page=3&page={p}").get_json())]
        assert pages == _items_hashes(body)


def check_spotlight(ctx: Ctx) -> None:
    keeper = ctx.videos[SPOTLIGHT_TITLE].hash
    for _ in range(20):
        assert ctx.client.get("/api/get-random-spotlight-video").get_json()["hash"] == keeper


def check_favourite_routes(ctx: Ctx) -> None:
    for h in ctx.hidden:
        assert_error(ctx.client.get(f"/api/is-favourite/{h}"), 404)
        assert_error(ctx.client.post(f"/api/add-favourite/{h}"), 404)
        assert_error(ctx.client.post(f"/api/remove-favourite/{h}"), 404)
    keeper = ctx.videos[SPOTLIGHT_TITLE].hash
    assert ctx.client.get(f"/api/is-favourite/{keeper}").get_json() == {"hash": keeper, "favourite": True}


def check_name_lists(ctx: Ctx) -> None:
    for kind in ("performers", "studios"):
        expected = ctx.counts(kind)
        body = ctx.client.get(f"/api/get-{kind}?per_page=200").get_json()
        assert {i["name"]: i["count"] for i in body["items"]} == expected, kind
        assert body["total"] == len(expected)
        by_count = ctx.client.get(f"/api/get-{kind}?sort=count&per_page=200").get_json()["items"]
        assert [i["count"] for i in by_count] == sorted(expected.values(), reverse=True)
        # A substring query for a hidden name finds nothing of it.
        for name in ctx.all_names(kind) - set(expected):
            assert ctx.client.get(f"/api/get-{kind}", query_string={"q": name}).get_json()["items"] == []


def check_generation_prioritize(ctx: Ctx) -> None:
    for h in ctx.hidden:
        assert_error(ctx.client.post(f"/api/generation/prioritize/{h}"), 404)


def check_media_info(ctx: Ctx) -> None:
    for api_url, files in ctx.media_urls.items():
        assert_error(ctx.client.get(api_url), 404)
        for url in files:
            assert ctx.client.get(url).status_code == 404, url
    # A visible video's media is still served.
    for url in ctx.visible_media:
        assert ctx.client.get(url).status_code == 200, url


def check_search(ctx: Ctx) -> None:
    c = ctx.client
    listing = c.get("/search/search-videos?per_page=200&facets=true").get_json()
    assert listing["total"] == len(ctx.visible) and set(_items_hashes(listing)) == ctx.visible
    for key in ("studios", "performers", "categories"):
        assert {f["name"]: f["count"] for f in listing["facets"][key]} == ctx.counts(key), key
    words = {w for v in ctx.videos.values() for text in [v.title, v.studio, *v.performers, *v.categories] for w in text.split()}
    for word in sorted(words):
        body = c.get("/search/search-videos", query_string={"q": word, "per_page": 200, "facets": "true"}).get_json()
        found = set(_items_hashes(body))
        assert found <= ctx.visible, word
        assert body["total"] == len(found)
        for key in ("studios", "performers", "categories"):
            counter = collections.Counter(n for v in ctx.visible_videos() if v.hash in found for n in {"studios": [v.studio], "performers": v.performers, "categories": v.categories}[key])
            assert {f["name"]: f["count"] for f in body["facets"][key]} == dict(counter), (word, key)
    # Asking for the hidden name as a filter finds nothing (or, for a category, nothing hidden).
    param = {"studio": "studio", "performer": "performer", "category": "category"}[ctx.kind]
    assert c.get("/search/search-videos", query_string={param: ctx.name}).get_json()["items"] == []
    raw = c.get("/search/search-videos", query_string={"q": "beach OR mountain OR city", "raw": "true", "per_page": 200}).get_json()
    assert set(_items_hashes(raw)) <= ctx.visible and raw["total"] == len(raw["items"])


def check_autocomplete(ctx: Ctx) -> None:
    expected = {"performer": ctx.counts("performers"), "studio": ctx.counts("studios"), "category": ctx.counts("categories")}
    words = {w for v in ctx.videos.values() for text in [v.title, v.studio, *v.performers, *v.categories] for w in text.split()}
    seen_names = set()
    for word in sorted(words):
        for prefix in (word[:2], word):
            for s in ctx.client.get("/search/autocomplete", query_string={"q": prefix, "limit": 50}).get_json():
                if s["kind"] == "title":
                    assert s["hash"] in ctx.visible, (prefix, s)
                else:
                    assert s["value"] in expected[s["kind"]] and s["count"] == expected[s["kind"]][s["value"]], (prefix, s)
                    seen_names.add(s["value"])
    assert ctx.name not in seen_names or ctx.name in expected[ctx.kind]
    assert "Lou Hart" not in seen_names if ctx.kind == "studio" else "Lou Hart" in seen_names


def check_similar_videos(ctx: Ctx) -> None:
    for h in ctx.hidden:
        assert_error(ctx.client.get(f"/search/get-similar-videos/{h}/0/5"), 404)
    for h in ctx.visible:
        body = ctx.client.get(f"/search/get-similar-videos/{h}/0/200").get_json()
        found = _items_hashes(body)
        assert set(found) <= ctx.visible - {h}
        # Paging skips hidden neighbours without holes or repeats.
        paged = [x for start in range(0, len(found) + 2, 2) for x in _items_hashes(ctx.client.get(f"/search/get-similar-videos/{h}/{start}/2").get_json())]
        assert paged == found


def _check_similar_names(ctx: Ctx, kind: str) -> None:
    counts = ctx.counts(kind)
    for name in sorted(ctx.all_names(kind)):
        r = ctx.client.get(f"/search/get-similar-{kind}/{name}")
        if name not in counts:
            assert_error(r, 404)
            continue
        body = r.get_json()
        assert r.status_code == 200 and body["name"] == name
        for item in body["items"]:
            assert item["name"] in counts and item["name"] != name, (name, item)
            assert item["count"] == counts[item["name"]], (name, item)


def check_similar_performers(ctx: Ctx) -> None:
    _check_similar_names(ctx, "performers")


def check_similar_studios(ctx: Ctx) -> None:
    _check_similar_names(ctx, "studios")


HIDING_CHECKS = {
    "/api/get-video-data/<video_hash>": check_video_data,
    "/api/get-random-video": check_random,
    "/api/get-random-video-seeded/<seed>": check_seeded,
    "/api/get-random-spotlight-video": check_spotlight,
    "/api/add-favourite/<video_hash>": check_favourite_routes,
    "/api/remove-favourite/<video_hash>": check_favourite_routes,
    "/api/is-favourite/<video_hash>": check_favourite_routes,
    "/api/get-performers": check_name_lists,
    "/api/get-studios": check_name_lists,
    "/api/generation/prioritize/<video_hash>": check_generation_prioritize,
    "/video/<video_hash>": check_video_file,
    "/video/<video_hash>/<any(remux, transcode):mode>": check_playback_streams,
    "/api/playback/stream-start/<video_hash>": check_playback_streams,
    "/media/<shard>/<video_hash>/<path:name>": check_media_info,
    "/api/media/get-poster/<video_hash>": check_media_info,
    "/api/media/get-preview-thumbnails/<video_hash>": check_media_info,
    "/api/media/get-seek-thumbnails/<video_hash>": check_media_info,
    "/api/media/get-teaser-small/<video_hash>": check_media_info,
    "/api/media/get-teaser-large/<video_hash>": check_media_info,
    "/search/search-videos": check_search,
    "/search/autocomplete": check_autocomplete,
    "/search/get-similar-videos/<video_hash>/<start_from>/<limit>": check_similar_videos,
    "/search/get-similar-performers/<path:performer>": check_similar_performers,
    "/search/get-similar-studios/<path:studio>": check_similar_studios,
}

PAGE_SHELL = "page shell: the same built HTML for any parameter; the page loads its data from the filtered API"

# rule -> (a request that must be refused to a non-loopback client without a token, or None) and why no filter applies
NOT_FILTERED = {
    "/api/folders": (("get", "/api/folders"), "admin: library folders and their raw counts"),
    "/api/folders/<int:folder_id>": (("get", "/api/folders/1"), "admin: one library folder"),
    "/api/rescan": (("post", "/api/rescan"), "admin: queues scans"),
    "/api/duplicates": (("get", "/api/duplicates"), "admin: file-level problems of the library"),
    "/api/collisions": (("get", "/api/collisions"), "admin: file-level problems of the library"),
    "/api/scan-errors": (("get", "/api/scan-errors"), "admin: files that could not be indexed"),
    "/api/content-filters": (("get", "/api/content-filters"), "admin: the filters themselves"),
    "/api/content-filters/<int:filter_id>": (("delete", "/api/content-filters/1"), "admin: the filters themselves"),
    "/api/generation/start": (("post", "/api/generation/start"), "admin: preview media generation dashboard"),
    "/api/generation/status": (("get", "/api/generation/status"), "admin: preview media generation dashboard"),
    "/api/generation/failed": (("get", "/api/generation/failed"), "admin: preview media generation dashboard"),
    "/api/generation/retry": (("post", "/api/generation/retry"), "admin: preview media generation dashboard"),
    "/api/generation/cancel": (("post", "/api/generation/cancel"), "admin: preview media generation dashboard"),
    "/api/watcher/health": (("get", "/api/watcher/health"), "admin: folder watcher health"),
    # The admin session itself: no library data in or out.
    "/api/login": (None, "admin session: takes the token, sets the cookie; no library data"),
    "/api/logout": (None, "admin session: clears the cookie; no library data"),
    "/api/session": (None, "admin session: says whether this browser is admin; no library data"),
    # Public, but only library-wide totals: no names, titles or hashes.
    "/api/stats": (None, "library-wide totals (counts every present video; shows no names or videos)"),
    # The web UI: the same static HTML whatever the URL says; its data comes from the API above.
    "/": (None, PAGE_SHELL),
    "/watch/<video_hash>": (None, PAGE_SHELL),
    "/search": (None, PAGE_SHELL),
    "/performers": (None, PAGE_SHELL),
    "/performer/<path:name>": (None, PAGE_SHELL),
    "/studios": (None, PAGE_SHELL),
    "/studio/<path:name>": (None, PAGE_SHELL),
    "/favourites": (None, PAGE_SHELL),
    "/random": (None, PAGE_SHELL),
    "/dashboard": (None, PAGE_SHELL),
    "/assets/<path:filename>": (None, "hashed build assets of the web UI (no library data)"),
}
# Whole blueprints classified at once (third-party rule sets that change with their version).
NOT_FILTERED_BLUEPRINTS = {"rq_dashboard": (("get", "/rq/"), "admin: the RQ job inspector")}
SKIPPED_ENDPOINTS = ("static", "api-docs.")  # static files, the OpenAPI spec and its UI


def _content_rules(app) -> dict[str, str]:
    return {r.rule: r.endpoint for r in app.url_map.iter_rules() if not r.endpoint.startswith(SKIPPED_ENDPOINTS)}


def test_every_route_is_classified(app):
    rules = _content_rules(app)
    unclassified = sorted(
        rule for rule, endpoint in rules.items()
        if rule not in HIDING_CHECKS and rule not in NOT_FILTERED and endpoint.split(".")[0] not in NOT_FILTERED_BLUEPRINTS
    )
    assert not unclassified, (
        "routes not classified for content filters; add each to HIDING_CHECKS (with a check that a "
        f"filtered studio/performer/category is hidden) or to NOT_FILTERED (with the reason): {unclassified}"
    )
    stale = sorted((set(HIDING_CHECKS) | set(NOT_FILTERED)) - set(rules))
    assert not stale, f"classified routes that no longer exist: {stale}"
    assert not set(HIDING_CHECKS) & set(NOT_FILTERED)
    assert any(endpoint.startswith("rq_dashboard.") for endpoint in rules.values()) or not NOT_FILTERED_BLUEPRINTS


def test_unfiltered_routes_are_admin_only(app):
    client = app.test_client()
    remote = {"REMOTE_ADDR": "10.9.8.7"}
    requests = [req for req, _ in NOT_FILTERED.values() if req] + [req for req, _ in NOT_FILTERED_BLUEPRINTS.values()]
    for method, url in requests:
        r = getattr(client, method)(url, environ_base=remote, json={} if method == "post" else None)
        assert r.status_code == 403, (method, url, r.status_code)
    assert client.get("/api/stats", environ_base=remote).status_code == 200


def test_page_shells_do_not_depend_on_their_parameters(make_app, tmp_path):
    """A page shell cannot leak a hidden video or name: its bytes are the same for any parameter."""
    build = tmp_path / "ui-build"
    app = make_app(UI_BUILD_DIR=str(build))
    shells = {rule: endpoint for rule, endpoint in _content_rules(app).items() if NOT_FILTERED.get(rule, (None, ""))[1] == PAGE_SHELL}
    assert "/watch/<video_hash>" in shells
    adapter = app.url_map.bind("localhost")
    client = app.test_client()
    for rule, endpoint in shells.items():
        page = build / endpoint.split(".", 1)[1]
        page.mkdir(parents=True, exist_ok=True)
        (page / "index.html").write_text(f"<!doctype html><title>{endpoint}</title>")
    for rule, endpoint in shells.items():
        arguments = next(r for r in app.url_map.iter_rules() if r.rule == rule).arguments
        bodies = set()
        for value in ("0123456789abcdef", "Jane Doe", "fedcba9876543210"):
            r = client.get(adapter.build(endpoint, {name: value for name in arguments}))
            assert r.status_code == 200 and r.mimetype == "text/html", rule
            bodies.add(r.data)
        assert len(bodies) == 1, rule


@pytest.mark.parametrize("kind", sorted(FILTERS))
def test_filtered_content_is_hidden_from_every_route(app, library, tiny_videos, kind):
    ctx = make_ctx(app, library, tiny_videos, kind)
    done = set()
    for rule, check in HIDING_CHECKS.items():
        if check not in done:
            check(ctx)
            done.add(check)
    assert {HIDING_CHECKS[rule] for rule in _content_rules(app) if rule in HIDING_CHECKS} == done


@pytest.mark.parametrize("kind", sorted(FILTERS))
def test_removing_the_filter_shows_everything_again(app, library, tiny_videos, kind):
    ctx = make_ctx(app, library, tiny_videos, kind)
    c = ctx.client
    filter_id = c.get("/api/content-filters").get_json()[0]["id"]
    assert c.delete(f"/api/content-filters/{filter_id}").status_code == 204
    everything = ctx.hidden | ctx.visible
    for h in ctx.hidden:
        assert c.get(f"/api/get-video-data/{h}").status_code == 200
        assert c.get(f"/search/get-similar-videos/{h}/0/3").status_code == 200
    assert set(_items_hashes(c.get("/search/search-videos?per_page=200").get_json())) == everything
    assert c.get("/api/get-random-video-seeded/1?per_page=200").get_json()["total"] == len(everything)
    for api_url, files in ctx.media_urls.items():
        assert c.get(api_url).status_code == 200
        assert all(c.get(u).status_code == 200 for u in files)
    all_performers = ctx.all_names("performers")
    assert {i["name"] for i in c.get("/api/get-performers?per_page=200").get_json()["items"]} == all_performers


def test_filters_on_several_kinds_combine(app, library, tiny_videos):
    videos = _build(app, library, tiny_videos)
    c = app.test_client()
    for kind, (typed, _) in FILTERS.items():
        assert c.post("/api/content-filters", json={"kind": kind, "value": typed}).status_code == 201
    hidden = set().union(*(_hidden_by(kind, name, videos) for kind, (_, name) in FILTERS.items()))
    visible = {v.hash for v in videos.values()} - hidden
    assert {v.title for v in videos.values() if v.hash in visible} == {"Mountain Night", "City Lights", "City Rain", "City Beach"}
    assert set(_items_hashes(c.get("/search/search-videos?per_page=200").get_json())) == visible
    assert {i["name"] for i in c.get("/api/get-studios").get_json()["items"]} == {"Blue Films", "Zebra"}


# -- the CRUD endpoints ---------------------------------------------------------------------------------


def test_add_list_and_delete_filters(client):
    assert client.get("/api/content-filters").get_json() == []
    r = client.post("/api/content-filters", json={"kind": "studio", "value": "  Acme   Studio "})
    assert r.status_code == 201
    row = r.get_json()
    assert set(row) == {"id", "kind", "value", "added_at"}
    assert row["kind"] == "studio" and row["value"] == "Acme Studio" and row["added_at"]
    # Idempotent: the same filter (any case, any spacing) is the same row.
    for value in ("Acme Studio", "acme studio", "ACME  STUDIO"):
        again = client.post("/api/content-filters", json={"kind": "studio", "value": value})
        assert again.status_code == 201 and again.get_json() == row
    # The same value for another kind is another filter.
    other = client.post("/api/content-filters", json={"kind": "performer", "value": "Acme Studio"}).get_json()
    assert other["id"] != row["id"]
    assert client.get("/api/content-filters").get_json() == [row, other]
    assert client.delete(f"/api/content-filters/{row['id']}").status_code == 204
    assert client.get("/api/content-filters").get_json() == [other]
    assert_error(client.delete(f"/api/content-filters/{row['id']}"), 404)
    assert_error(client.delete("/api/content-filters/999999"), 404)
    assert client.get("/api/content-filters/abc").status_code == 404  # not an int: no such route


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "tag", "value": "x"},
        {"kind": "Studio", "value": "x"},
        {"kind": "", "value": "x"},
        {"kind": "studio", "value": ""},
        {"kind": "studio", "value": "   "},
        {"kind": "studio", "value": "x" * 501},
        {"kind": "studio"},
        {"value": "x"},
        {"kind": "studio", "value": 5},
        {"kind": "studio", "value": None},
        {"kind": "studio", "value": "x", "id": 3},
        {"kind": "studio", "value": "x", "extra": 1},
        [],
        "studio",
    ],
)
def test_bad_filter_bodies_are_400(client, body):
    assert_error(client.post("/api/content-filters", json=body), 400)
    assert client.get("/api/content-filters").get_json() == []


def test_bad_json_is_400(client):
    r = client.post("/api/content-filters", data="{not json", content_type="application/json")
    assert r.status_code == 400


def test_filter_endpoints_need_the_admin_token(make_app):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    body = {"kind": "category", "value": "Outdoor"}
    calls = [("get", "/api/content-filters", None), ("post", "/api/content-filters", body), ("delete", "/api/content-filters/1", None)]
    for method, url, payload in calls:
        kwargs = {"json": payload} if payload is not None else {}
        r = getattr(client, method)(url, **kwargs)
        assert_error(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(getattr(client, method)(url, headers={"Authorization": "Bearer wrong"}, **kwargs), 403)
        assert_error(getattr(client, method)(url, headers={"X-Admin-Token": TOKEN + "x"}, **kwargs), 403)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    remote = {"REMOTE_ADDR": "192.0.2.10"}  # with a token configured, the address does not matter
    created = client.post("/api/content-filters", json=body, headers=auth, environ_base=remote)
    assert created.status_code == 201
    assert client.get("/api/content-filters", headers={"X-Admin-Token": TOKEN}, environ_base=remote).get_json() == [created.get_json()]
    assert client.delete(f"/api/content-filters/{created.get_json()['id']}", headers=auth, environ_base=remote).status_code == 204
    assert client.get("/api/content-filters", headers=auth).get_json() == []


def test_without_a_token_only_loopback_may_manage_filters(client):
    remote = {"REMOTE_ADDR": "198.51.100.7"}
    assert_error(client.get("/api/content-filters", environ_base=remote), 403)
    assert_error(client.post("/api/content-filters", json={"kind": "studio", "value": "x"}, environ_base=remote), 403)
    assert_error(client.delete("/api/content-filters/1", environ_base=remote), 403)
    assert client.get("/api/content-filters").get_json() == []  # nothing was added
    for addr in ("127.0.0.1", "::1"):
        assert client.post("/api/content-filters", json={"kind": "studio", "value": "x"}, environ_base={"REMOTE_ADDR": addr}).status_code == 201
