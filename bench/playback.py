#!/usr/bin/env python3
"""Benchmark: live remux and transcode, seeking, CPU cost and how many transcodes fit in real time.

Makes 1920x1080 25 fps files (``testsrc2`` + a sine tone, AAC): a 10-minute HEVC MKV (x265
``ultrafast``, its default keyframe interval of 250 frames = 10 s, as real encodes have), the
same HEVC as a 2-hour film, and a 10-minute H.264 MKV (x264 ``ultrafast``, ``-g 250``). A
minute is encoded and copied with the concat demuxer (``--workdir`` keeps them for next time). A gunicorn with threads
(as the Procfile runs it) serves a library of the two, with the default settings.

Figures (printed, never asserted):

1. **HTTP, after a seek** to 10 %, 30 %, 50 %, 70 % and 90 % (each + 7.3 s, so most of a GOP
   must be decoded before the wanted frame): the player's two requests
   (``/api/playback/stream-start`` then the stream), time to the stream's first byte and to
   its first decodable video frame (the bytes fed to PyAV as they arrive), for ``remux`` and
   ``transcode`` of the HEVC file (a remux of HEVC plays in Safari, not Chromium: it is measured
   as the pipeline cost) and ``remux`` of the H.264 file.
2. **Chromium, after a seek** (the watch page, a click on the seek bar): from the click to
   the new stream's ``playing`` event and to its clock advancing 0.25 s, for the transcoded
   HEVC and the remuxed H.264 file. The target: playing within 2 s.
3. **CPU seconds per minute of transcoded playback**: the live transcode command run flat out
   on 60 s of the HEVC file (ffmpeg's user + system time).
4. **Concurrent transcodes**: k = 1..``--max-concurrent`` live transcodes of 30 s each at
   once, flat out; the slowest one's speed (content seconds per wall second). Real time holds
   while it is at least 1.
5. **Pre-transcode** of one minute of the HEVC file (the job's own function, default
   ``PRETRANSCODE_*`` settings): wall and CPU seconds, output size.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import resource
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import add_workdir_args, bench_workdir, free_port, machine, parse_workdir_args, table, wait_for_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
MID_GOP = 7.3  # seconds added to each position: 7.3 s past a keyframe of a 10 s GOP, near the worst case
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def run(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_file(folder: Path, name: str, codec: list[str], minutes: int = 10, minute_of: str | None = None) -> Path:
    target = folder / name
    if target.exists():
        return target
    minute = folder.parent / f"minute-{minute_of or name}"
    if not minute.exists():
        print(f"making a minute of 1080p for {name}...", flush=True)
        run("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=60", "-f", "lavfi", "-i", "sine=frequency=440:duration=60",
            *codec, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(minute))
    print(f"making {name} (the minute copied {minutes} times)...", flush=True)
    listing = folder.parent / f"concat-{name}.txt"
    listing.write_text("".join(f"file '{minute}'\n" for _ in range(minutes)))
    run("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(target))
    return target


def uptime() -> str:
    with open("/proc/loadavg") as fh:
        return "load average " + " ".join(fh.read().split()[:3])


class PipeReader:
    """A non-seekable file object over an HTTP response, noting when the first byte came."""

    def __init__(self, response: http.client.HTTPResponse):
        self.response, self.first_byte = response, None

    def read(self, n: int = -1) -> bytes:
        data = self.response.read1(65536 if n is None or n < 0 else min(n, 65536))
        if data and self.first_byte is None:
            self.first_byte = time.perf_counter()
        return data


def seek_over_http(port: int, video_hash: str, mode: str, t: float) -> tuple[float, float, float]:
    """(stream-start API ms, first byte ms, first decoded frame ms), all from the seek."""
    import av

    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/api/playback/stream-start/{video_hash}?mode={mode}&t={t}")
    at = json.loads(conn.getresponse().read())
    api_done = time.perf_counter()
    conn.request("GET", at["url"])
    response = conn.getresponse()
    assert response.status == 200, response.status
    reader = PipeReader(response)
    with av.open(reader, format="mp4") as container:
        next(container.decode(video=0))
    frame = time.perf_counter()
    conn.close()  # the server kills ffmpeg
    return (api_done - started) * 1000, (reader.first_byte - started) * 1000, (frame - started) * 1000


def chromium_seeks(base: str, video_hash: str, duration: float) -> list[tuple[float, float, float]]:
    """For each position: (seconds, ms to the new stream's playing event, ms to its clock advancing 0.25 s)."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/watch/{video_hash}")
        page.wait_for_selector(".player video")
        page.evaluate("""() => { window.L = []; const v = document.querySelector('video'); v.muted = true; v.play();
            for (const e of ['loadstart', 'playing', 'timeupdate']) v.addEventListener(e, () => L.push([performance.now(), e, v.currentTime])); }""")
        page.wait_for_function("() => document.querySelector('video').currentTime > 1", timeout=30000)
        for fraction in FRACTIONS:
            target = fraction * duration + MID_GOP
            box = page.locator(".seekbar").bounding_box()
            page.mouse.move(box["x"] + box["width"] * target / duration, box["y"] + box["height"] / 2)
            page.evaluate("() => { L.length = 0; window.K = performance.now(); }")
            page.mouse.down()
            page.mouse.up()
            page.wait_for_function(
                "() => { const i = L.findIndex(e => e[1] === 'loadstart'); return i >= 0 && L.slice(i).some(e => e[1] === 'timeupdate' && e[2] > 0.25); }",
                timeout=30000,
            )
            log, pressed = page.evaluate("L"), page.evaluate("K")
            load = next(i for i, e in enumerate(log) if e[1] == "loadstart")
            playing = next(e[0] for e in log[load:] if e[1] == "playing")
            advanced = next(e[0] for e in log[load:] if e[1] == "timeupdate" and e[2] > 0.25)
            results.append((target, playing - pressed, advanced - pressed))
            time.sleep(1.5)  # watch a little, as a person would, before the next seek
        browser.close()
    return results


def transcode_flat_out(video: dict, start: float, seconds: float, config: dict) -> tuple[float, float]:
    """(wall s, CPU s) of a live transcode command of ``seconds`` of content, read as fast as it comes."""
    from vidlib.playback.live import stream_command

    cmd = stream_command(video, "transcode", start, config)
    cmd.insert(cmd.index("-i"), "-t")  # an input option: stop after `seconds` of content
    cmd.insert(cmd.index("-i"), str(seconds))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while proc.stdout.read(1 << 20):
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_workdir_args(parser, "the two 10-minute files")
    parser.add_argument("--max-concurrent", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="HTTP seeks per position and mode")
    parser.add_argument("--parts", default="12345", help="which numbered measurements to run (default: all)")
    args = parse_workdir_args(parser, argv)
    from config import load_config

    print(machine(uptime()))
    with bench_workdir(args.workdir, args.keep, "vidlib-bench-playback-") as work:
        library = work / "library"
        library.mkdir(exist_ok=True)
        hevc_codec = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"]
        make_file(library, "hevc-1080p.mkv", hevc_codec)
        make_file(library, "hevc-1080p-2h.mkv", hevc_codec, minutes=120, minute_of="hevc-1080p.mkv")
        make_file(library, "h264-1080p.mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-g", "250"])
        data = work / "data"
        if data.exists():
            subprocess.run(["rm", "-rf", str(data)], check=True)
        from vidlib import create_app
        from vidlib.library.folders import add_folder
        from vidlib.library.scanner import Scanner

        app = create_app({"TESTING": True, "DATA_DIR": str(data), "REDIS_URL": "unix:///nonexistent/bench.sock"})
        st = app.extensions["vidlib"]
        add_folder(st.db, st.config, str(library))
        Scanner(st.db, st.config).scan_all()
        conn = sqlite3.connect(data / "vidlib.db")
        conn.row_factory = sqlite3.Row
        rows = {r["filename"]: dict(r) for r in conn.execute("SELECT * FROM videos")}
        hevc, h264, film = rows["hevc-1080p.mkv"], rows["h264-1080p.mkv"], rows["hevc-1080p-2h.mkv"]
        print(f"files: HEVC {hevc['duration']:.0f} s {hevc['width']}x{hevc['height']} ({hevc['playback']}), H.264 {h264['duration']:.0f} s ({h264['playback']})")
        config = load_config({"DATA_DIR": str(data)})
        print(f"settings: TRANSCODE_MAX_HEIGHT={config['TRANSCODE_MAX_HEIGHT']} PRESET={config['TRANSCODE_PRESET']} CRF={config['TRANSCODE_CRF']} NICE={config['TRANSCODE_NICE']}")

        if "1" in args.parts or "2" in args.parts:
            with gunicorn(data, work) as port:
                if "1" in args.parts:
                    part_http(port, hevc, film, h264, args.repeat)
                if "2" in args.parts:
                    part_chromium(port, hevc, film, h264)
        if "3" in args.parts:
            print(f"\n## 3. CPU per minute of transcoded playback — {uptime()}\n")
            wall, cpu = transcode_flat_out(hevc, 0.3 * hevc["duration"], 60, config)
            print(table([("HEVC 1080p -> H.264 720p", f"{cpu:.1f}", f"{wall:.1f}", f"{60 / wall:.2f}x")], ("transcode", "CPU s per minute", "wall s per minute", "speed")))
        if "4" in args.parts:
            part_concurrency(hevc, config, args.max_concurrent)
        if "5" in args.parts:
            part_pretranscode(work, config)
        print(f"\n{uptime()}")


