"""/video/<hash>: full bodies, byte ranges, conditional GET, HEAD, and a real gunicorn process."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
import time

import pytest
import requests

from tests.conftest import add_folder, copy_sample, scan, wait_until
from vidlib import create_app
from vidlib.stalled import SendTimeout, StalledClientLog, install_log_filter


def video_hashes(app) -> dict[str, str]:
    db = app.extensions["vidlib"].db
    return {r["filename"]: r["hash"] for r in db.execute("SELECT filename, hash FROM videos")}


@pytest.fixture()
def served(app, library, sample_videos):
    """{sample key: (hash, path in the library)} for the formats the tests serve."""
    paths = {key: copy_sample(sample_videos, key, library) for key in ("mp4", "webm", "mkv", "large")}
    add_folder(app, library)
    scan(app)
    by_name = video_hashes(app)
    return {key: (by_name[path.name], path) for key, path in paths.items()}


def assert_json_error(response, code):
    assert response.status_code == code
    body = response.get_json()
    assert body["code"] == code and body["message"]


@pytest.mark.parametrize("key,mime", [("mp4", "video/mp4"), ("webm", "video/webm"), ("mkv", "video/x-matroska"), ("large", "video/mp4")])
def test_full_body_and_headers(client, served, key, mime):
    h, path = served[key]
    data = path.read_bytes()
    r = client.get(f"/video/{h}")
    assert r.status_code == 200
    assert r.get_data() == data
    assert r.mimetype == mime
    assert r.headers["Accept-Ranges"] == "bytes"
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers["ETag"].startswith('"') and h in r.headers["ETag"]
    assert r.headers["Last-Modified"].endswith("GMT")
    assert "Content-Range" not in r.headers


def test_ranges_are_byte_exact(client, served):
    h, path = served["large"]
    data = path.read_bytes()
    size = len(data)
    assert size > 128 * 1024
    mid = size // 2
    cases = {
        "bytes=0-99": (0, 99),
        f"bytes={mid}-{mid + 4999}": (mid, mid + 4999),
        "bytes=-500": (size - 500, size - 1),
        f"bytes={size - 1234}-": (size - 1234, size - 1),
        f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
        f"bytes=10-{size * 2}": (10, size - 1),  # an end past the file is clamped
        f"bytes=-{size * 2}": (0, size - 1),  # so is a suffix longer than the file
    }
    for header, (start, end) in cases.items():
        r = client.get(f"/video/{h}", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}", header
        assert int(r.headers["Content-Length"]) == end - start + 1
        assert r.get_data() == data[start : end + 1], header
        assert r.mimetype == "video/mp4"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{bigger}", "bytes={bigger}-"])
def test_unsatisfiable_range_is_416(client, served, header):
    h, path = served["mp4"]
    size = path.stat().st_size
    r = client.get(f"/video/{h}", headers={"Range": header.format(size=size, bigger=size + 10)})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{size}"
    assert r.get_data() == b""


def test_malformed_or_multi_range_sends_whole_file(client, served):
    h, path = served["mp4"]
    data = path.read_bytes()
    for header in ("bytes=50-10", "items=0-5", "bytes=abc", "bytes=0-1,5-6"):
        r = client.get(f"/video/{h}", headers={"Range": header})
        assert r.status_code == 200, header
        assert r.get_data() == data


def test_conditional_get(client, served):
    h, path = served["webm"]
    first = client.get(f"/video/{h}")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    r = client.get(f"/video/{h}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.get_data() == b""
    assert r.headers["ETag"] == etag
    assert client.get(f"/video/{h}", headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get(f"/video/{h}", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(f"/video/{h}", headers={"If-None-Match": '"stale"'}).status_code == 200
    assert client.get(f"/video/{h}", headers={"If-Modified-Since": last_modified}).status_code == 304
    assert client.get(f"/video/{h}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    # If-None-Match wins over If-Modified-Since
    assert client.get(f"/video/{h}", headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified}).status_code == 200


def test_if_range(client, served):
    h, path = served["large"]
    data = path.read_bytes()
    etag = client.get(f"/video/{h}").headers["ETag"]
    fresh = client.get(f"/video/{h}", headers={"Range": "bytes=100-199", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.get_data() == data[100:200]
    stale = client.get(f"/video/{h}", headers={"Range": "bytes=100-199", "If-Range": '"stale-etag"'})
    assert stale.status_code == 200 and stale.get_data() == data
    assert "Content-Range" not in stale.headers
    old_date = client.get(f"/video/{h}", headers={"Range": "bytes=100-199", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old_date.status_code == 200 and old_date.get_data() == data


def test_etag_changes_when_file_changes(app, client, served):
    h, path = served["mp4"]
    etag = client.get(f"/video/{h}").headers["ETag"]
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 100))
    r = client.get(f"/video/{h}", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag


def test_head(client, served):
    h, path = served["mkv"]
    size = path.stat().st_size
    r = client.head(f"/video/{h}")
    assert r.status_code == 200
    assert r.get_data() == b""
    assert int(r.headers["Content-Length"]) == size
    assert r.mimetype == "video/x-matroska"
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["ETag"]
    ranged = client.head(f"/video/{h}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.get_data() == b""
    assert ranged.headers["Content-Range"] == f"bytes 10-19/{size}"
    assert int(ranged.headers["Content-Length"]) == 10


def test_unknown_malformed_and_deleted(client, served):
    assert_json_error(client.get("/video/0123456789abcdef"), 404)
    assert_json_error(client.get("/video/not-a-hash"), 400)
    h, path = served["webm"]
    path.unlink()  # gone from disk, not rescanned yet
    assert_json_error(client.get(f"/video/{h}"), 404)
    assert_json_error(client.get(f"/video/{h}", headers={"Range": "bytes=0-9"}), 404)


def test_missing_video_is_404(app, client, served):
    h, path = served["mkv"]
    path.unlink()
    scan(app)
    assert_json_error(client.get(f"/video/{h}"), 404)


def test_symlink_to_outside_file_is_not_served(client, served, tmp_path):
    h, path = served["mp4"]
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.mp4"
    shutil.copy2(path, secret)  # same bytes, same mtime: only the location differs
    path.unlink()
    path.symlink_to(secret)
    r = client.get(f"/video/{h}")
    assert_json_error(r, 404)
    assert secret.read_bytes() not in r.get_data()


def test_a_served_file_swapped_for_a_link_outside_is_refused(client, served, tmp_path):
    """A served file's resolved path is kept per process under the identity of the file found
    there: the same path leading elsewhere afterwards (the file, or the folder on the way,
    replaced by a symlink to a copy outside the library) is resolved again, and refused."""
    h, path = served["mp4"]
    data = path.read_bytes()
    assert client.get(f"/video/{h}").get_data() == data
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / path.name
    shutil.copy2(path, secret)  # same bytes, same mtime: only the location differs
    path.unlink()
    path.symlink_to(secret)
    assert_json_error(client.get(f"/video/{h}"), 404)

    path.unlink()
    shutil.copy2(secret, path)
    assert client.get(f"/video/{h}", headers={"Range": "bytes=0-9"}).get_data() == data[:10]
    folder = path.parent
    os.replace(folder, tmp_path / "moved-away")
    folder.symlink_to(outside, target_is_directory=True)
    assert_json_error(client.get(f"/video/{h}", headers={"Range": "bytes=0-9"}), 404)


def test_symlink_inside_library_is_served(client, served, library):
    h, path = served["mp4"]
    data = path.read_bytes()
    target = library / "real-copies" / "beach.mp4"
    target.parent.mkdir()
    os.replace(path, target)
    path.symlink_to(target)
    r = client.get(f"/video/{h}")
    assert r.status_code == 200 and r.get_data() == data


def test_removed_folder_is_not_served(app, client, served):
    h, _ = served["mp4"]
    folder_id = app.extensions["vidlib"].db.execute("SELECT id FROM folders").fetchone()[0]
    assert client.delete(f"/api/folders/{folder_id}").status_code == 204
    assert_json_error(client.get(f"/video/{h}"), 404)


# -- the fast path (vidlib/video_fast.py) ------------------------------------------------------


class _Wrapper:
    """A stand-in for gunicorn's wsgi.file_wrapper: the file and its offset, read back here."""

    def __init__(self, fh, block_size):
        self.fh, self.offset = fh, fh.tell()

    def read(self, length: int) -> bytes:
        with self.fh:
            self.fh.seek(self.offset)
            return self.fh.read(length)


