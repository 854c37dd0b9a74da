"""Preview media through real ``python worker.py`` processes: progress, cancel, crashes, Redis restarts.

A 30 s 640x360 video with a deliberately slow large-teaser setting (set through the worker's
VIDLIB_* environment) keeps one job running for a few seconds, long enough to watch it run,
cancel it, or SIGKILL the worker (and its work horse) in the middle of it. Processes are found
by scanning /proc; nothing is mocked and nothing sleeps for synchronisation.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, RedisProcess, add_folder, copy_sample, make_video, scan, wait_until
from tests.test_media import check_teaser, hash_of, media_dir, queue_media, statuses, visible_outputs

# The large teaser of the 30 s video: 4 x 5 s at 640 px with the medium preset, one thread
# (a few seconds of encoding instead of a fraction of one).
SLOW_TEASER = {
    "VIDLIB_TEASER_LARGE_WIDTH": "640",
    "VIDLIB_TEASER_LARGE_SEGMENTS": "4",
    "VIDLIB_TEASER_LARGE_SEGMENT_SECONDS": "5",
    "VIDLIB_TEASER_PRESET": "medium",
    "VIDLIB_TEASER_THREADS": "1",
}


@pytest.fixture(scope="module")
def thirty_seconds(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("long") / "Thirty Seconds.mp4"
    make_video(path, seconds=30, size="640x360")
    return path


# -- processes -------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def alive(pid: int) -> bool:
    info = _stat(pid)
    return info is not None and info[0] not in ("Z", "X")


def ffmpeg_processes(*needles: str) -> list[int]:
    """Live ffmpeg processes whose command line mentions one of ``needles``."""
    found = []
    for pid in _pids():
        args = _cmdline(pid)
        if args and os.path.basename(args[0]).startswith("ffmpeg") and any(n in a for a in args for n in needles) and alive(pid):
            found.append(pid)
    return found


def children(pid: int) -> list[int]:
    return [p for p in _pids() if (info := _stat(p)) is not None and info[1] == pid and info[0] not in ("Z", "X")]


def _env(app, redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": app.config["DATA_DIR"], "VIDLIB_REDIS_URL": redis_url, "VIDLIB_SCAN_ON_START": "false"})
    env.update(extra or {})
    return env


@pytest.fixture()
def workers():
    """Start ``python worker.py`` processes (own session each); whatever is left is killed at the end."""
    procs: list[subprocess.Popen] = []

    def start(app, redis_url: str, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "worker.py", "--no-initial-scan", *args],
            cwd=ROOT,
            env=_env(app, redis_url, {**SLOW_TEASER, **(extra or {})}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            for child in children(proc.pid):  # work horses run in their own process group
                kill_group(child)
            kill_group(proc.pid)
        proc.wait(timeout=30)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen, timeout: float = 120) -> None:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]


def _media_error(client, video_hash: str, endpoint: str = "get-teaser-large") -> dict:
    r = client.get(f"/api/media/{endpoint}/{video_hash}")
    return {"status": "done"} if r.status_code == 200 else r.get_json()["errors"]["media"]


def _running_with_progress(client, video_hash: str):
    media = _media_error(client, video_hash)
    return media if media["status"] == "running" and (media["progress"] or 0) > 0 else None


def _setup(make_app, library, redis_url, thirty_seconds):
    app = make_app(REDIS_URL=redis_url)
    path = library / thirty_seconds.name
    shutil.copyfile(thirty_seconds, path)
    add_folder(app, library)
    scan(app)
    return app, app.test_client(), path, hash_of(app, path)


def worker_log(app) -> str:
    log = Path(app.config["DATA_DIR"]) / "logs" / "worker.log"
    return log.read_text() if log.exists() else ""


# -- tests -----------------------------------------------------------------------------------


def test_queued_running_done_through_a_real_worker(make_app, library, redis_url, thirty_seconds, workers):
    app, client, path, video_hash = _setup(make_app, library, redis_url, thirty_seconds)
    queue_media(app, [video_hash], kinds=["teaser_large"])
    assert _media_error(client, video_hash)["status"] == "queued"

    proc = workers(app, redis_url, "--burst")
    media = wait_until(lambda: _running_with_progress(client, video_hash), timeout=60, message="the teaser job to run")
    assert 0 < media["progress"] < 1
    status = client.get("/api/generation/status").get_json()
    running = [r for r in status["running"] if r["hash"] == video_hash]
    assert running and running[0]["kind"] == "teaser_large" and running[0]["started_at"]
    assert status["counts"]["teaser_large"]["running"] == 1 and status["workers"] == 1
    wait_until(lambda: _media_error(client, video_hash)["status"] == "done", timeout=90, message="the teaser to be done")
    finish(proc)

    info = client.get(f"/api/media/get-teaser-large/{video_hash}").get_json()
    assert info["url"].startswith(f"/media/{video_hash[:2]}/{video_hash}/teaser_large.mp4?v=")
    check_teaser(media_dir(app, video_hash) / "teaser_large.mp4", audio=True, max_width=640)
    assert f"teaser_large for {video_hash} done" in worker_log(app)
    assert visible_outputs(media_dir(app, video_hash)) == ["teaser_large.mp4"]
    assert not list(media_dir(app, video_hash).glob(".tmp-*"))


def test_cancel_a_running_teaser_kills_its_ffmpeg(make_app, library, redis_url, thirty_seconds, workers, sample_videos):
    from rq.job import Job

    app, client, path, video_hash = _setup(make_app, library, redis_url, thirty_seconds)
    queue_media(app, [video_hash], kinds=["teaser_large", "poster"])  # the poster runs after the cancel
    directory = media_dir(app, video_hash)
    proc = workers(app, redis_url, "--burst")
    wait_until(lambda: _running_with_progress(client, video_hash), timeout=60, message="the teaser job to run")
    encoders = wait_until(lambda: ffmpeg_processes(str(directory)), timeout=20, message="the teaser's ffmpeg encoder")
    ours = ffmpeg_processes(str(path), str(directory))
    assert set(encoders) <= set(ours)

    r = client.post("/api/generation/cancel", json={"hash": video_hash, "kind": "teaser_large"})
    assert r.status_code == 200 and r.get_json() == {"count": 1}
    wait_until(lambda: not any(alive(pid) for pid in ours), timeout=20, message="the job's ffmpeg processes to end")
    st = app.extensions["vidlib"]
    job = Job.fetch(f"media-teaser_large-{video_hash}", connection=st.redis)
    wait_until(lambda: job.get_status(refresh=True) == "stopped", timeout=20, message="RQ to mark the job stopped")
    finish(proc)  # the worker survived the cancel and ran the poster

    assert statuses(app, video_hash) == {"teaser_large": "cancelled", "poster": "done"}
    assert job.get_status(refresh=True) == "stopped" and st.queue("media").count == 0  # not retried
    assert "teaser_large.mp4" not in visible_outputs(directory)
    assert visible_outputs(directory) == ["poster.jpg"]
    assert ffmpeg_processes(str(path), str(directory)) == []
    assert _media_error(client, video_hash)["status"] == "cancelled"
    assert not list(ROOT.glob("*TEMP_MPY*")), "moviepy temp files in the working directory"


def test_killed_worker_leaves_no_half_file_and_the_job_runs_again(make_app, library, redis_url, thirty_seconds, workers):
    app, client, path, video_hash = _setup(make_app, library, redis_url, thirty_seconds)
    queue_media(app, [video_hash], kinds=["teaser_large"])
    directory = media_dir(app, video_hash)
    first = workers(app, redis_url)
    wait_until(lambda: _running_with_progress(client, video_hash), timeout=60, message="the teaser job to run")
    ours = wait_until(lambda: ffmpeg_processes(str(path), str(directory)), timeout=20, message="the job's ffmpeg")
    # The work horse is the worker's child that started the ffmpeg processes (the other child,
    # if any, is RQ's scheduler).
    horses = sorted({_stat(pid)[1] for pid in ours if _stat(pid)})
    assert len(horses) == 1 and horses[0] in children(first.pid), (horses, children(first.pid))

    # The worker first: killed second, it could see its horse die and schedule a retry itself.
    kill_group(first.pid)  # the worker
    kill_group(horses[0])  # the work horse and its ffmpeg children
    first.wait(timeout=20)
    wait_until(lambda: not any(alive(pid) for pid in ours + horses), timeout=20, message="the killed processes to go")

    leftovers = [p.name for p in directory.iterdir()]
    assert "teaser_large.mp4" not in leftovers
    assert all(name.startswith(".tmp-") for name in leftovers), leftovers
    assert visible_outputs(directory) == []
    assert not list(ROOT.glob("*TEMP_MPY*")), "moviepy temp files in the working directory"
    assert statuses(app, video_hash) == {"teaser_large": "running"}  # nobody could say otherwise yet

    second = workers(app, redis_url, "--burst")  # reconciles at start: the dead worker's job runs again
    finish(second)
    assert statuses(app, video_hash) == {"teaser_large": "done"}
    check_teaser(directory / "teaser_large.mp4", audio=True, max_width=640)
    assert f"requeued teaser_large for {video_hash}" in worker_log(app)
    st = app.extensions["vidlib"]
    assert st.queue("media").count == 0 and st.queue("media").started_job_registry.count == 0
    assert client.get(f"/api/media/get-teaser-large/{video_hash}").status_code == 200


# -- a Redis that restarts empty ---------------------------------------------------------------


@pytest.fixture()
def own_redis(tmp_path_factory):
    server = RedisProcess(tmp_path_factory.mktemp("own-redis"))
    server.start()
    yield server
    server.stop()


def test_redis_restart_loses_the_queue_and_reconcile_requeues(make_app, library, sample_videos, own_redis, workers):
    app = make_app(REDIS_URL=own_redis.url)
    client = app.test_client()
    a = copy_sample(sample_videos, "mp4", library)
    b = copy_sample(sample_videos, "short", library)
    add_folder(app, library)
    scan(app)
    hashes = [hash_of(app, a), hash_of(app, b)]
    assert queue_media(app, kinds=["poster", "teaser_small"]) == 4
    st = app.extensions["vidlib"]
    assert st.queue("media").count == 4

    own_redis.stop()
    r = client.post("/api/generation/start", json={"hashes": hashes})
    assert r.status_code == 503 and "Redis" in r.get_json()["message"]
    assert client.get("/api/generation/status").get_json()["queue_available"] is False
    own_redis.start()  # empty: the queued jobs are gone, the rows still say queued
    assert st.queue("media").count == 0
    status = client.get("/api/generation/status").get_json()
    assert status["counts"]["poster"]["queued"] == 2 and status["queued_jobs"] == 0

    finish(workers(app, own_redis.url, "--burst"))
    for video_hash in hashes:
        assert statuses(app, video_hash) == {"poster": "done", "teaser_small": "done"}
        assert visible_outputs(media_dir(app, video_hash)) == ["poster.jpg", "teaser_small.mp4"]
    assert "'requeued': 4" in worker_log(app)
    assert st.queue("media").count == 0
