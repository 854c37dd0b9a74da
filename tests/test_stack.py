"""The whole stack as the run command starts it: honcho + Procfile (private Redis, gunicorn,
worker, watcher), stopped with SIGTERM in the middle of a job.

Nothing may be lost: the running job goes back to the front of its queue (and its status
row says so), queued jobs and favourites survive, every process exits on its own without a
traceback, and no process of the stack (ffmpeg included) is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, make_video, wait_until
from vidlib.redisd import server_args

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("film") / "Studio - Ann Example - Long Night.mp4"
    make_video(path, seconds=60, size="1280x720")
    return path


def _env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        VIDLIB_DATA_DIR=str(data_dir),
        VIDLIB_HOST="127.0.0.1",
        VIDLIB_PORT=str(port),
        VIDLIB_MEDIA_AUTO_QUEUE="false",
        VIDLIB_WORKERS="1",
    )
    env.update(extra)
    return env


def _flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "flask"), "--app", "vidlib", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _call(base: str, method: str, path: str) -> dict:
    request = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _sqlite(data_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(data_dir / "vidlib.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _stack_processes(marker: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment mentions ``marker`` (the data dir)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{entry}/environ").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and (marker in cmdline or marker in environ):
            found.append((int(entry), cmdline.strip()))
    return found


def test_sigterm_stops_the_stack_cleanly_and_requeues_the_running_job(tmp_path, film):
    data_dir, library = tmp_path / "data", tmp_path / "library"
    library.mkdir()
    shutil.copyfile(film, library / film.name)
    port = free_port()
    env = _env(data_dir, port)
    _flask(env, "add-folder", str(library))
    _flask(env, "scan")
    (video_hash,) = _sqlite(data_dir, "SELECT hash FROM videos")[0]

    log_path = tmp_path / "honcho.log"
    stack = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile", "start", "redis", "web", "worker", "watcher"],
        cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def web_up():
            try:
                return _call(base, "GET", "/api/stats")
            except OSError:
                assert stack.poll() is None, log_path.read_text()
                return None

        wait_until(web_up, timeout=60, message="the web process")
        assert _call(base, "POST", f"/api/add-favourite/{video_hash}")["favourite"] is True
        # A long job (the large teaser) and one behind it.
        _flask(env, "generate", "--video", video_hash, "--kind", "teaser_large", "--kind", "poster", "--all")

        def teaser_running():
            rows = _sqlite(data_dir, "SELECT status, progress FROM media WHERE hash = ? AND kind = 'teaser_large'", (video_hash,))
            return rows and rows[0][0] == "running" and (rows[0][1] or 0) > 0

        wait_until(teaser_running, timeout=60, interval=0.1, message="the teaser job to run")
        os.kill(stack.pid, signal.SIGTERM)
        assert stack.wait(timeout=20) == 128 + signal.SIGTERM, log_path.read_text()[-4000:]  # honcho reports the signal
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    output = log_path.read_text()
    assert "Traceback" not in output, output[-4000:]
    assert "sending SIGKILL" not in output  # every process stopped inside honcho's grace period
    for name in ("redis", "web", "worker", "watcher"):
        assert f"{name}.1 stopped (rc=0)" in output, output[-4000:]
    # The private Redis stopped after the worker had put its job back.
    assert output.index("requeued at the front of 'media'") < output.index("redis-server stopped")
    wait_until(lambda: not _stack_processes(str(data_dir)), timeout=10, message="every process of the stack to go")

    assert _sqlite(data_dir, "SELECT hash FROM favourites") == [(video_hash,)]
    assert _sqlite(data_dir, "SELECT status FROM media WHERE hash = ? AND kind = 'teaser_large'", (video_hash,)) == [("queued",)]
    media = Path(data_dir) / "media"
    assert not [p for p in media.rglob("teaser_large*")], "a stopped job left a file under its real name"

    # Redis comes back from its snapshot with the stopped job first in line, the other behind it.
    redis_proc = subprocess.Popen(server_args(data_dir), stdout=subprocess.DEVNULL)
    try:
        import redis
        from rq import Queue

        conn = redis.Redis(unix_socket_path=str(data_dir / "redis.sock"))
        wait_until(lambda: (data_dir / "redis.sock").exists() and conn.ping(), timeout=20, message="redis to load its snapshot")
        assert Queue("media", connection=conn).job_ids == [f"media-teaser_large-{video_hash}", f"media-poster-{video_hash}"]

        # And a worker finishes what the stopped one began.
        done = subprocess.run(
            [sys.executable, "worker.py", "--burst", "--no-initial-scan"],
            cwd=ROOT, env={**env, "VIDLIB_REDIS_URL": f"unix://{data_dir / 'redis.sock'}"}, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        statuses = dict(_sqlite(data_dir, "SELECT kind, status FROM media WHERE hash = ?", (video_hash,)))
        assert statuses == {"teaser_large": "done", "poster": "done"}
        assert (media / video_hash[:2] / video_hash / "teaser_large.mp4").stat().st_size > 0
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def _gunicorn_output_until(env: dict[str, str], needle: str) -> str:
    """Start gunicorn with gunicorn.conf.py and return its output up to the line with ``needle``."""
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []

        def seen():
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            return needle in line

        wait_until(seen, timeout=60, interval=0, message=repr(needle))
        return "".join(lines)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_gunicorn_conf_warns_when_bound_beyond_loopback_without_a_token(tmp_path):
    port = free_port()
    text = _gunicorn_output_until(_env(tmp_path / "data", port, VIDLIB_HOST="0.0.0.0"), "VIDLIB_ADMIN_TOKEN is not set")
    assert f"vidlib listens on 0.0.0.0:{port}" in text


def test_gunicorn_conf_is_quiet_on_loopback_and_uses_threads(tmp_path):
    port = free_port()
    text = _gunicorn_output_until(_env(tmp_path / "data", port), "Booting worker")
    assert "Using worker: gthread" in text and f"127.0.0.1:{port}" in text
    assert "ADMIN_TOKEN" not in text


def _listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port`` (/proc/net/tcp, state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == "0A")


def test_gunicorn_workers_each_listen_on_their_own_socket(tmp_path):
    """reuse_port: each worker has its own listening socket, so the kernel spreads connections
    evenly over them (one shared socket let one worker take two thirds of them); all answer."""
    port = free_port()
    env = _env(tmp_path / "data", port, VIDLIB_WEB_WORKERS="3")
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening_sockets(port) == 3, timeout=60, message="three listening sockets")
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/get-performers") as response:
                assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0


def test_gunicorn_stops_with_the_reason_when_its_port_is_taken(tmp_path):
    """With reuse_port the workers bind: a taken port made each of them fail and be restarted
    forever, and a second vidlib on the same port shared the first one's visitors. gunicorn
    now checks the port first and exits, saying why, for a foreign listener and for vidlib."""
    port = free_port()
    gunicorn = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        done = subprocess.run(gunicorn, cwd=ROOT, env=_env(tmp_path / "data", port), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"cannot listen at 127.0.0.1:{port}: Address already in use" in done.stderr, done.stderr[-2000:]
    assert "Booting worker" not in done.stderr

    first = subprocess.Popen(gunicorn, cwd=ROOT, env=_env(tmp_path / "data", port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening_sockets(port) == 2, timeout=60, message="the first vidlib's two workers")
        second = subprocess.run(gunicorn, cwd=ROOT, env=_env(tmp_path / "data2", port), capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "already running there" in second.stderr, second.stderr[-2000:]
        assert _listening_sockets(port) == 2 and first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=15)


def test_gunicorn_conf_freezes_long_lived_objects_in_workers_only_and_filters_the_error_log():
    """post_worker_init turns on gc.freeze for the worker (full collections walked ~140,000
    long-lived objects, ~60 ms with the GIL held); elsewhere freeze_long_lived does nothing."""
    probe = (
        "import gc, sys; sys.argv = ['gunicorn', '-c', 'gunicorn.conf.py', 'wsgi:app']\n"
        "from vidlib.state import freeze_long_lived\n"
        "freeze_long_lived(); print(gc.get_freeze_count())\n"
        "from gunicorn.app.wsgiapp import WSGIApplication\n"
        "cfg = WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]').cfg\n"
        "cfg.post_worker_init(None); frozen = gc.get_freeze_count(); print(frozen)\n"
        "junk = [[] for _ in range(1000)]; freeze_long_lived(); print(gc.get_freeze_count() - frozen)\n"
        "print(cfg.reuse_port)\n"
        "import logging; from vidlib.stalled import StalledClientLog\n"
        "print(sum(isinstance(f, StalledClientLog) for f in logging.getLogger('gunicorn.error').filters))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(Path("/nonexistent"), free_port()), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    before, frozen, more, reuse, filters = done.stdout.split()
    assert before == "0" and int(frozen) > 10_000 and int(more) > 900 and reuse == "True"  # the 1,000 new lists frozen too (less what the collect freed)
    assert filters == "1"  # vidlib.stalled's one-line log of a stalled client's reset


def test_gunicorn_conf_keeps_sendfile_on(tmp_path):
    # gunicorn's ``sendfile`` setting is its --no-sendfile switch: any value in the config file
    # (even True) turned sendfile off, and /video bytes went through Python 256 KiB at a time.
    probe = (
        "import sys; sys.argv = ['gunicorn', '-c', 'gunicorn.conf.py', 'wsgi:app']\n"
        "from gunicorn.app.wsgiapp import WSGIApplication\n"
        "cfg = WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]').cfg\n"
        "print(cfg.sendfile, cfg.worker_class_str, cfg.threads)\n"
    )
    env = {k: v for k, v in _env(tmp_path / "data", free_port()).items() if k != "SENDFILE"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["True", "gthread"], done.stdout
