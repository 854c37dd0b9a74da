"""The web UI in real headless Chromium (Playwright) against a live server on a generated library.

One library for the module: a handful of ffmpeg-made videos, scanned, with every kind of
preview media generated in-process and the similarity index built; a second folder is added
later through the dashboard. The app runs under werkzeug's threaded server in a thread, on the
session's private Redis, with an admin token configured (so the login prompt is exercised).

Nothing here is skipped: without Chromium or without a frontend build the tests fail and say
what to install or run. Screenshots of every page at 1440x900 and 390x844 go to
``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.conftest import ROOT, ffmpeg, wait_until

BUILD = ROOT / "templates_static"
ARTIFACTS = ROOT / "tests" / "artifacts"
TOKEN = "ui-test-admin-token"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# (file name, seconds, lavfi source, with audio); the first is the one the player tests use.
FIRST_FOLDER = [
    ("Acme Studio - 2023-05-01 - Jane Doe, John Roe - Beach Day.mp4", 12, "testsrc2=size=640x360:rate=25", True),
    ("Acme Studio - 2023-06-11 - Jane Doe - Beach Night.mp4", 4, "mandelbrot=size=320x180:rate=25", False),
    ("Blue Films - 2022-01-15 - Ann Lee - Mountain Trip.mp4", 4, "smptehdbars=size=640x360:rate=25", True),
    ("Blue Films - 2022-03-02 - Ann Lee, Jane Doe - Mountain Lake.mp4", 4, "rgbtestsrc=size=320x180:rate=25", False),
    ("Zebra - 2021-01-01 - Kim Park - City Lights.mp4", 4, "testsrc=size=320x180:rate=25", False),
]
SECOND_FOLDER = [
    ("Nova Pictures - 2024-02-02 - Max Stone - Desert Run.mp4", 3, "cellauto=s=320x180:rate=25", False),
    ("Nova Pictures - 2024-02-03 - Max Stone - Desert Storm.mp4", 3, "life=s=320x180:rate=25:mold=10", False),
]
KINDS = ("poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large")


def chromium_path() -> str:
    path = os.environ.get("VIDLIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.isfile(path):
        pytest.fail(f"Chromium is not installed ({path} missing): `apt-get install chromium` (./vidlib.sh test installs it)")
    return path


def make_videos(folder: Path, specs) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, seconds, source, audio in specs:
        path = folder / name
        inputs = ["-f", "lavfi", "-i", source]
        if audio:
            inputs += ["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"]
        codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-g", "25"]
        codecs += ["-c:a", "aac", "-shortest"] if audio else ["-an"]
        ffmpeg(*inputs, "-t", str(seconds), *codecs, "-movflags", "+faststart", "-metadata", f"comment={name}", str(path))
        paths.append(path)
    return paths


@dataclass
class Site:
    base: str
    app: object
    second_folder: Path
    hashes: dict[str, str] = field(default_factory=dict)  # title -> hash

    def url(self, path: str) -> str:
        return self.base + path

    def work_queues(self, *names: str) -> None:
        """Run what is queued on ``names`` with an in-process RQ burst worker (inside the app)."""
        from rq import SimpleWorker

        st = self.app.extensions["vidlib"]
        with self.app.app_context():
            worker = SimpleWorker([st.queue(n) for n in names], connection=st.redis)
            worker.work(burst=True, with_scheduler=False, logging_level="WARNING")


@pytest.fixture(scope="module")
def site(tmp_path_factory, redis_server):
    if not (BUILD / "home" / "index.html").is_file():
        pytest.fail("the web UI is not built: run `cd frontend && npm ci && npm run build` (./vidlib.sh test does it first)")
    from redis import Redis
    from werkzeug.serving import make_server

    from vidlib import create_app
    from vidlib.library.scanner import Scanner
    from vidlib.media.jobs import generate
    from vidlib.search.index import rebuild

    conn = Redis.from_url(redis_server)
    conn.flushall()
    conn.close()
    root = tmp_path_factory.mktemp("ui")
    make_videos(root / "library", FIRST_FOLDER)
    make_videos(root / "more", SECOND_FOLDER)
    app = create_app({"TESTING": True, "DATA_DIR": str(root / "data"), "REDIS_URL": redis_server, "ADMIN_TOKEN": TOKEN, "INDEX_DEBOUNCE_SECONDS": 0})
    st = app.extensions["vidlib"]
    from vidlib.library.folders import add_folder

    with app.app_context():
        add_folder(st.db, st.config, str(root / "library"))
        Scanner(st.db, st.config).scan_all()
        hashes = {r["title"]: r["hash"] for r in st.db.execute("SELECT hash, title FROM videos")}
        for video_hash in hashes.values():
            for kind in KINDS:
                assert generate(video_hash, kind)["status"] == "done", (video_hash, kind)
        st.db.execute("INSERT INTO favourites (hash, added_at) VALUES (?, '2024-01-01T00:00:00+00:00')", [hashes["City Lights"]])
        rebuild(st.db, st.config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_port}", app, root / "more", hashes)
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Console:
    """Collects console errors, uncaught exceptions and Content-Security-Policy violations of one page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        # A CSP violation also logs a console error; the event says exactly what was refused.
        page.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

    @staticmethod
    def csp_violations(page) -> list[str]:
        return page.evaluate("window.__cspViolations")


