"""Playback of every file in a browser: compatibility, sources, live remux/transcode, pre-transcode.

Real parts only: ffmpeg-made files in the containers and codecs users have (HEVC MKV, H.264
MKV, MPEG-2 TS, MPEG-4 Part 2 AVI, WMV, a rotated MP4, an ordinary MP4), a real gunicorn with
threads (as the Procfile runs it) on a scanned library, real Chromium playing the watch page,
and the processes in /proc to prove that no ffmpeg outlives its stream.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, ffmpeg, free_port, wait_until
from tests.test_ui import CHROMIUM_ARGS, chromium_path
from vidlib import create_app
from vidlib.playback import slots
from vidlib.playback.compat import decide

SECONDS = 10
# name -> (ffmpeg codec arguments, expected mode); 320x240 testsrc2 + sine, SECONDS long
FILES = {
    "hevc.mkv": (["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=25", "-pix_fmt", "yuv420p", "-c:a", "aac"], "transcode"),
    # B-frames, as real encodes have: the copied stream starts with a composition offset
    "h264.mkv": (["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"], "remux"),
    "mpeg2.ts": (["-c:v", "mpeg2video", "-g", "25", "-c:a", "mp2"], "transcode"),
    "mpeg4.avi": (["-c:v", "mpeg4", "-g", "25", "-c:a", "libmp3lame"], "transcode"),
    "wmv.wmv": (["-c:v", "wmv2", "-g", "25", "-c:a", "wmav2"], "transcode"),
    "rotated.mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"], "direct"),
    "plain.mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"], "direct"),
}
LONG = "long-noise.mkv"  # big output, so a stream is still running when the client goes away


def make_library(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, (codec, _) in FILES.items():
        target = folder / name
        source = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={SECONDS}", "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"]
        if name == "rotated.mp4":
            # ffmpeg 5 sets the display matrix only on a stream copy
            plain = folder.parent / "unrotated.mp4"
            ffmpeg(*source, *codec, "-shortest", str(plain))
            ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(target))
            continue
        ffmpeg(*source, *codec, "-shortest", "-metadata", f"comment={name}", str(target))
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=40,noise=alls=60:allf=t",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", str(folder / LONG),
    )


def ffmpeg_processes(marker: str) -> list[int]:
    """Pids of running ffmpeg processes whose command line mentions ``marker``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and args and os.path.basename(args[0]) == b"ffmpeg" and marker.encode() in b" ".join(args):
            pids.append(int(entry))
    return pids


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return [a.decode() for a in fh.read().split(b"\0") if a]


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return int(fh.read().rsplit(b")", 1)[1].split()[16])


class Server:
    def __init__(self, base: str, port: int, library: Path, data_dir: Path, hashes: dict[str, str]):
        self.base, self.port, self.library, self.data_dir, self.hashes = base, port, library, data_dir, hashes

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), body

    def json(self, path: str) -> dict:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def open_stream(self, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path)
        return conn, conn.getresponse()

    @property
    def slot_dir(self) -> str:
        return str(self.data_dir / "transcode-slots")


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    root = tmp_path_factory.mktemp("playback")
    library, data_dir = root / "library", root / "data"
    make_library(library)
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "REDIS_URL": redis_server})
    st = app.extensions["vidlib"]
    from vidlib.library.folders import add_folder
    from vidlib.library.scanner import Scanner

    with app.app_context():
        add_folder(st.db, st.config, str(library))
        Scanner(st.db, st.config).scan_all()
    hashes = {r["filename"]: r["hash"] for r in st.db.execute("SELECT hash, filename FROM videos")}
    assert set(hashes) == set(FILES) | {LONG}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": redis_server, "VIDLIB_TRANSCODE_SLOT_WAIT": "0.5", "VIDLIB_LOG_LEVEL": "INFO"})
    empty_conf = root / "gunicorn.conf.py"
    empty_conf.write_text("")
    log_path = root / "gunicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(empty_conf), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--worker-class", "gthread", "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
    )

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text())
        try:
            return http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/stats") is None
        except OSError:
            return False

    wait_until(up, timeout=30, message="gunicorn to listen")
    yield Server(f"http://127.0.0.1:{port}", port, library, data_dir, hashes)
    proc.terminate()
    proc.wait(timeout=15)
    wait_until(lambda: not ffmpeg_processes(str(library)), timeout=10, message="no ffmpeg left after the server stopped")


