"""Shared fixtures over real parts: ffmpeg-made videos, a temp SQLite file, a real redis-server.

Videos are generated once per test session (small, a second or two each) in several
containers and codecs; each test that scans gets its own copy of the folder it needs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every response dumped through a compiled schema is also dumped by marshmallow and compared
# (vidlib/routes/dumping.py): the whole suite checks the compiled forms.
os.environ.setdefault("VIDLIB_VERIFY_DUMPS", "1")

from vidlib import create_app  # noqa: E402

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {message}")
        time.sleep(interval)


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test session loudly if it fails."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_video(path: Path, seconds: float = 2.0, size: str = "320x240", audio: bool = True, extra: tuple[str, ...] = (), video_codec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast")) -> None:
    """A test video at ``path``: testsrc2 (and a sine tone), H.264 + AAC unless told otherwise."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    audio_args = ["-c:a", "aac", "-shortest"] if audio else ["-an"]
    # A per-file comment keeps every sample's bytes (and so its hash) distinct.
    ffmpeg(*inputs, *video_codec, *audio_args, "-metadata", f"comment={path.name}", *extra, str(path))


@pytest.fixture(scope="session")
def sample_videos(tmp_path_factory) -> dict[str, Path]:
    """A set of small real videos, made once per session. Keys name the case."""
    root = tmp_path_factory.mktemp("samples")
    files: dict[str, Path] = {}

    def add(key: str, name: str, **kwargs) -> None:
        path = root / name
        make_video(path, **kwargs)
        files[key] = path

    add("mp4", "Acme Studio - 2023-05-01 - Jane Doe, John Roe - Beach Day.mp4")
    add("webm", "Blue Films - 2022-01-15 - Ann Lee - Mountain Trip.webm", audio=False, video_codec=("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"))
    add("mkv", "plain_title_video.mkv", seconds=1.5)
    add("short", "Sub Second.mp4", seconds=0.4, audio=False)
    add("noaudio", "Silent Clip.mp4", audio=False)
    add("unicode", "Ünïcødé 日本語 – Vidéo.mp4", seconds=1.0)
    add("hostile", "it's a $(touch pwned) `x` \"quoted\" & more; #1.mp4", seconds=1.0)
    # Rotated: same picture, display matrix says 90 degrees.
    rotated_src = root / "rotated_src.mp4"
    make_video(rotated_src, seconds=1.0, audio=False)
    files["rotated"] = root / "Rotated Phone Clip.mp4"
    ffmpeg("-i", str(rotated_src), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(files["rotated"]))
    rotated_src.unlink()
    # A big-ish file (> 128 KiB) for collision crafting and Range tests: noise compresses badly.
    files["large"] = root / "Large Noise.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "nullsrc=size=320x240:rate=25:duration=3,geq=random(1)*255:128:128",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(files["large"]),
    )
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    files["corrupt"] = corrupt
    empty = root / "empty.mkv"
    empty.write_bytes(b"")
    files["empty"] = empty
    text = root / "notes-not-a-video.avi"
    text.write_text("this is not a video\n" * 50)
    files["text"] = text
    return files


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory) -> dict[str, Path]:
    """A few very small real videos (H.264, no audio), made once, to copy many times.

    Keys: "base" (64x64, 0.5 s), "long" (64x64, 2 s), "tall" (64x144, 0.5 s). Use
    :func:`distinct_copy` to give each copy its own content (and so its own hash).
    """
    root = tmp_path_factory.mktemp("tiny")
    files = {}
    for key, size, seconds in (("base", "64x64", 0.5), ("long", "64x64", 2.0), ("tall", "64x144", 0.5)):
        path = root / f"{key}.mp4"
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration={seconds}",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-an", str(path),
        )
        files[key] = path
    return files


def distinct_copy(src: Path, target: Path, n: int) -> Path:
    """Copy ``src`` to ``target`` and append a trailer unique to ``n`` (0 <= n < 10**8).

    The picture is unchanged (demuxers ignore trailing bytes) but the content, and so the
    oshash, differs for every ``n``: the eight digits fall on eight distinct byte positions
    modulo 8, so no two trailers add the same amount to the hash's word sums.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    with open(target, "ab") as fh:
        fh.write(f"vidlib-copy-{n:08d}".encode())
    return target


@pytest.fixture()
def library(tmp_path) -> Path:
    """An empty library folder for one test."""
    path = tmp_path / "library"
    path.mkdir()
    return path


def copy_sample(sample_videos: dict[str, Path], key: str, dest_dir: Path, name: str | None = None) -> Path:
    """Copy one sample video into ``dest_dir`` (keeping its name unless ``name`` is given)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / (name or sample_videos[key].name)
    shutil.copy2(sample_videos[key], target)
    return target


@pytest.fixture()
def make_app(tmp_path):
    """Factory for an app on a temp data dir; extra settings override the defaults."""

    def factory(**settings):
        config = {"TESTING": True, "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": settings.pop("REDIS_URL", "unix:///nonexistent/vidlib-test.sock")}
        config.update(settings)
        return create_app(config)

    return factory


@pytest.fixture()
def app(make_app):
    return make_app()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture()
def state(app):
    return app.extensions["vidlib"]


def scan(app) -> "object":
    """Scan every folder of ``app``'s library in-process; returns the ScanStats."""
    from vidlib.library.scanner import Scanner

    st = app.extensions["vidlib"]
    return Scanner(st.db, st.config).scan_all()


def add_folder(app, path: Path) -> int:
    from vidlib.library.folders import add_folder as add

    st = app.extensions["vidlib"]
    return add(st.db, st.config, str(path))["id"]


# -- redis ---------------------------------------------------------------------------------


class RedisProcess:
    """A redis-server of the tests on a unix socket in ``directory``, restartable on that socket.

    ``persistent``: the embedded Redis's own arguments (:func:`vidlib.redisd.server_args`: an
    append-only file and a snapshot in ``directory``), for tests that kill it and want the
    queue back; otherwise nothing is kept on disk.
    """

    def __init__(self, directory: Path, persistent: bool = False):
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from vidlib.redisd import server_args

        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed (the CI script installs it)")
        args = server_args(self.directory) if self.persistent else [
            exe, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, timeout=20, message="redis-server to answer")

    def answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save (what a crash or the OOM killer does)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a temp unix socket; yields its URL."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture()
def redis_url(redis_server):
    """The session Redis, emptied before each test."""
    from redis import Redis

    conn = Redis.from_url(redis_server)
    conn.flushall()
    conn.close()
    return redis_server


# -- gunicorn --------------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def gunicorn_server(tmp_path):
    """Start ``gunicorn wsgi:app`` on a free loopback port with the given env; yields a starter."""
    procs: list[subprocess.Popen] = []

    def start(env_overrides: dict[str, str], workers: int = 2) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
        env.update(env_overrides)
        log_path = tmp_path / f"gunicorn-{port}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--no-control-socket", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=open(log_path, "wb"),
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + log_path.read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(up, timeout=30, message="gunicorn to listen")
        return base

    yield start
    for proc in procs:
        stop_process(proc, timeout=15)