def new_page(browser, viewport=DESKTOP, token: bool = True, mobile: bool = False):
    from vidlib.auth import SESSION_COOKIE, make_session

    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile, device_scale_factor=1)
    if token:  # as if logged in on the dashboard (the dashboard test logs in through the dialog)
        value, _ = make_session(TOKEN, 3600)
        context.add_cookies([{"name": SESSION_COOKIE, "value": value, "domain": "127.0.0.1", "path": "/", "httpOnly": True, "sameSite": "Strict"}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return page, Console(page)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def titles(page) -> list[str]:
    return page.locator("main article.card .title").all_inner_texts()


# -- every page ------------------------------------------------------------------------------


def pages(site: Site) -> list[tuple[str, str, str]]:
    """(artifact name, path, a selector that shows the page rendered its content)."""
    return [
        ("home", "/", "#browse article.card"),
        ("watch", f"/watch/{site.hashes['Beach Day']}", ".player video"),
        ("search", "/search?q=beach", "main article.card"),
        ("performers", "/performers", ".name-card"),
        ("performer", "/performer/" + quote("Jane Doe"), "main article.card"),
        ("studios", "/studios", ".name-card"),
        ("studio", "/studio/" + quote("Blue Films"), "main article.card"),
        ("favourites", "/favourites", "main article.card"),
        ("random", "/random", "main article.card"),
        ("dashboard", "/dashboard", "table.counts"),
    ]


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_every_page_renders_without_console_errors(site, browser, device):
    page, console = new_page(browser, DESKTOP if device == "desktop" else PHONE, mobile=device == "phone")
    for name, path, selector in pages(site):
        page.goto(site.url(path))
        page.wait_for_selector(selector)
        page.wait_for_load_state("networkidle")
        assert page.locator("header .searchbox input").is_visible(), name
        shot(page, f"{name}-{device}")
        assert console.errors == [], (name, console.errors)
        assert console.csp_violations(page) == [], name
    # A page that does not exist in the library is a designed state, not a blank page.
    page.goto(site.url("/watch/0123456789abcdef"))
    page.wait_for_selector("text=Video not found")
    page.context.close()


def test_empty_states_are_designed(site, browser):
    page, console = new_page(browser)
    page.goto(site.url("/search?q=zzzzqqqq"))
    page.wait_for_selector("text=No videos found")
    page.goto(site.url("/performer/" + quote("Nobody At All")))
    page.wait_for_selector("text=No videos for Nobody At All")
    # offline: the header says so
    page.context.set_offline(True)
    page.wait_for_selector("text=You are offline")
    page.context.set_offline(False)
    page.context.close()


def test_empty_library_and_unreachable_server_states(site, browser):
    page, _ = new_page(browser)
    empty = {"items": [], "total": 0, "page": 1, "per_page": 48, "sort": "title", "corrected": None, "facets": None}
    page.route("**/search/search-videos*", lambda route: route.fulfill(json=empty))
    page.route("**/api/get-random-spotlight-video", lambda route: route.fulfill(status=404, json={"code": 404, "message": "the library has no videos"}))
    page.route("**/api/get-random-video-seeded/**", lambda route: route.fulfill(json={**empty, "seed": 1}))
    page.goto(site.url("/"))
    page.wait_for_selector("text=Your library is empty")
    assert page.locator("a.btn", has_text="Open the dashboard").get_attribute("href") == "/dashboard"
    shot(page, "empty-library-desktop")
    page.unroute("**/search/search-videos*")
    page.route("**/search/search-videos*", lambda route: route.abort("connectionrefused"))
    page.goto(site.url("/favourites"))
    page.wait_for_selector("text=Cannot reach vidlib")
    page.unroute("**/search/search-videos*")
    page.locator("button", has_text="Try again").click()
    page.wait_for_selector("main article.card")
    page.context.close()


# -- the player ------------------------------------------------------------------------------


def test_video_plays_seeks_with_sprite_thumbnails_and_keyboard(site, browser):
    page, console = new_page(browser)
    page.goto(site.url(f"/watch/{site.hashes['Beach Day']}"))
    page.wait_for_selector("h1:has-text('Beach Day')")
    video = page.locator(".player video")
    page.locator(".player").hover()
    if page.locator(".big-play").count():
        page.locator(".big-play").click()
    page.wait_for_function("() => { const v = document.querySelector('.player video'); return v.readyState >= 2 && v.currentTime > 0.3 && !v.paused; }")
    first = video.evaluate("v => v.currentTime")
    wait_until(lambda: video.evaluate("v => v.currentTime") > first + 0.3, timeout=5, message="currentTime to advance")

    # Hovering the seek bar shows the sprite thumbnail for that time.
    bar = page.locator(".seekbar")
    box = bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    thumb = page.locator(".seek-thumb")
    thumb.wait_for()
    style = thumb.get_attribute("style")
    assert "sprite.jpg" in style and "background-position" in style, style
    assert page.locator(".seek-time").inner_text().strip() not in ("", "0:00")
    sprite_loaded = page.evaluate(
        "url => new Promise(r => { const i = new Image(); i.onload = () => r(i.naturalWidth); i.onerror = () => r(0); i.src = url; })",
        re.search(r"url\(['\"]?([^'\")]+)", style).group(1),
    )
    assert sprite_loaded > 0

    # Clicking there seeks.
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    wait_until(lambda: 8.0 <= video.evaluate("v => v.currentTime") <= 11.9, timeout=5, message="seek to 75 %")

    # Keyboard: k pauses, j goes back 10 s, m mutes; the volume choice survives a reload.
    page.locator("h1").click()  # focus the page, not a control
    page.keyboard.press("k")
    wait_until(lambda: video.evaluate("v => v.paused"), timeout=3, message="k to pause")
    before = video.evaluate("v => v.currentTime")
    page.keyboard.press("j")
    wait_until(lambda: video.evaluate("v => v.currentTime") < before - 5, timeout=3, message="j to seek back")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("m")
    assert video.evaluate("v => v.muted") is True
    page.reload()
    page.wait_for_selector(".player video")
    wait_until(lambda: page.locator(".player video").evaluate("v => v.muted") is True, timeout=5, message="remembered mute")
    page.keyboard.press("m")
    assert console.errors == []
    page.context.close()


def test_similar_videos_listed_on_the_watch_page(site, browser):
    page, console = new_page(browser)
    page.goto(site.url(f"/watch/{site.hashes['Mountain Trip']}"))
    page.wait_for_selector(".similar article.card")
    similar = page.locator(".similar article.card .title").all_inner_texts()
    assert "Mountain Trip" not in similar
    assert similar[0] == "Mountain Lake"  # same studio and performer
    assert console.errors == []
    page.context.close()


def test_a_visitors_watch_page_asks_nothing_that_needs_the_admin_token(site, browser):
    """Opening a video moves its missing media to the front of the queue when the browser may
    administer; a visitor's page does not send that request to be refused (a 401 in its
    console on every video)."""
    for admin in (False, True):
        page, console = new_page(browser, token=admin)
        posted, refused = [], []
        page.on("request", lambda r: "/api/generation/prioritize/" in r.url and posted.append(r.method))
        page.on("response", lambda r: r.status in (401, 403) and refused.append(r.url))
        url = site.url(f"/watch/{site.hashes['Beach Day']}")
        if admin:
            with page.expect_request(lambda r: "/api/generation/prioritize/" in r.url):
                page.goto(url)
        else:
            with page.expect_response(lambda r: r.url.endswith("/api/session")):
                page.goto(url)
        page.wait_for_selector(".player video")
        page.wait_for_load_state("networkidle")
        assert refused == [] and console.errors == [], (admin, refused, console.errors)
        assert posted == (["POST"] if admin else []), admin
        page.context.close()


# -- cards -------------------------------------------------------------------------------------


def test_hovering_a_card_plays_its_teaser_and_scrubs_previews(site, browser):
    page, console = new_page(browser)
    page.goto(site.url("/"))
    card = page.locator(f"#browse article.card[data-hash='{site.hashes['Beach Day']}'] a.thumb")
    card.wait_for()
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=4)
    teaser = card.locator("video.teaser")
    teaser.wait_for(state="attached")
    assert "teaser_small.mp4" in teaser.get_attribute("src")
    wait_until(lambda: teaser.evaluate("v => !v.paused && v.currentTime > 0"), timeout=8, message="the teaser to play")
    # Moving across the card scrubs through the preview stills.
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2, steps=3)
    scrub = card.locator("img.scrub")
    scrub.wait_for()
    assert "/preview/09.jpg" in scrub.get_attribute("src")
    page.mouse.move(0, 0)
    wait_until(lambda: card.locator("video.teaser").count() == 0, timeout=3, message="the teaser to stop")
    assert console.errors == []
    page.context.close()