# -- compatibility ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "container, video, audio, pix_fmt, mode",
    [
        ("mp4", "h264", "aac", "yuv420p", "direct"),
        ("mov", "h264", None, "yuv420p", "direct"),
        ("mp4", "av1", "opus", "yuv420p", "direct"),
        ("webm", "vp9", "opus", "yuv420p", "direct"),
        ("webm", "vp8", "vorbis", "yuv420p", "direct"),
        ("mp4", "h264", "mp3float", "yuv420p", "direct"),  # the probe stores decoder names
        ("matroska", "h264", "aac", "yuv420p", "remux"),
        ("mpegts", "h264", "aac", "yuv420p", "remux"),
        ("mp4", "h264", "ac3", "yuv420p", "remux"),  # audio re-encoded, video copied
        ("matroska", "vp9", "opus", "yuv420p", "remux"),
        ("mp4", "h264", "aac", "yuv420p10le", "transcode"),  # High 10: no picture in browsers
        ("matroska", "hevc", "aac", "yuv420p", "transcode"),
        ("mp4", "hevc", "aac", "yuv420p", "transcode"),
        ("mpegts", "mpeg2video", "mp2", "yuv420p", "transcode"),
        ("avi", "mpeg4", "mp3", "yuv420p", "transcode"),
        ("asf", "wmv2", "wmav2", "yuv420p", "transcode"),
        ("matroska", "vp8", "vorbis", "yuv420p", "transcode"),  # VP8 does not go into MP4
        ("webm", "h264", "aac", "yuv420p", "remux"),  # not a WebM codec: new container
    ],
)
def test_compatibility_rules(container, video, audio, pix_fmt, mode):
    decided, reason = decide(container, video, audio, pix_fmt)
    assert decided == mode, reason
    assert reason


def test_scan_stores_the_mode_and_the_api_lists_sources_in_order(server):
    for name, (_, mode) in FILES.items():
        data = server.json(f"/api/get-video-data/{server.hashes[name]}")
        assert data["playback"]["mode"] == mode, name
        modes = [s["mode"] for s in data["sources"]]
        assert modes == {"direct": ["direct", "transcode"], "remux": ["remux", "transcode"], "transcode": ["transcode"]}[mode], name
        assert all(s["type"] == "video/mp4" for s in data["sources"]), data["sources"]
        assert data["duration"] == pytest.approx(SECONDS, abs=0.2)
    rotated = server.json(f"/api/get-video-data/{server.hashes['rotated.mp4']}")
    assert rotated["rotation"] == 90 and rotated["pix_fmt"] == "yuv420p"


# -- live streams --------------------------------------------------------------------------


def test_remux_copies_the_video_packets(server):
    import av

    video_hash = server.hashes["h264.mkv"]
    at = server.json(f"/api/playback/stream-start/{video_hash}?mode=remux&t=4.3")
    # the keyframe before the wanted time (its decoding time: B-frames put it 2 frames earlier)
    assert at["start"] == pytest.approx(4.0, abs=0.1), "copy starts at the keyframe before the wanted time"
    status, headers, body = server.get(at["url"])
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    with av.open(io.BytesIO(body)) as out, av.open(str(server.library / "h264.mkv")) as src:
        out_packets = [bytes(p) for p in out.demux(out.streams.video[0]) if p.size][:20]
        stream = src.streams.video[0]
        src.seek(int(at["start"] * 1_000_000), backward=True)
        src_packets = [bytes(p) for p in src.demux(stream) if p.size and p.pts * stream.time_base >= at["start"] - 0.001][:20]
        assert out.streams.video[0].codec_context.name == "h264"
        assert out.streams.audio[0].codec_context.name == "aac"
    assert len(out_packets) == 20 and out_packets == src_packets, "remux re-encoded the video"
    assert (SECONDS - at["start"]) * 25 - 2 <= len(list(av.open(io.BytesIO(body)).demux(video=0))) - 1