@contextlib.contextmanager
def gunicorn(data: Path, work: Path):
    """A gunicorn with threads (as the Procfile runs it) on ``data``; yields its port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(data), "VIDLIB_REDIS_URL": "unix:///nonexistent/bench.sock", "VIDLIB_LOG_LEVEL": "WARNING"})
    (work / "gunicorn.conf.py").write_text("")
    log_path = work / "gunicorn.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(work / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--worker-class", "gthread", "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(server, port, log_path, "gunicorn")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=20)


def part_http(port: int, hevc: dict, film: dict, h264: dict, repeat: int) -> None:
    print(f"\n## 1. After a seek, over HTTP (median of {repeat} per position; ms from the seek) — {uptime()}\n")
    rows = []
    for label, video, mode in (("HEVC", hevc, "transcode"), ("HEVC 2 h", film, "transcode"), ("HEVC", hevc, "remux"), ("H.264", h264, "remux")):
        for fraction in FRACTIONS:
            t = round(fraction * video["duration"] + MID_GOP, 1)
            samples = [seek_over_http(port, video["hash"], mode, t) for _ in range(repeat)]
            api, first, frame = (statistics.median(s[i] for s in samples) for i in range(3))
            rows.append((f"{label} {mode}", f"{t:.1f} s", f"{api:.0f}", f"{first:.0f}", f"{frame:.0f}"))
    print(table(rows, ("file, mode", "seek to", "stream-start API", "first byte", "first decoded frame")))


def part_chromium(port: int, hevc: dict, film: dict, h264: dict) -> None:
    print(f"\n## 2. After a seek, in Chromium (ms from the click on the seek bar) — {uptime()}\n")
    rows = []
    for label, video, mode in (("HEVC", hevc, "transcode"), ("HEVC 2 h", film, "transcode"), ("H.264", h264, "remux")):
        for target, playing, advanced in chromium_seeks(f"http://127.0.0.1:{port}", video["hash"], video["duration"]):
            rows.append((f"{label} {mode}", f"{target:.1f} s", f"{playing:.0f}", f"{advanced:.0f}"))
    print(table(rows, ("file, mode", "seek to", "playing", "clock +0.25 s")))


def part_concurrency(hevc: dict, config: dict, most: int) -> None:
    print(f"\n## 4. Concurrent transcodes, 30 s of content each, flat out — {uptime()}\n")
    rows = []
    for k in range(1, most + 1):
        results: list[tuple[float, float]] = [(0.0, 0.0)] * k

        def one(i: int) -> None:
            results[i] = transcode_flat_out(hevc, (0.1 + 0.8 * i / k) * hevc["duration"], 30, config)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slowest = max(w for w, _ in results)
        rows.append((k, f"{30 / slowest:.2f}x", f"{statistics.mean(30 / w for w, _ in results):.2f}x", "yes" if 30 / slowest >= 1 else "no"))
    print(table(rows, ("concurrent", "slowest speed", "mean speed", "real time")))


def part_pretranscode(work: Path, config: dict) -> None:
    import av

    from vidlib.library.probe import probe
    from vidlib.playback.pretranscode import make_playback_file

    print(f"\n## 5. Pre-transcode of one minute of 1080p HEVC — {uptime()}\n")
    source = work / "minute-hevc-1080p.mkv"
    video = {"path": str(source), **probe(str(source)).as_dict()}
    out = work / "pretranscoded.mp4"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    make_playback_file(video, str(out), config, lambda fraction: None)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        size = f"{stream.width}x{stream.height} {stream.codec_context.name}"
    print(table([(size, f"{wall:.1f}", f"{cpu:.1f}", f"{out.stat().st_size / 1e6:.1f}")], ("output", "wall s", "CPU s", "MB")))
    out.unlink()


if __name__ == "__main__":
    main()