def test_long_press_on_touch_plays_the_teaser(site, browser):
    page, console = new_page(browser, PHONE, mobile=True)
    page.goto(site.url("/favourites"))
    card = page.locator("main article.card a.thumb").first
    card.wait_for()
    box = card.bounding_box()
    cdp = page.context.new_cdp_session(page)
    point = [{"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": point})
    card.locator("video.teaser").wait_for(state="attached", timeout=3000)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert page.url.endswith("/favourites")  # a long press previews, it does not navigate
    assert console.errors == []
    page.context.close()


# -- favourites --------------------------------------------------------------------------------


def test_favourite_toggle_persists_across_reload(site, browser):
    page, console = new_page(browser)
    target = site.hashes["Mountain Trip"]
    page.goto(site.url(f"/watch/{target}"))
    button = page.locator(".info .fav-button")
    button.wait_for()
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    wait_until(lambda: button.get_attribute("aria-pressed") == "true" and button.is_enabled(), timeout=5, message="favourite on")
    page.reload()
    page.locator(".info .fav-button[aria-pressed='true']").wait_for()
    page.goto(site.url("/favourites"))
    page.wait_for_selector(f"article.card[data-hash='{target}']")
    page.goto(site.url(f"/watch/{target}"))
    page.locator(".info .fav-button[aria-pressed='true']").click()
    page.locator(".info .fav-button[aria-pressed='false']").wait_for()
    page.reload()
    page.locator(".info .fav-button[aria-pressed='false']").wait_for()
    assert console.errors == []
    page.context.close()