def test_stream_runs_niced_with_the_right_arguments_and_dies_with_its_client(server):
    video_hash = server.hashes[LONG]
    marker = str(server.library / LONG)
    assert not ffmpeg_processes(marker)
    for mode, expected in (("remux", ["-c:v", "copy"]), ("transcode", ["-c:v", "libx264"])):
        conn, response = server.open_stream(f"/video/{video_hash}/{mode}?start=5")
        try:
            assert response.status == 200
            assert response.read(65536)
            pids = ffmpeg_processes(marker)
            assert len(pids) == 1, f"{mode}: ffmpeg finished before the client left, or ran twice: {pids}"
            args = cmdline(pids[0])
            # input seeking (a remux asks a little later: ffmpeg moves -ss back for B-frame video)
            assert 5.0 <= float(args[args.index("-ss") + 1]) < 5.2 and args.index("-ss") < args.index("-i")
            assert " ".join(expected) in " ".join(args)
            assert niceness(pids[0]) == 10
        finally:
            conn.close()  # the client goes away mid-stream
        wait_until(lambda: not ffmpeg_processes(marker), timeout=10, message=f"ffmpeg of the {mode} stream to be killed")


def test_a_seek_of_the_same_player_stops_the_stream_it_replaces(server):
    video_hash = server.hashes[LONG]
    marker = str(server.library / LONG)
    wait_until(lambda: not ffmpeg_processes(marker), timeout=10, message="no stream of the long file")
    first_conn, first = server.open_stream(f"/video/{video_hash}/transcode?start=1&session=seeker")
    second_conn = None
    try:
        assert first.status == 200 and first.read(65536)
        [old_pid] = ffmpeg_processes(marker)
        # The browser may keep the old connection open a moment: the new stream stops it anyway.
        second_conn, second = server.open_stream(f"/video/{video_hash}/transcode?start=20&session=seeker")
        assert second.status == 200 and second.read(65536)
        wait_until(lambda: old_pid not in ffmpeg_processes(marker), timeout=5, message="the replaced ffmpeg to be killed")
        assert len(ffmpeg_processes(marker)) == 1
        assert first.read() is not None  # the old response simply ends
    finally:
        first_conn.close()
        if second_conn is not None:
            second_conn.close()
    wait_until(lambda: not ffmpeg_processes(marker), timeout=10, message="no ffmpeg once both clients left")


def test_transcode_slots_are_shared_across_processes_and_refused_with_503(server):
    video_hash = server.hashes["hevc.mkv"]
    # This test process holds both slots: the server's workers must see them busy.
    held = [wait_until(lambda: slots.try_acquire(server.slot_dir, 2), timeout=10, message="a free slot") for _ in range(2)]
    try:
        sleeper = subprocess.Popen(["sleep", "60"])
        held[0].note("player1", sleeper.pid)
        status, headers, body = server.get(f"/video/{video_hash}/transcode")
        assert status == 503 and int(headers["Retry-After"]) > 0
        error = json.loads(body)
        assert error["code"] == 503 and "slots are busy" in error["message"]
        # A remux costs no encoding and is not limited.
        assert server.get(f"/video/{server.hashes['h264.mkv']}/remux")[0] == 200
        # A seek of the same player replaces its own stream: the old one is stopped for it.
        # (the holder of the slot frees it once its ffmpeg is gone, as the stream's close does)
        owner = threading.Thread(target=lambda: (sleeper.wait(), held[0].release()))
        owner.start()
        status, _, body = server.get(f"/video/{video_hash}/transcode?start=2&session=player1")
        assert sleeper.poll() is not None, "the replaced stream's process was killed"
        assert status == 200 and body[4:8] == b"ftyp"
        owner.join()
    finally:
        for slot in held:
            slot.release()


