"""Faults a long-running install meets: Redis dying under the stack, a full media disk, and
web, worker and watcher writing the database at once.

Real parts only: a redis-server the test kills with SIGKILL and starts again on the same
socket, a real ``python worker.py`` process, a tmpfs of a few hundred KiB as MEDIA_DIR, a real
watcher with its observers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import ROOT, RedisProcess, add_folder, copy_sample, scan, stop_process, wait_until


@pytest.fixture()
def private_redis(tmp_path):
    (tmp_path / "redis").mkdir()
    server = RedisProcess(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


def _worker(app, redis_url: str, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update(VIDLIB_DATA_DIR=app.config["DATA_DIR"], VIDLIB_MEDIA_DIR=app.config["MEDIA_DIR"], VIDLIB_REDIS_URL=redis_url, VIDLIB_SCAN_ON_START="false")
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)


def _status(client, video_hash: str, kind: str) -> str:
    return client.get(f"/api/get-video-data/{video_hash}").get_json()["media"][kind]["status"]


def _hashes(app) -> list[str]:
    return [r[0] for r in app.extensions["vidlib"].db.execute("SELECT hash FROM videos ORDER BY path")]


def test_redis_killed_and_restarted(make_app, library, sample_videos, private_redis, tmp_path):
    for key in ("mp4", "webm", "mkv"):
        copy_sample(sample_videos, key, library)
    app = make_app(REDIS_URL=private_redis.url, MEDIA_AUTO_QUEUE=False)
    add_folder(app, library)
    scan(app)
    client = app.test_client()
    first, second, third = _hashes(app)
    log_path = tmp_path / "worker.log"
    worker = _worker(app, private_redis.url, log_path)
    try:
        assert client.post("/api/generation/start", json={"hashes": [first], "kinds": ["poster"]}).status_code == 202
        wait_until(lambda: _status(client, first, "poster") == "done", timeout=60, message="the first poster")
        private_redis.kill()

        # Reads go on without Redis; so do changes that live in SQLite.
        assert client.get(f"/api/get-video-data/{first}").status_code == 200
        assert client.get("/search/search-videos?q=sample").status_code == 200
        assert client.get("/api/get-random-video").status_code == 200
        assert client.get(f"/video/{first}", headers={"Range": "bytes=0-99"}).status_code == 206
        poster_url = client.get(f"/api/get-video-data/{first}").get_json()["media"]["poster"]["url"]
        assert client.get(poster_url).status_code == 200
        assert client.post(f"/api/add-favourite/{second}").get_json()["favourite"] is True
        # What needs the queue says so clearly, and nothing is recorded as queued.
        refused = client.post("/api/generation/start", json={"hashes": [second], "kinds": ["poster"]})
        assert refused.status_code == 503, refused.get_json()
        assert "redis" in refused.get_json()["message"].lower() or "queue" in refused.get_json()["message"].lower()
        assert _status(client, second, "poster") == "missing"

        # The worker waits for Redis instead of dying (under honcho, one exiting process stops all).
        wait_until(lambda: "could not connect to Redis" in log_path.read_text(errors="replace"), timeout=30, message="the worker to notice")
        assert worker.poll() is None, log_path.read_text()[-3000:]

        private_redis.start()
        assert client.post("/api/generation/start", json={"hashes": [second, third], "kinds": ["poster"]}).status_code == 202
        wait_until(lambda: _status(client, second, "poster") == "done" and _status(client, third, "poster") == "done", timeout=120, message="work after the restart")
        assert worker.poll() is None
        text = log_path.read_text(errors="replace")
        if "Traceback" in text:  # RQ logs one when a job ends while Redis is away; the worker goes on
            assert "found an unhandled exception" in text and "starting again once Redis answers" in text, text[-3000:]
    finally:
        stop_process(worker)


def _aof_holds(directory: Path, needle: str) -> bool:
    """True once Redis has written ``needle`` to its append-only file (fsync every second)."""
    return any(needle.encode() in f.read_bytes() for f in (directory / "appendonlydir").glob("*.aof"))


@pytest.mark.parametrize("redis_keeps_its_files", [True, False], ids=["aof-survives", "redis-lost-everything"])
def test_jobs_queued_before_a_redis_kill_run_after_it(make_app, library, sample_videos, private_redis, tmp_path, redis_keeps_its_files):
    for key in ("mp4", "webm"):
        copy_sample(sample_videos, key, library)
    app = make_app(REDIS_URL=private_redis.url, MEDIA_AUTO_QUEUE=False)
    add_folder(app, library)
    scan(app)
    client = app.test_client()
    hashes = _hashes(app)
    assert client.post("/api/generation/start", json={"hashes": hashes, "kinds": ["poster"]}).status_code == 202
    assert {_status(client, h, "poster") for h in hashes} == {"queued"}
    wait_until(lambda: _aof_holds(private_redis.directory, f"media-poster-{hashes[-1]}"), timeout=10, message="the queue on disk")
    private_redis.kill()
    if not redis_keeps_its_files:
        shutil.rmtree(private_redis.directory)
        private_redis.directory.mkdir()
    private_redis.start()
    # A worker starting now finds the jobs (or, when Redis lost them, queues them again from
    # the status rows) and runs them.
    worker = _worker(app, private_redis.url, tmp_path / "worker.log")
    try:
        wait_until(lambda: {_status(client, h, "poster") for h in hashes} == {"done"}, timeout=120, message="the posters")
    finally:
        stop_process(worker)
    text = (tmp_path / "worker.log").read_text(errors="replace")
    assert ("requeued poster" in text) is (not redis_keeps_its_files), text[-3000:]


@pytest.fixture()
def small_media_dir(tmp_path):
    """MEDIA_DIR on a 1 MiB tmpfs (needs root, as the CI runs)."""
    mount = tmp_path / "media"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=700", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system under ``directory``."""
    filler = directory / "filler.bin"
    with open(filler, "wb") as fh:
        chunk = b"\0" * 65536
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass
    try:
        with open(filler, "ab") as fh:  # the last partial block
            while True:
                fh.write(b"\0" * 512)
                fh.flush()
    except OSError:
        pass
    assert shutil.disk_usage(directory).free < 8192
    return filler