# -- search --------------------------------------------------------------------------------------


def test_search_as_you_type_and_filter_chips_live_in_the_url(site, browser):
    page, console = new_page(browser)
    page.goto(site.url("/search"))
    page.wait_for_selector("main article.card")
    assert len(titles(page)) == len(FIRST_FOLDER)

    page.locator("#site-search").press_sequentially("mountain", delay=30)
    wait_until(lambda: sorted(titles(page)) == ["Mountain Lake", "Mountain Trip"], timeout=5, message="results for 'mountain'")
    assert parse_qs(urlparse(page.url).query)["q"] == ["mountain"]
    # autocomplete suggests the names too
    page.locator("#search-suggestions").wait_for()

    page.locator("#site-search").fill("")
    page.locator("#site-search").press_sequentially("beach", delay=30)
    wait_until(lambda: sorted(titles(page)) == ["Beach Day", "Beach Night"], timeout=5, message="results for 'beach'")
    page.keyboard.press("Escape")

    # A performer chip from the facets narrows the results and lands in the URL.
    page.locator("[data-facet='performer'] button.chip", has_text="John Roe").click()
    wait_until(lambda: titles(page) == ["Beach Day"], timeout=5, message="performer filter")
    query = parse_qs(urlparse(page.url).query)
    assert query["performer"] == ["John Roe"] and query["q"] == ["beach"]

    # Favourites chip: none of the beach videos is a favourite.
    page.locator("button.chip", has_text="♥ Favourites").click()
    page.wait_for_selector("text=No videos found")
    assert parse_qs(urlparse(page.url).query)["favourites"] == ["1"]

    # Back undoes one step; the bookmarked URL restores the same state.
    page.go_back()
    wait_until(lambda: titles(page) == ["Beach Day"], timeout=5, message="back to the performer filter")
    bookmarked = page.url
    page.goto(site.url("/"))
    page.goto(bookmarked)
    page.wait_for_selector("main article.card")
    assert titles(page) == ["Beach Day"]
    assert page.locator("[data-facet='performer'] button.chip.active").inner_text().startswith("John Roe")

    # Duration chips and sort are URL state too.
    page.goto(site.url("/search?duration=short&sort=longest"))
    page.wait_for_selector("main article.card")
    assert titles(page)[0] == "Beach Day"
    assert page.locator("button.chip.active", has_text="Under 10 min").count() == 1
    assert console.errors == []
    page.context.close()