def test_bad_requests_and_hidden_videos(server):
    video_hash = server.hashes["hevc.mkv"]
    for path in (
        f"/video/{video_hash}/transcode?start=-1",
        f"/video/{video_hash}/transcode?start=nan",
        f"/video/{video_hash}/transcode?start={SECONDS + 5}",
        f"/video/{video_hash}/transcode?session=../../x",
        f"/api/playback/stream-start/{video_hash}?mode=direct&t=1",
        f"/api/playback/stream-start/{video_hash}?mode=remux",
        "/video/XYZ/transcode",
    ):
        status, _, body = server.get(path)
        assert status == 400, (path, status)
        assert json.loads(body)["code"] == 400
    assert server.get(f"/video/{video_hash}/copy")[0] == 404
    assert server.get("/video/0123456789abcdef/remux")[0] == 404
    # A content filter hides the video from every new endpoint too.
    app = create_app({"TESTING": True, "DATA_DIR": str(server.data_dir), "REDIS_URL": "unix:///nonexistent.sock"})
    st = app.extensions["vidlib"]
    from vidlib.filters import add_filter, remove_filter

    with st.db.conn:
        st.db.execute("INSERT OR IGNORE INTO studios (name) VALUES ('Hidden Studio')")
    studio_id = st.db.execute("SELECT id FROM studios WHERE name = 'Hidden Studio'").fetchone()[0]
    st.db.execute("UPDATE videos SET studio_id = ? WHERE hash = ?", [studio_id, video_hash])
    hidden = add_filter(st.db, "studio", "Hidden Studio")
    try:
        for path in (f"/video/{video_hash}/transcode", f"/api/playback/stream-start/{video_hash}?mode=transcode&t=1", f"/api/get-video-data/{video_hash}"):
            assert server.get(path)[0] == 404, path
    finally:
        remove_filter(st.db, hidden["id"])
        st.db.execute("UPDATE videos SET studio_id = NULL WHERE hash = ?", [video_hash])
    # A file ffmpeg cannot read: a 4xx with ffmpeg's reason, no ffmpeg left behind; a
    # pre-transcode of it fails with the reason recorded.
    broken = server.library / "broken.mkv"
    broken.write_bytes(b"\x1aE\xdf\xa3" + os.urandom(50_000))
    st.db.execute("UPDATE videos SET path = ? WHERE hash = ?", [str(broken), video_hash])
    try:
        status, _, body = server.get(f"/video/{video_hash}/transcode")
        assert status == 422 and json.loads(body)["message"].startswith("cannot transcode this video: "), body
        assert not ffmpeg_processes(str(broken))
        from vidlib.media.jobs import generate

        with app.app_context():
            result = generate(video_hash, "transcode")
        assert result["status"] == "failed" and "ffmpeg could not convert the file" in result["error"]
        row = st.db.execute("SELECT status, error FROM media WHERE hash = ? AND kind = 'transcode'", [video_hash]).fetchone()
        assert row["status"] == "failed" and row["error"] == result["error"]
        assert server.json(f"/api/get-video-data/{video_hash}")["playback"]["pretranscode"]["status"] == "failed"
    finally:
        st.db.execute("UPDATE videos SET path = ? WHERE hash = ?", [str(server.library / "hevc.mkv"), video_hash])
        st.db.execute("DELETE FROM media WHERE hash = ?", [video_hash])
        broken.unlink()
    # A row whose file is outside every library folder is never streamed.
    outside = server.data_dir / "outside.mkv"
    outside.write_bytes((server.library / "h264.mkv").read_bytes())
    remux_hash = server.hashes["h264.mkv"]
    st.db.execute("UPDATE videos SET path = ? WHERE hash = ?", [str(outside), remux_hash])
    try:
        assert server.get(f"/video/{remux_hash}/remux")[0] == 404
    finally:
        st.db.execute("UPDATE videos SET path = ? WHERE hash = ?", [str(server.library / "h264.mkv"), remux_hash])


