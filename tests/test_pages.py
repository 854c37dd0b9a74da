"""The web UI's Flask side (vidlib/routes/pages.py) and its generated API client.

Page routes over a fake build in a temp dir (so these tests need no npm): clean URLs serve
their page's HTML uncached, hashed assets are cached for good, nothing escapes the build dir,
no page clashes with an API path, and without a build every page answers 503 saying how to
build. The last test fails when the committed TypeScript API types no longer match the spec.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT

PAGES = {
    "/": "home",
    "/watch/0123456789abcdef": "watch",
    "/search": "search",
    "/search?q=beach&studio=Acme": "search",
    "/performers": "performers",
    "/performer/Jane%20Doe": "performer",
    "/performer/AC%2FDC": "performer",
    "/studios": "studios",
    "/studio/Blue%20Films": "studio",
    "/favourites": "favourites",
    "/random": "random",
    "/random?seed=42": "random",
    "/dashboard": "dashboard",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture()
def build(tmp_path) -> Path:
    """A stand-in for templates_static/: one index.html per page naming itself, and an asset."""
    root = tmp_path / "build"
    for page in set(PAGES.values()):
        (root / page).mkdir(parents=True)
        (root / page / "index.html").write_text(f"<!doctype html><title>{page}</title><script type=module src=/assets/{page}-AbC123.js></script>")
    (root / "assets").mkdir()
    (root / "assets" / "home-AbC123.js").write_text("console.log('home')")
    (root / "assets" / "home-AbC123.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture()
def ui_client(make_app, build):
    return make_app(UI_BUILD_DIR=str(build)).test_client()


@pytest.mark.parametrize("url,page", sorted(PAGES.items()))
def test_clean_urls_serve_their_page_uncached(ui_client, url, page):
    r = ui_client.get(url)
    assert r.status_code == 200, url
    assert r.mimetype == "text/html"
    assert f"<title>{page}</title>" in r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-cache"


def test_hashed_assets_are_cached_immutably(ui_client):
    r = ui_client.get("/assets/home-AbC123.js")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == IMMUTABLE
    assert r.mimetype in ("text/javascript", "application/javascript")
    assert r.get_data(as_text=True) == "console.log('home')"
    css = ui_client.get("/assets/home-AbC123.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    # conditional requests work (the browser revalidates nothing, but proxies may)
    etag = r.headers.get("ETag")
    assert etag and ui_client.get("/assets/home-AbC123.js", headers={"If-None-Match": etag}).status_code == 304
    assert ui_client.get("/assets/nope-123.js").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/assets/../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/..%2fsecret.txt",
        "/assets/%2e%2e%2fsecret.txt",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/../home/index.html",
        "/assets/..\\secret.txt",
    ],
)
def test_no_path_escapes_the_build(ui_client, url):
    # (werkzeug answers a doubled slash with a redirect to the merged path, which is then a 404)
    r = ui_client.get(url, follow_redirects=True)
    assert r.status_code in (404, 400), (url, r.status_code)
    assert all(urlparse(h.location).path.startswith("/assets/") for h in r.history), [h.location for h in r.history]
    assert b"not for the web" not in r.data and b"root:" not in r.data


def test_page_names_are_not_files(ui_client):
    # A page's path parameter never selects a file: these are all the performer page.
    for url in ("/performer/..%2f..%2fsecret.txt", "/performer/../../secret.txt", "/studio/%2e%2e"):
        r = ui_client.get(url)
        assert b"not for the web" not in r.data
        if r.status_code == 200:
            assert b"<title>" in r.data and r.headers["Cache-Control"] == "no-cache"


def test_pages_never_shadow_api_paths(ui_client):
    # The API still answers below /search, /api, /media and /video; /rq stays the job inspector.
    assert ui_client.get("/search/search-videos").mimetype == "application/json"
    assert ui_client.get("/search/autocomplete?q=a").status_code == 200
    assert ui_client.get("/api/stats").mimetype == "application/json"
    assert ui_client.get("/api/openapi.json").status_code == 200
    assert ui_client.get("/video/0123456789abcdef").mimetype == "application/json"  # 404 envelope
    assert ui_client.get("/media/01/0123456789abcdef/poster.jpg").status_code == 404
    spec = ui_client.get("/api/openapi.json").get_json()
    assert not [p for p in spec["paths"] if p in ("/", "/search", "/dashboard") or p.startswith(("/watch", "/assets"))]


def test_without_a_build_pages_say_how_to_build(make_app, tmp_path):
    client = make_app(UI_BUILD_DIR=str(tmp_path / "nothing-here")).test_client()
    for url in ("/", "/search", "/watch/0123456789abcdef", "/dashboard", "/assets/home-AbC123.js"):
        r = client.get(url)
        assert r.status_code == 503, url
        assert r.mimetype == "text/plain"
        assert "npm run build" in r.get_data(as_text=True)
        assert r.headers["Cache-Control"] == "no-store"
    assert client.get("/api/stats").status_code == 200  # the API does not need the UI


def test_default_build_dir_is_templates_static(make_app):
    from vidlib.routes.pages import build_dir

    app = make_app()
    with app.app_context():
        assert Path(build_dir()) == ROOT / "templates_static"


# -- the generated API client -------------------------------------------------------------------


def test_openapi_spec_command_writes_the_served_spec(runner, app, tmp_path):
    out = tmp_path / "spec.json"
    result = runner.invoke(args=["openapi-spec", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == app.test_client().get("/api/openapi.json").get_json()
    stdout = runner.invoke(args=["openapi-spec"])
    assert json.loads(stdout.stdout)["info"]["title"] == "vidlib"


def test_committed_api_types_match_the_spec(app, tmp_path):
    """frontend/src/lib/api-types.ts must be what `npm run gen:api` makes from today's spec."""
    frontend = ROOT / "frontend"
    generator = frontend / "node_modules" / ".bin" / "openapi-typescript"
    node = shutil.which("node")
    if node is None or not generator.exists():
        pytest.fail("the frontend's node_modules are missing: run `cd frontend && npm ci` (./vidlib.sh test does it)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(app.test_client().get("/api/openapi.json").get_json(), indent=2))
    fresh = tmp_path / "api-types.ts"
    subprocess.run([node, str(frontend / "scripts" / "gen-api.mjs"), "--spec", str(spec), "--out", str(fresh)], check=True, cwd=frontend, env={**os.environ})
    committed = (frontend / "src" / "lib" / "api-types.ts").read_text()
    assert fresh.read_text() == committed, "frontend/src/lib/api-types.ts is stale: run `cd frontend && npm run gen:api` and commit it"