def test_performer_and_studio_pages(site, browser):
    page, console = new_page(browser)
    page.goto(site.url("/performers"))
    page.locator(".tools input[type=search]").fill("ann")
    wait_until(lambda: page.locator(".name-card .name").all_inner_texts() == ["Ann Lee"], timeout=5, message="performer filter")
    page.locator(".name-card", has_text="Ann Lee").click()
    page.wait_for_url("**/performer/Ann%20Lee")
    page.wait_for_selector("main article.card")
    assert sorted(titles(page)) == ["Mountain Lake", "Mountain Trip"]
    page.wait_for_selector("section[aria-label='Similar performers'] .name-card")
    page.goto(site.url("/studios?sort=count"))
    page.wait_for_selector(".name-card")
    assert page.locator(".name-card .name").all_inner_texts()[:2] == ["Acme Studio", "Blue Films"]
    assert console.errors == []
    page.context.close()


def test_random_shuffle_is_shareable(site, browser):
    page, console = new_page(browser)
    page.goto(site.url("/random"))
    page.wait_for_selector("main article.card")
    seed = parse_qs(urlparse(page.url).query)["seed"][0]
    order = titles(page)
    page.locator("button", has_text="Shuffle again").click()
    wait_until(lambda: parse_qs(urlparse(page.url).query)["seed"][0] != seed, timeout=5, message="a new seed")
    page.goto(site.url(f"/random?seed={seed}"))
    page.wait_for_selector("main article.card")
    assert titles(page) == order
    assert console.errors == []
    page.context.close()


# -- dashboard -----------------------------------------------------------------------------------


def visible_titles(site: Site, page) -> set[str]:
    page.goto(site.url("/"))
    page.wait_for_selector("#browse article.card")
    return set(titles(page))