# -- in Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _player_state(page) -> dict:
    return page.evaluate(
        """() => { const v = document.querySelector('video'); const p = document.querySelector('.player');
            return {w: v.videoWidth, h: v.videoHeight, t: parseFloat(p.dataset.time), ct: v.currentTime, offset: parseFloat(p.dataset.offset),
                    mode: p.dataset.mode, paused: v.paused, error: v.error && v.error.code,
                    failed: !!document.querySelector('.player .failed')}; }"""
    )


def _play(page, url: str, at: float, what: str) -> float:
    """Open a watch page, start the player muted, and wait until it plays from ``at`` seconds."""
    page.goto(url)
    page.wait_for_selector(".player video")
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    return _wait_playing_from(page, at, what)


def _wait_playing_from(page, at: float, what: str) -> float:
    """Wait until the element shows a picture at ``at`` s of the video or later and plays on; returns the seconds it took."""
    started = time.monotonic()

    def at_target():
        state = _player_state(page)
        if state["failed"]:
            pytest.fail(f"{what}: the player gave up")
        return state["w"] > 0 and state["offset"] + state["ct"] >= at and state

    first = wait_until(at_target, timeout=20, interval=0.02, message=f"{what} to play from {at:.1f} s")
    wait_until(lambda: _player_state(page)["ct"] > first["ct"] + 0.2, timeout=10, interval=0.02, message=f"{what}: time to advance")
    return time.monotonic() - started


@pytest.mark.parametrize("name", list(FILES))
def test_every_file_plays_and_seeks_in_chromium(server, browser, name):
    video_hash = server.hashes[name]
    data = server.json(f"/api/get-video-data/{video_hash}")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{server.base}/watch/{video_hash}")
    page.wait_for_selector(".player video")
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
    # The seek bar knows the length from the probe, even where the element cannot (a live stream).
    assert page.locator(".seekbar").get_attribute("aria-valuemax") == str(SECONDS)
    _wait_playing_from(page, 0.3, f"{name} from the start")
    state = _player_state(page)
    assert state["mode"] == data["sources"][0]["mode"], "the player uses the first source"
    if name == "rotated.mp4":
        assert state["h"] > state["w"], "the display rotation is applied"
    else:
        assert (state["w"], state["h"]) == (320, 240)
    timings = {}
    for fraction, key in ((0.5, "5"), (0.9, "9")):
        page.locator(".player .surface").focus()
        page.keyboard.press(key)
        # a remux restarts at the keyframe before the wanted time (GOP 1 s here)
        timings[fraction] = _wait_playing_from(page, fraction * SECONDS - (1.05 if state["mode"] == "remux" else 0.05), f"{name} after a seek to {fraction:.0%}")
        assert _player_state(page)["t"] <= fraction * SECONDS + 3, "the seek went where it was asked"
    print(f"{name}: {state['mode']}, seek to 50 % played after {timings[0.5]:.2f} s, to 90 % after {timings[0.9]:.2f} s")
    context.close()
    wait_until(lambda: not ffmpeg_processes(str(server.library)), timeout=10, message="no ffmpeg left after the page closed")


def test_a_finished_live_stream_plays_again_from_the_start(server, browser):
    context = browser.new_context()
    page = context.new_page()
    try:
        _play(page, f"{server.base}/watch/{server.hashes['hevc.mkv']}", 0.3, "hevc.mkv")
        page.keyboard.press("9")
        page.wait_for_function("() => document.querySelector('video').ended", timeout=20000)
        page.keyboard.press("k")
        _wait_playing_from(page, 0.0, "hevc.mkv played again")
        assert _player_state(page)["offset"] + _player_state(page)["ct"] < 5, "it starts over, not at the end"
    finally:
        context.close()


