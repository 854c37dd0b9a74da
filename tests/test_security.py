"""Security rules (docs/security.md): login cookie, CSRF / same-origin, loopback-only mode, host
check, security headers, rq-dashboard, folder allow-list, and the bind warning of a real gunicorn."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, add_folder, copy_sample, free_port, scan, wait_until

TOKEN = "s3cret-admin-token-for-tests"
EVIL = "http://evil.example"


def error(response, code: int) -> dict:
    """The response is the one JSON error envelope with ``code``."""
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["code"] == code and body["message"]
    return body


@pytest.fixture()
def library_app(make_app, library, sample_videos):
    """An app with an admin token, one scanned video; returns (app, hash)."""

    def build(**settings):
        app = make_app(**{"ADMIN_TOKEN": TOKEN, **settings})
        copy_sample(sample_videos, "mp4", library)
        add_folder(app, library)
        scan(app)
        return app, app.extensions["vidlib"].db.execute("SELECT hash FROM videos").fetchone()[0]

    return build


def favourite(app, video_hash) -> bool:
    return app.extensions["vidlib"].db.execute("SELECT 1 FROM favourites WHERE hash = ?", [video_hash]).fetchone() is not None


def login(client, token=TOKEN, **headers):
    return client.post("/api/login", json={"token": token}, headers=headers)


# -- login and the session cookie ---------------------------------------------------------------


def test_login_sets_an_httponly_strict_cookie_that_opens_the_dashboard(library_app):
    app, video_hash = library_app()
    client = app.test_client()
    assert client.get("/api/session").get_json() == {"admin": False, "via": None, "token_required": True, "expires_at": None}
    error(client.get("/api/folders"), 401)
    error(login(client, "wrong"), 403)
    assert client.get_cookie("vidlib_admin") is None

    response = login(client)
    assert response.status_code == 200, response.get_json()
    cookie_header = response.headers["Set-Cookie"]
    assert re.match(r"vidlib_admin=\d+\.[0-9a-f]{64};", cookie_header)
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header and "Path=/" in cookie_header
    assert TOKEN not in cookie_header
    max_age = int(re.search(r"Max-Age=(\d+)", cookie_header).group(1))
    assert max_age == 30 * 86400
    session = client.get("/api/session").get_json()
    assert session["admin"] is True and session["via"] == "cookie" and session["expires_at"] > time.time() + 29 * 86400

    assert client.get("/api/folders").status_code == 200
    # a change from this origin (the browser's own headers) is allowed ...
    response = client.post(f"/api/add-favourite/{video_hash}", headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200 and favourite(app, video_hash)
    # ... logging out ends it
    response = client.post("/api/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 204 and "vidlib_admin=;" in response.headers["Set-Cookie"]
    assert client.get_cookie("vidlib_admin") is None
    error(client.post(f"/api/remove-favourite/{video_hash}"), 401)
    assert favourite(app, video_hash)


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Origin": "http://localhost:8001"},  # same site, another origin (another app on this machine)
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # Sec-Fetch-Site wins
])
def test_cookie_session_refuses_cross_site_changes(library_app, headers):
    app, video_hash = library_app()
    client = app.test_client()
    assert login(client).status_code == 200
    body = error(client.post(f"/api/add-favourite/{video_hash}", headers=headers), 403)
    assert "cross-site request refused" in body["message"]
    assert not favourite(app, video_hash)
    error(client.delete("/api/folders/1", headers=headers), 403)
    assert len(app.extensions["vidlib"].db.execute("SELECT id FROM folders").fetchall()) == 1
    # reading with the cookie is not a change: still fine
    assert client.get("/api/folders", headers=headers).status_code == 200
    # a forged login is refused the same way
    error(login(app.test_client(), **headers), 403)


def test_tampered_expired_and_old_token_sessions_are_refused(library_app, make_app):
    from vidlib.auth import make_session

    app, _ = library_app()
    client = app.test_client()
    good, expires = make_session(TOKEN, 3600)
    for value in (good[:-1] + ("0" if good[-1] != "0" else "1"), f"{expires + 10}.{good.split('.')[1]}", make_session(TOKEN, -5)[0], make_session("another-token", 3600)[0], "garbage", ""):
        client.set_cookie("vidlib_admin", value)
        assert "log in again" in error(client.get("/api/folders"), 401)["message"], value
    client.set_cookie("vidlib_admin", good)
    assert client.get("/api/folders").status_code == 200
    # changing the token ends every session
    rotated = make_app(ADMIN_TOKEN="a-new-token").test_client()
    rotated.set_cookie("vidlib_admin", good)
    error(rotated.get("/api/folders"), 401)


def test_header_token_needs_no_origin_check(library_app):
    app, video_hash = library_app()
    client = app.test_client()
    # A browser cannot attach this header cross-site without a CORS preflight vidlib never answers.
    response = client.post(f"/api/add-favourite/{video_hash}", headers={"X-Admin-Token": TOKEN, "Origin": EVIL})
    assert response.status_code == 200 and favourite(app, video_hash)
    assert "Access-Control-Allow-Origin" not in response.headers
    error(client.post(f"/api/remove-favourite/{video_hash}", headers={"Authorization": "Bearer nope"}), 403)
    assert client.get("/api/session", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()["via"] == "token"


def test_login_without_a_configured_token_is_a_conflict(make_app):
    client = make_app().test_client()
    assert "no admin token is configured" in error(login(client), 409)["message"]
    assert client.get("/api/session").get_json() == {"admin": True, "via": "loopback", "token_required": False, "expires_at": None}


# -- no token: loopback only ---------------------------------------------------------------------


def test_without_token_changes_are_loopback_only_same_origin_and_loopback_host(library_app):
    app, video_hash = library_app(ADMIN_TOKEN="")
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert remote.get("/api/stats").status_code == 200  # reading is open
    assert remote.get(f"/api/get-video-data/{video_hash}").status_code == 200
    error(remote.get("/api/folders"), 403)
    error(remote.post(f"/api/add-favourite/{video_hash}"), 403)
    error(remote.get("/rq/"), 403)
    assert remote.get("/api/session").get_json()["admin"] is False

    local = app.test_client()
    # a page on another site posting to 127.0.0.1 (classic CSRF against local services)
    error(local.post(f"/api/add-favourite/{video_hash}", headers={"Sec-Fetch-Site": "cross-site"}), 403)
    error(local.post(f"/api/add-favourite/{video_hash}", headers={"Origin": EVIL}), 403)
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, so the request is "same-origin" to it
    body = error(local.post(f"/api/add-favourite/{video_hash}", headers={"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}), 403)
    assert "VIDLIB_ALLOWED_HOSTS" in body["message"]
    error(local.get("/api/folders", headers={"Host": "evil.example"}), 403)
    assert not favourite(app, video_hash)
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", f"{socket.gethostname()}:8000"):
        assert local.get("/api/folders", headers={"Host": host}).status_code == 200, host
    assert local.post(f"/api/add-favourite/{video_hash}", headers={"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"}).status_code == 200
    assert favourite(app, video_hash)


def test_allowed_hosts_extends_the_loopback_names(make_app):
    client = make_app(ALLOWED_HOSTS=["vidlib.lan"]).test_client()
    assert client.get("/api/folders", headers={"Host": "vidlib.lan:8000"}).status_code == 200
    error(client.get("/api/folders", headers={"Host": "other.lan"}), 403)


def test_behind_a_proxy_changes_need_the_token_or_trusted_forwarding(library_app, make_app):
    # nginx on this machine: every request arrives from 127.0.0.1 with X-Forwarded-For.
    app, video_hash = library_app(ADMIN_TOKEN="", ALLOWED_HOSTS=["videos.example.org"])
    proxied = {"Host": "videos.example.org", "X-Forwarded-For": "192.0.2.9"}
    body = error(app.test_client().post(f"/api/add-favourite/{video_hash}", headers=proxied), 403)
    assert "VIDLIB_ADMIN_TOKEN" in body["message"]
    assert not favourite(app, video_hash)
    assert app.test_client().get(f"/api/get-video-data/{video_hash}", headers=proxied).status_code == 200

    # Told that one proxy is in front, vidlib sees the real client: a remote one is refused ...
    app = make_app(ADMIN_TOKEN="", ALLOWED_HOSTS=["videos.example.org"], TRUSTED_PROXIES=1)  # same data dir
    body = error(app.test_client().post(f"/api/add-favourite/{video_hash}", headers=proxied), 403)
    assert "only allowed from this machine" in body["message"]
    # ... and a browser on the proxy's own machine is not.
    local = {"Host": "videos.example.org", "X-Forwarded-For": "127.0.0.1", "Origin": "http://videos.example.org"}
    assert app.test_client().post(f"/api/add-favourite/{video_hash}", headers=local).status_code == 200
    assert favourite(app, video_hash)


# -- rq-dashboard ------------------------------------------------------------------------------


def test_rq_dashboard_behind_login_and_no_state_change_on_get(make_app, redis_url):
    app = make_app(ADMIN_TOKEN=TOKEN, REDIS_URL=redis_url)
    client = app.test_client()
    error(client.get("/rq/"), 401)
    # The admin check comes before anything of rq-dashboard's own (which, for a URL naming an
    # instance it does not have, fails with a 500; or else connects to that Redis).
    for path in ("/rq/7/view/queues", "/rq/0/view/workers", "/rq/requeue/media"):
        error(client.get(path), 401)
    assert login(client).status_code == 200
    page = client.get("/rq/")
    assert page.status_code == 200 and "rq-dashboard" in page.get_data(as_text=True).lower()
    assert "'unsafe-eval'" in page.headers["Content-Security-Policy"]  # its own, looser policy
    error(client.get("/rq/requeue/media"), 405)
    error(client.post("/rq/requeue/media", headers={"Sec-Fetch-Site": "cross-site"}), 403)
    assert client.post("/rq/requeue/media", headers={"Sec-Fetch-Site": "same-origin"}).get_json()["status"] == "OK"


# -- headers -------------------------------------------------------------------------------------


def test_security_headers(library_app, tmp_path):
    app, video_hash = library_app()
    client = app.test_client()
    for path in ("/api/stats", f"/video/{video_hash}", "/api/get-video-data/nothex", "/dashboard", "/assets/none.js"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        assert response.headers["X-Frame-Options"] == "DENY", path
    page = client.get("/dashboard")
    if page.status_code == 200:  # with a UI build (test_ui.py needs one anyway)
        csp = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
        assert csp["script-src"] == "'self'" and csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
        inline = re.findall(r"<style>(.*?)</style>", page.get_data(as_text=True), re.S)
        import base64
        import hashlib

        for body in inline:  # the page's own inline <style> is allowed by its hash, nothing else inline
            assert f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" in csp["style-src-elem"]
        assert "'unsafe-inline'" not in csp["style-src-elem"]
    docs = client.get("/api/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in client.get("/api/stats").headers  # JSON is never rendered


# -- folders -------------------------------------------------------------------------------------


def test_folder_allow_list_and_symlinks(make_app, tmp_path):
    roots = tmp_path / "roots"
    inside = roots / "videos"
    inside.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sneaky = roots / "link-out"
    sneaky.symlink_to(outside)
    client = make_app(FOLDER_ROOTS=[str(roots)]).test_client()
    assert client.post("/api/folders", json={"path": str(outside)}).status_code == 400
    assert "outside the allowed roots" in error(client.post("/api/folders", json={"path": str(outside)}), 400)["message"]
    assert "outside the allowed roots" in error(client.post("/api/folders", json={"path": str(sneaky)}), 400)["message"]
    assert "outside the allowed roots" in error(client.post("/api/folders", json={"path": str(inside) + "/../../elsewhere"}), 400)["message"]
    response = client.post("/api/folders", json={"path": str(inside)})
    assert response.status_code == 201 and response.get_json()["path"] == str(inside)


@pytest.mark.parametrize("make_path,words", [
    (lambda tmp: str(tmp / "nope"), "does not exist"),
    (lambda tmp: "relative/dir", "must be an absolute path"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and str(tmp / "file.txt"), "not a folder"),
    (lambda tmp: str(tmp / "data"), "data dir"),
    (lambda tmp: str(tmp / "data" / "media"), "data dir"),
    (lambda tmp: "/", "contains vidlib's data dir"),
    (lambda tmp: "/tmp/a\x00b", "absolute path"),
])
def test_bad_folders_are_refused(make_app, tmp_path, make_path, words):
    client = make_app().test_client()
    assert words in error(client.post("/api/folders", json={"path": make_path(tmp_path)}), 400)["message"]
    assert client.get("/api/folders").get_json() == []


def test_files_outside_the_roots_are_not_served(library_app, tmp_path):
    app, video_hash = library_app()
    client = app.test_client()
    assert client.get(f"/video/{video_hash}").status_code == 200
    # the same library, now with FOLDER_ROOTS elsewhere: the file is no longer served
    app.config["FOLDER_ROOTS"] = [str(tmp_path / "somewhere-else")]
    app.extensions["vidlib"].config["FOLDER_ROOTS"] = app.config["FOLDER_ROOTS"]
    error(client.get(f"/video/{video_hash}"), 404)


# -- a real gunicorn bound beyond loopback without a token ---------------------------------------


def _outside_address() -> str | None:
    """This machine's address on its default route (not loopback), or None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_gunicorn_on_all_interfaces_without_token_warns_and_keeps_changes_local(tmp_path, library, sample_videos):
    copy_sample(sample_videos, "mp4", library)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(tmp_path / "data"), "VIDLIB_HOST": "0.0.0.0", "VIDLIB_PORT": str(port), "VIDLIB_FOLDERS": str(library), "VIDLIB_REDIS_URL": "unix:///nonexistent.sock", "VIDLIB_WEB_WORKERS": "1"})
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "VIDLIB_ADMIN_TOKEN is not set" in log_path.read_text(errors="replace") or proc.poll() is not None, timeout=30, message="gunicorn's bind warning")
        text = log_path.read_text(errors="replace")
        assert proc.poll() is None, text
        assert "reachable from other machines" in text and "loopback-only" in text
        local = f"http://127.0.0.1:{port}"

        def answers():
            # With reuse_port the workers bind after the arbiter logs its warning: until one
            # has, a connection is refused.
            try:
                return requests.get(local + "/api/stats", timeout=5).status_code == 200
            except requests.ConnectionError:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                return False

        wait_until(answers, timeout=30, message="gunicorn to answer")
        assert requests.get(local + "/api/folders", timeout=5).status_code == 200
        address = _outside_address()
        assert address, "this test needs a non-loopback address to connect from"
        remote = f"http://{address}:{port}"
        assert requests.get(remote + "/api/stats", timeout=5).status_code == 200
        denied = requests.get(remote + "/api/folders", timeout=5)
        assert denied.status_code == 403 and "only allowed from this machine" in denied.json()["message"]
        assert requests.post(remote + "/api/rescan", json={}, timeout=5).status_code == 403
        assert requests.get(remote + "/rq/", timeout=5).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=15)