def _call(wsgi_app, path: str, headers: dict[str, str], method: str = "GET"):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": __import__("io").BytesIO(), "wsgi.errors": __import__("sys").stderr,
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000", "SERVER_SOFTWARE": "gunicorn/27.0.1", "wsgi.file_wrapper": _Wrapper,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }  # fmt: skip
    seen = {}
    body = wsgi_app(environ, lambda status, hdrs, exc=None: seen.update(status=status, headers={k.lower(): v for k, v in hdrs}))
    length = int(seen["headers"].get("content-length", 0))
    data = body.read(length) if isinstance(body, _Wrapper) else b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return seen["status"], seen["headers"], data


def test_the_fast_path_answers_as_the_route_does(app, served, tmp_path):
    """Under gunicorn, plain and single-range GETs of a servable video are answered before
    Flask (vidlib/video_fast.py) with the route's status, headers and bytes; everything else
    goes on to the route."""
    from vidlib.video_fast import VideoFastPath

    outer = app.wsgi_app
    assert isinstance(outer, SendTimeout)  # outermost: it covers the fast path's answers too
    fast = outer.wsgi_app
    assert isinstance(fast, VideoFastPath)
    route = fast.wsgi_app  # Flask's own
    h, path = served["large"]
    size = path.stat().st_size
    answered = {
        "plain": {}, "first bytes": {"Range": "bytes=0-99"}, "middle": {"Range": f"bytes={size // 2}-{size // 2 + 65535}"},
        "open-ended": {"Range": f"bytes={size - 7}-"}, "past the end": {"Range": f"bytes=10-{size * 3}"}, "spaces": {"Range": " bytes=5-9 "},
    }  # fmt: skip
    handed_on = {
        "suffix": ({"Range": "bytes=-500"}, "206"), "two ranges": ({"Range": "bytes=0-9,20-29"}, "200"), "unsatisfiable": ({"Range": f"bytes={size}-"}, "416"),
        "reversed": ({"Range": "bytes=9-5"}, "200"), "other unit": ({"Range": "items=0-5"}, "200"), "conditional": ({"If-None-Match": '"x"'}, "200"),
        "if-range": ({"Range": "bytes=0-9", "If-Range": '"stale"'}, "200"),
    }  # fmt: skip
    for name, headers in answered.items():
        ours, theirs = _call(fast, f"/video/{h}", headers), _call(route, f"/video/{h}", headers)
        assert ours == theirs, name
        assert _fast(fast, h, headers), name
    for name, (headers, status) in handed_on.items():
        assert not _fast(fast, h, headers), name
        ours = _call(fast, f"/video/{h}", headers)
        assert ours == _call(route, f"/video/{h}", headers) and ours[0].startswith(status), name
    # HEAD, an unknown or malformed hash, a file gone or moved outside: the route's answers.
    assert _call(fast, f"/video/{h}", {}, "HEAD")[0].startswith("200") and not _fast(fast, h, {}, "HEAD")
    for bad in ("0123456789abcdef", "NOT-A-HASH", h.upper()):
        status, headers, _ = _call(fast, f"/video/{bad}", {})
        assert status[:3] in ("400", "404") and headers["x-content-type-options"] == "nosniff", bad
    db = app.extensions["vidlib"].db
    db.execute("UPDATE videos SET missing = 1 WHERE hash = ?", [h])  # not visible (as hidden by a filter)
    assert not _fast(fast, h, {}) and _call(fast, f"/video/{h}", {})[0].startswith("404")
    db.execute("UPDATE videos SET missing = 0 WHERE hash = ?", [h])
    assert _fast(fast, h, {})
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy2(path, outside / path.name)
    path.unlink()
    path.symlink_to(outside / path.name)
    assert not _fast(fast, h, {"Range": "bytes=0-9"})
    assert _call(fast, f"/video/{h}", {"Range": "bytes=0-9"})[0].startswith("404")
    path.unlink()
    assert _call(fast, f"/video/{h}", {})[0].startswith("404")