def test_a_long_pause_lets_the_live_stream_go_and_play_resumes_in_place(server, browser):
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('vidlib.pauseReleaseMs', '300')")
    page = context.new_page()
    try:
        _play(page, f"{server.base}/watch/{server.hashes['hevc.mkv']}", 1.0, "hevc.mkv")
        page.locator(".player .surface").focus()
        page.keyboard.press("k")
        wait_until(lambda: _player_state(page)["paused"], timeout=5, message="the pause")
        # The element lets its source go (its connection closes: the server's close() kills
        # ffmpeg and frees the slot); the player keeps the place.
        wait_until(lambda: page.evaluate("() => document.querySelector('video').getAttribute('src')") == "", timeout=5, message="the stream to be let go")
        paused_at = _player_state(page)["t"]
        assert paused_at >= 1.0 and not _player_state(page)["failed"]
        assert _player_state(page)["mode"] == "transcode", "letting go is no reason to change source"
        wait_until(lambda: not ffmpeg_processes(str(server.library / "hevc.mkv")), timeout=10, message="no ffmpeg for the paused video")
        page.keyboard.press("k")
        _wait_playing_from(page, paused_at - 0.2, "hevc.mkv after the long pause")
        state = _player_state(page)
        assert abs(state["offset"] - paused_at) < 0.1, "a new stream from the place it paused, not from the start"
        assert state["offset"] + state["ct"] < paused_at + 3
    finally:
        context.close()


def test_the_player_falls_back_when_the_first_source_shows_no_picture(server, browser):
    """The issue's symptom: an HEVC MKV played as it is gives sound and no picture in Chromium."""
    app = create_app({"TESTING": True, "DATA_DIR": str(server.data_dir), "REDIS_URL": "unix:///nonexistent.sock"})
    st = app.extensions["vidlib"]
    video_hash = server.hashes["hevc.mkv"]
    st.db.execute("UPDATE videos SET playback = 'direct' WHERE hash = ?", [video_hash])  # as if the probe were wrong
    context = browser.new_context()
    page = context.new_page()
    try:
        assert [s["mode"] for s in server.json(f"/api/get-video-data/{video_hash}")["sources"]] == ["direct", "transcode"]
        _play(page, f"{server.base}/watch/{video_hash}", 0.3, "hevc.mkv after the fallback")
        state = _player_state(page)
        assert state["mode"] == "transcode" and state["w"] == 320
    finally:
        context.close()
        st.db.execute("UPDATE videos SET playback = 'transcode' WHERE hash = ?", [video_hash])


# -- pre-transcode ----------------------------------------------------------------------------


def test_pretranscode_becomes_the_first_source_and_is_served_with_range(server, browser):
    import av

    from vidlib.media.jobs import generate

    app = create_app({"TESTING": True, "DATA_DIR": str(server.data_dir), "REDIS_URL": "unix:///nonexistent.sock"})
    video_hash = server.hashes["wmv.wmv"]
    with app.app_context():
        result = generate(video_hash, "transcode")
    assert result["status"] == "done", result
    data = server.json(f"/api/get-video-data/{video_hash}")
    assert data["playback"]["pretranscode"]["status"] == "done"
    first = data["sources"][0]
    assert first["mode"] == "pretranscoded" and first["url"].startswith(f"/media/{video_hash[:2]}/{video_hash}/playback.mp4")
    assert [s["mode"] for s in data["sources"]] == ["pretranscoded", "transcode"]
    status, headers, body = server.get(first["url"], {"Range": "bytes=0-65535"})
    assert status == 206 and headers["Content-Range"].startswith("bytes 0-65535/")
    assert body.index(b"moov") < (body.find(b"mdat") % (len(body) + 1)), "+faststart: the index comes first"
    path = server.data_dir / "media" / video_hash[:2] / video_hash / "playback.mp4"
    with av.open(str(path)) as out:
        assert out.streams.video[0].codec_context.name == "h264" and out.streams.audio[0].codec_context.name == "aac"
        assert float(out.duration / 1_000_000) == pytest.approx(SECONDS, abs=0.3)
    # The player takes it and seeks in it natively (no stream restart, no ffmpeg).
    context = browser.new_context()
    page = context.new_page()
    _play(page, f"{server.base}/watch/{video_hash}", 0.3, "the pre-transcoded file")
    assert _player_state(page)["mode"] == "pretranscoded"
    page.keyboard.press("5")
    _wait_playing_from(page, 0.5 * SECONDS - 0.05, "the pre-transcoded file after a seek")
    assert not ffmpeg_processes(str(server.library))
    context.close()