def test_dashboard_asks_for_the_token_adds_a_folder_generates_media_and_filters(site, browser):
    page, console = new_page(browser, token=False)
    page.goto(site.url("/dashboard"))
    dialog = page.locator("dialog.token-dialog")
    dialog.wait_for()
    dialog.locator("input").fill(TOKEN)
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("table.counts")
    # Logged in by an HttpOnly, SameSite=Strict cookie; no script can read the token or the session.
    cookie = next(c for c in page.context.cookies() if c["name"] == "vidlib_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "vidlib_admin" not in page.evaluate("document.cookie")
    assert TOKEN not in page.evaluate("JSON.stringify(Object.assign({}, localStorage, sessionStorage))")

    # Adding a folder: a bad path shows the API's reason; a good one is listed and scanned.
    page.locator("#folder-path").fill("/no/such/folder")
    page.locator("button", has_text="Add folder").click()
    page.wait_for_selector("#folder-error")
    assert page.locator("#folder-error").inner_text().strip()
    page.locator("#folder-path").fill(str(site.second_folder))
    page.locator("button", has_text="Add folder").click()
    page.wait_for_selector("text=first scan is queued")
    row = page.locator(f"tr[data-folder='{os.path.realpath(site.second_folder)}']")
    row.wait_for()
    site.work_queues("scan")
    row.locator("td[data-count='2']").wait_for(timeout=10000)
    assert {"Desert Run", "Desert Storm"} <= visible_titles(site, page)

    # Preview generation: the new videos' media are queued (the scan queued them); start the
    # rest, see the queue, work it off, see everything done and the posters on the cards.
    page.goto(site.url("/dashboard"))
    poster_row = page.locator("tr[data-kind='poster']")
    poster_row.wait_for()
    page.locator("button", has_text="Generate all missing").click()
    page.wait_for_selector("text=/Queu(ed|ing)/")
    wait_until(lambda: int(poster_row.locator("td[data-state='queued']").inner_text()) == 2, timeout=10, message="2 posters queued")
    site.work_queues("scan", "media")
    total = len(FIRST_FOLDER) + len(SECOND_FOLDER)
    for kind in KINDS:
        page.locator(f"tr[data-kind='{kind}'] td[data-state='done']", has_text=str(total)).wait_for(timeout=10000)
    shot(page, "dashboard-generated-desktop")
    page.goto(site.url("/search?q=desert"))
    page.wait_for_selector("main article.card img.poster")
    assert page.locator("main article.card img.poster").count() == 2

    # A content filter picked from the autocomplete hides a studio everywhere.
    page.goto(site.url("/dashboard#filters"))
    page.locator("#filter-value").fill("Acm")
    page.locator("button.suggestion", has_text="Acme Studio").click()
    page.wait_for_selector("li.filter[data-filter='Acme Studio']")
    hidden = {"Beach Day", "Beach Night"}
    assert not hidden & visible_titles(site, page)
    page.goto(site.url("/search?q=beach"))
    page.wait_for_selector("text=No videos found")
    page.goto(site.url("/random"))
    page.wait_for_selector("main article.card")
    assert not hidden & set(titles(page))
    assert page.locator("h1 a[data-random-hash]").inner_text() not in hidden
    page.goto(site.url("/studios"))
    page.wait_for_selector(".name-card")
    assert "Acme Studio" not in page.locator(".name-card .name").all_inner_texts()

    # Removing it brings them back.
    page.goto(site.url("/dashboard#filters"))
    page.locator("li.filter[data-filter='Acme Studio'] button", has_text="Remove").click()
    page.wait_for_selector("text=Filter removed")
    assert hidden <= visible_titles(site, page)
    # The browser logs the answers the test provoked on purpose (401 before the token, 400 for
    # the bad folder); nothing else may show up.
    expected = re.compile(r"^console: Failed to load resource: the server responded with a status of (401|400) ")
    assert [e for e in console.errors if not expected.match(e)] == []
    assert console.csp_violations(page) == []

    # Logging out clears the cookie: the dashboard asks for the token again.
    page.goto(site.url("/dashboard"))
    page.locator("button", has_text="Log out").click()
    page.locator("dialog.token-dialog").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == "vidlib_admin"]
    page.context.close()