def _fast(fast, video_hash: str, headers: dict[str, str], method: str = "GET") -> bool:
    """Did the fast path answer this request itself?"""
    answer = fast._answer(_environ_of(video_hash, headers, method), lambda *a: None)
    if answer is not None:
        answer.fh.close()
    return answer is not None


def _environ_of(video_hash: str, headers: dict[str, str], method: str = "GET") -> dict:
    return {
        "REQUEST_METHOD": method, "PATH_INFO": f"/video/{video_hash}", "SERVER_SOFTWARE": "gunicorn/27.0.1", "wsgi.file_wrapper": _Wrapper,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }  # fmt: skip


# -- a real gunicorn process ------------------------------------------------------------------


def test_gunicorn_serves_ranges_byte_exact(tmp_path, library, sample_videos, gunicorn_server):
    data_dir = tmp_path / "gunicorn-data"
    setup = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "REDIS_URL": "unix:///nonexistent.sock"})
    path = copy_sample(sample_videos, "large", library)
    add_folder(setup, library)
    scan(setup)
    h = video_hashes(setup)[path.name]
    setup.extensions["vidlib"].close_db()
    data = path.read_bytes()
    size = len(data)

    base = gunicorn_server({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": "unix:///nonexistent.sock"})
    url = f"{base}/video/{h}"
    with requests.Session() as http:
        full = http.get(url, timeout=10)
        assert full.status_code == 200
        assert full.content == data
        assert full.headers["Content-Type"] == "video/mp4"
        assert int(full.headers["Content-Length"]) == size
        assert full.headers["Accept-Ranges"] == "bytes"
        etag = full.headers["ETag"]

        mid = size // 2
        for header, start, end in (
            ("bytes=0-99", 0, 99),
            (f"bytes={mid}-{mid + 65535}", mid, mid + 65535),
            ("bytes=-500", size - 500, size - 1),
            (f"bytes={size - 7}-", size - 7, size - 1),
        ):
            r = http.get(url, headers={"Range": header}, timeout=10)
            assert r.status_code == 206, header
            assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            assert int(r.headers["Content-Length"]) == end - start + 1
            assert r.content == data[start : end + 1], header

        r = http.get(url, headers={"Range": f"bytes={size}-"}, timeout=10)
        assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}"

        r = http.get(url, headers={"If-None-Match": etag}, timeout=10)
        assert r.status_code == 304 and r.content == b""

        r = http.head(url, timeout=10)
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == size and r.content == b""

        # The connection stays usable after ranged responses (keep-alive framing is right).
        again = http.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
        assert again.status_code == 206 and again.content == data[1000:2000]

        missing = http.get(f"{base}/video/0123456789abcdef", timeout=10)
        assert missing.status_code == 404 and missing.json()["code"] == 404
        api = http.get(f"{base}/api/get-video-data/{h}", timeout=10)
        assert api.status_code == 200 and api.json()["hash"] == h


def _read_headers(sock) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed before the response headers"
        head += chunk
    return head


def _drain(sock, deadline: float) -> tuple[int, str]:
    """Read a connection to its end: (bytes read, "eof" or "reset")."""
    got = 0
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            return got, "reset"
        except TimeoutError:
            continue
        if not chunk:
            return got, "eof"
        got += len(chunk)
    raise AssertionError(f"the connection was still open after {got} bytes")


def _established_server_sides(server_port: int, client_ports: set[int]) -> list[int]:
    """Client ports of the ESTABLISHED server-side sockets (local ``server_port``) in /proc/net/tcp."""
    found = []
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01" and int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) in client_ports:
            found.append(int(remote.split(":")[1], 16))
    return found


def test_a_client_that_stops_reading_does_not_hold_a_web_thread(tmp_path, library, sample_videos, gunicorn_server):
    """gunicorn sends on a blocking socket with no timeout: clients that ask for a big file and
    read nothing used to hold every thread of a worker for ever (nothing else was answered).
    With VIDLIB_SEND_TIMEOUT the kernel resets such a connection and the thread is free; a
    client that reads slowly but steadily, for longer than the timeout, gets every byte."""
    data_dir = tmp_path / "gunicorn-data"
    setup = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "REDIS_URL": "unix:///nonexistent.sock"})
    path = copy_sample(sample_videos, "mp4", library, "big.mp4")
    with open(path, "ab") as fh:  # far more than the socket buffers hold; still probes as the video
        fh.write(bytes(48 << 20))
    add_folder(setup, library)
    scan(setup)
    h = video_hashes(setup)["big.mp4"]
    setup.extensions["vidlib"].close_db()
    size = path.stat().st_size

    threads = 2
    base = gunicorn_server({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": "unix:///nonexistent.sock", "VIDLIB_WEB_THREADS": str(threads), "VIDLIB_SEND_TIMEOUT": "1"}, workers=1)
    port = int(base.rsplit(":", 1)[1])
    assert requests.get(f"{base}/api/stats", timeout=10).status_code == 200

    stalled = []
    for _ in range(threads):  # one per thread of the only worker, each served (headers read), then not read
        sock = socket.create_connection(("127.0.0.1", port))  # (default buffers: a shrunk one may never announce its window again)
        sock.sendall(f"GET /video/{h} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-\r\n\r\n".encode())
        assert b" 206 " in _read_headers(sock).split(b"\r\n", 1)[0]
        stalled.append(sock)
    try:
        started = time.monotonic()

        def answered() -> bool:
            try:
                return requests.get(f"{base}/api/stats", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answered, timeout=30, interval=0.1, message="a request answered while both threads' clients read nothing")
        assert time.monotonic() - started >= 0.9  # the threads were held until the timeout
        # The server gave up each stalled connection (its side is gone from the kernel's table;
        # the clients, told nothing yet, still hold theirs) ...
        clients = {sock.getsockname()[1] for sock in stalled}
        wait_until(lambda: not _established_server_sides(port, clients), timeout=30, message="the server to give up both stalled connections")
        for sock in stalled:  # ... long before the end of the file
            got, how = _drain(sock, time.monotonic() + 30)
            assert got < size - (1 << 20), (got, how)
    finally:
        for sock in stalled:
            sock.close()

    # A slow, steady reader (8 MiB in 256 KiB steps 0.1 s apart: ~3 s, longer than the timeout) is not cut off.
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        want = 8 << 20
        sock.sendall(f"GET /video/{h} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-{want - 1}\r\n\r\n".encode())
        assert b" 206 " in _read_headers(sock).split(b"\r\n", 1)[0]
        got, paced_from = 0, time.monotonic()
        sock.settimeout(10)
        while got < want:
            chunk = sock.recv(min(256 << 10, want - got))
            assert chunk, f"the server closed a reading client after {got} of {want} bytes"
            got += len(chunk)
            time.sleep(0.1 * len(chunk) / (256 << 10))  # paced reading, not synchronisation
        assert got == want and time.monotonic() - paced_from > 1.5


def test_a_stalled_clients_reset_is_one_warning_line():
    """gunicorn logs an ETIMEDOUT send with a traceback at ERROR; vidlib's filter makes it one line."""
    logger = logging.getLogger("test.gunicorn.error")
    logger.propagate = False
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    install_log_filter(60, logger)
    install_log_filter(60, logger)  # once only
    assert sum(isinstance(f, StalledClientLog) for f in logger.filters) == 1
    for exc in (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), OSError(errno.EIO, "I/O error")):
        try:
            raise exc
        except OSError:
            logger.exception("Socket error processing request.")
    timed_out, other = records
    assert timed_out.levelno == logging.WARNING and timed_out.exc_info is None
    assert timed_out.getMessage() == "closed a connection whose client read nothing for 60s (VIDLIB_SEND_TIMEOUT): a stalled or vanished client"
    assert other.levelno == logging.ERROR and other.exc_info is not None and other.getMessage() == "Socket error processing request."


def test_a_client_that_sends_its_headers_slowly_does_not_hold_a_web_thread(tmp_path, gunicorn_server):
    """Once a request's first bytes have come, gunicorn reads its headers with no deadline: two
    clients dripping a header line every 0.5 s held both threads of a 1 x 2 worker for as long as
    they went on. With VIDLIB_HEADER_TIMEOUT they are given up; a request whose headers come in
    two parts within the deadline, and a kept-alive connection idle for longer than it, are not."""
    data_dir = tmp_path / "gunicorn-data"
    base = gunicorn_server({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": "unix:///nonexistent.sock", "VIDLIB_WEB_THREADS": "2", "VIDLIB_HEADER_TIMEOUT": "2"}, workers=1)
    port = int(base.rsplit(":", 1)[1])
    assert requests.get(f"{base}/api/stats", timeout=10).status_code == 200

    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        answered_at = None
        while answered_at is None and time.monotonic() - started < 30:
            for sock in slow:  # a header line every 0.5 s: never done, never silent for long
                try:
                    sock.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    pass  # given up already
            try:
                if requests.get(f"{base}/api/stats", timeout=0.5).status_code == 200:
                    answered_at = time.monotonic() - started
            except requests.RequestException:
                pass
        assert answered_at is not None, "no request answered while two clients dripped their headers"
        assert answered_at >= 1.5  # both threads were held until the deadline
        for sock in slow:  # the dripping clients were closed, without an answer
            got, how = _drain(sock, time.monotonic() + 10)
            assert got == 0, (got, how)
    finally:
        for sock in slow:
            sock.close()

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)  # the rest of the headers a little later, well within the deadline
        sock.sendall(b"Accept: application/json\r\n\r\n")
        assert b" 200 " in _read_headers(sock).split(b"\r\n", 1)[0]
    with socket.create_connection(("127.0.0.1", port)) as sock:  # idle on a kept-alive connection is not reading headers
        sock.settimeout(10)
        for n in range(2):
            if n:
                time.sleep(3)  # longer than the header deadline, shorter than gunicorn's keep-alive (5 s)
            sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = _read_headers(sock)
            assert b" 200 " in head.split(b"\r\n", 1)[0], (n, head)
            length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert b'"videos"' in body
    log = (tmp_path / f"gunicorn-{port}.log").read_text()
    assert log.count("whose headers took longer than 2s (VIDLIB_HEADER_TIMEOUT)") == 2, log[-3000:]