def test_pretranscode_is_queued_for_incompatible_videos_from_cli_and_dashboard(server, redis_server):
    from redis import Redis

    Redis.from_url(redis_server).flushall()
    app = create_app({"TESTING": True, "DATA_DIR": str(server.data_dir), "REDIS_URL": redis_server})
    st = app.extensions["vidlib"]
    st.db.execute("DELETE FROM media WHERE kind = 'transcode'")
    result = app.test_cli_runner().invoke(args=["transcode"])
    assert result.exit_code == 0, result.output
    incompatible = {h for name, h in server.hashes.items() if name == LONG or FILES[name][1] != "direct"}  # LONG: H.264 in MKV
    queued = {job_id.rsplit("-", 1)[1] for job_id in st.queue("media").job_ids}
    assert queued == incompatible and f"queued {len(incompatible)} pre-transcode jobs" in result.output
    assert app.test_cli_runner().invoke(args=["transcode", "--video", "0123456789abcdef"]).exit_code != 0

    client = app.test_client()
    status = client.get("/api/generation/status").get_json()
    assert status["counts"]["transcode"]["queued"] == len(incompatible)
    assert status["counts"]["transcode"]["missing"] == 0, "compatible videos do not count as missing a pre-transcode"
    Redis.from_url(redis_server).flushall()
    st.db.execute("DELETE FROM media WHERE kind = 'transcode'")
    plain = server.hashes["plain.mp4"]
    response = client.post("/api/generation/start", json={"kinds": ["transcode"], "hashes": [plain]})
    assert response.status_code == 202 and response.get_json()["queued"] == 1, "one video on request, even a compatible one"
    assert st.queue("media").job_ids == [f"media-transcode-{plain}"]
    st.db.execute("DELETE FROM media WHERE kind = 'transcode'")
    Redis.from_url(redis_server).flushall()


def test_watch_page_offers_the_pretranscode_of_a_video_that_needs_conversion(server, browser, redis_server):
    from redis import Redis

    app = create_app({"TESTING": True, "DATA_DIR": str(server.data_dir), "REDIS_URL": redis_server})
    st = app.extensions["vidlib"]
    Redis.from_url(redis_server).flushall()
    st.db.execute("DELETE FROM media WHERE kind = 'transcode'")
    video_hash = server.hashes["mpeg4.avi"]
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.base}/watch/{server.hashes['plain.mp4']}")
        page.locator("details.tech summary").click()
        assert page.locator(".playback").get_attribute("data-mode") == "direct"
        assert page.locator(".playback button").count() == 0, "nothing to convert for a file that plays"
        page.goto(f"{server.base}/watch/{video_hash}")
        page.locator("details.tech summary").click()
        playback = page.locator(".playback")
        assert playback.get_attribute("data-mode") == "transcode" and "mpeg4" in playback.inner_text()
        playback.get_by_role("button", name="Pre-transcode").click()
        page.locator(".playback [role=status]").filter(has_text="Queued").wait_for()
        # (opening a watch page also queues its missing preview media)
        assert [j for j in st.queue("media").job_ids if j.startswith("media-transcode-")] == [f"media-transcode-{video_hash}"]
        # The dashboard's pre-transcode row counts it, and only videos that need conversion as missing.
        page.goto(f"{server.base}/dashboard")
        row = page.locator("tr[data-kind='transcode']")
        row.locator("td[data-state='queued']", has_text="1").wait_for(timeout=10000)
        incompatible = sum(1 for name in server.hashes if name == LONG or FILES[name][1] != "direct")
        assert row.locator("td[data-state='missing']").inner_text() == str(incompatible - 1)
    finally:
        context.close()
        Redis.from_url(redis_server).flushall()
        st.db.execute("DELETE FROM media WHERE kind = 'transcode'")