def _burst(app, redis_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update(VIDLIB_DATA_DIR=app.config["DATA_DIR"], VIDLIB_MEDIA_DIR=app.config["MEDIA_DIR"], VIDLIB_REDIS_URL=redis_url, VIDLIB_SCAN_ON_START="false")
    done = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_full_media_disk_fails_jobs_with_the_reason_and_corrupts_nothing(make_app, library, sample_videos, redis_url, small_media_dir):
    copy_sample(sample_videos, "mp4", library)
    app = make_app(REDIS_URL=redis_url, MEDIA_DIR=str(small_media_dir), MEDIA_AUTO_QUEUE=False)
    add_folder(app, library)
    scan(app)
    client = app.test_client()
    (video_hash,) = _hashes(app)
    assert client.post("/api/generation/start", json={"hashes": [video_hash], "kinds": ["poster"]}).status_code == 202
    _burst(app, redis_url)
    assert _status(client, video_hash, "poster") == "done"
    poster = next(small_media_dir.rglob("poster.jpg"))
    before = poster.read_bytes()

    filler = _fill(small_media_dir)
    kinds = ["poster", "preview_thumbnails", "seek_thumbnails", "teaser_small"]
    assert client.post("/api/generation/start", json={"hashes": [video_hash], "kinds": kinds, "scope": "all"}).status_code == 202
    log_text = _burst(app, redis_url)
    data = client.get(f"/api/get-video-data/{video_hash}").get_json()["media"]
    for kind in kinds:
        media = data[kind]
        # Not done, and the reason says the disk is full (a full disk is not the video's fault:
        # the job waits for a retry instead of being written off as a broken file).
        assert media["status"] in ("queued", "failed"), (kind, media)
        assert "No space left on device" in (media["error"] or ""), (kind, media)
    assert "No space left on device" in log_text
    assert poster.read_bytes() == before  # the old poster is untouched
    leftovers = [p.name for p in small_media_dir.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []
    assert app.extensions["vidlib"].db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # Space freed: the retries RQ scheduled (15 s later) run by themselves on a normal worker.
    filler.unlink()
    worker = _worker(app, redis_url, small_media_dir.parent / "worker.log")
    try:
        wait_until(lambda: {_status(client, video_hash, kind) for kind in kinds} == {"done"}, timeout=120, message="the retried jobs")
    finally:
        stop_process(worker)
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"  # a whole JPEG again


def test_web_worker_and_watcher_write_the_database_at_once(make_app, library, tiny_videos, redis_url, gunicorn_server, tmp_path):
    import json
    import random
    import urllib.error
    import urllib.request

    from tests.conftest import distinct_copy

    for n in range(30):
        distinct_copy(tiny_videos["base"], library / f"Studio {n % 5} - Performer {n % 7} - Title {n}.mp4", n)
    app = make_app(REDIS_URL=redis_url)
    add_folder(app, library)
    scan(app)
    hashes = _hashes(app)
    env = {"VIDLIB_DATA_DIR": app.config["DATA_DIR"], "VIDLIB_MEDIA_DIR": app.config["MEDIA_DIR"], "VIDLIB_REDIS_URL": redis_url, "VIDLIB_SCAN_ON_START": "false", "VIDLIB_WATCH_QUIET_SECONDS": "0.5"}
    base = gunicorn_server(env)
    proc_env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}, **env}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=proc_env, stdout=open(tmp_path / "worker.out", "wb"), stderr=subprocess.STDOUT)
    watcher = subprocess.Popen([sys.executable, "-m", "flask", "--app", "vidlib", "watch"], cwd=ROOT, env=proc_env, stdout=open(tmp_path / "watcher.out", "wb"), stderr=subprocess.STDOUT)

    def call(method: str, path: str, body: dict | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            failures.append(f"{method} {path} -> {exc.code} {text[:200]}")
            return exc.code

    failures: list[str] = []
    counts = {"requests": 0}
    stop = threading.Event()

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            video_hash = rng.choice(hashes)
            action = rng.randrange(6)
            if action == 0:
                call("POST", f"/api/add-favourite/{video_hash}")
            elif action == 1:
                call("POST", f"/api/remove-favourite/{video_hash}")
            elif action == 2:
                call("POST", "/api/content-filters", {"kind": "studio", "value": f"Studio {rng.randrange(5)}"})
            elif action == 3:
                call("POST", "/api/generation/start", {"hashes": [video_hash], "kinds": ["poster"], "scope": "all"})
            elif action == 4:
                call("GET", f"/api/get-video-data/{video_hash}")
            else:
                call("GET", "/search/search-videos?q=title")
            counts["requests"] += 1

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(6)]
    try:
        for thread in threads:
            thread.start()
        # Meanwhile new files arrive: the watcher queues scans, the worker writes them and
        # their preview media status rows.
        for n in range(30, 70):
            distinct_copy(tiny_videos["base"], library / "new" / f"Studio {n % 5} - Performer {n % 7} - Title {n}.mp4", n)
        wait_until(lambda: app.extensions["vidlib"].db.execute("SELECT COUNT(*) FROM videos").fetchone()[0] == 70, timeout=90, interval=0.2, message="the watcher and worker to index the new files")
        # Clear the filters now and then so deletes race the rest too.
        for row in app.extensions["vidlib"].db.execute("SELECT id FROM content_filters").fetchall():
            call("DELETE", f"/api/content-filters/{row[0]}")
        # The load goes on (the worker still writes the status rows of the queued media) until it
        # is enough to mean something: the files can be indexed before 200 requests are made.
        wait_until(lambda: counts["requests"] > 200, timeout=60, interval=0.1, message="200 requests of the six clients")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for proc in (worker, watcher):
            stop_process(proc)
    assert counts["requests"] > 200
    assert failures == [], failures[:10]
    logs = Path(app.config["DATA_DIR"]) / "logs"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log")) + (tmp_path / "worker.out").read_text(errors="replace")
    assert "database is locked" not in text
    assert "Traceback" not in text
