#!/usr/bin/env python3
"""Benchmark: what probing one video file costs, by method, on the same files in one run.

Makes ~20 small but varied real videos with ffmpeg in a temp dir (MP4 H.264/AAC at several
sizes and lengths, 720p and 1080p, a rotated one, one with the index at the end, WebM
VP9/Opus and VP8/Vorbis, MKV H.264 and HEVC, MOV, AVI MPEG-4) and times, per file, with the
methods interleaved:

  pyav     vidlib.library.probe.probe — PyAV in-process; opens the container and decodes one
           video frame (what the scanner runs for every new file),
  ffprobe  an ``ffprobe -v error -show_format -show_streams -of json`` subprocess + json.loads
           (no frame decoded),
  moviepy  ``moviepy.VideoFileClip(path)`` then ``close()`` with its defaults (it runs ffmpeg
           to read the file's info and starts ffmpeg reader processes, video and audio),

and two reference columns that separate the causes (not candidate methods as such):

  pyav-open     PyAV open + read stream headers, no frame decoded (ffprobe's amount of work),
  moviepy-noaudio  ``VideoFileClip(path, audio=False)``.

Each figure is the median over --runs timed calls per file (after one untimed warm-up call
per method and file, so the page cache is warm); the summary gives the median over files and
the ratio to pyav. Wall time and CPU time (this process plus the child processes it started)
are both given: on a shared machine the CPU time is the steadier one. The one-off import cost
of each library is measured in a fresh interpreter, and the methods' answers (width, height,
duration, rotation) are compared. Figures are printed, never asserted.

    .venv/bin/python bench/probe.py
    .venv/bin/python bench/probe.py --runs 9 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import bench_workdir, cpu_seconds, machine, table  # noqa: E402

from vidlib.library.probe import probe as vidlib_probe  # noqa: E402

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"

H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "96k")
VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-pix_fmt", "yuv420p")
OPUS = ("-c:a", "libopus", "-b:a", "64k")

# name, size, seconds, has audio, codec arguments (after the inputs)
SAMPLES: list[tuple[str, str, float, bool, tuple[str, ...]]] = [
    ("h264-aac-320x240-2s.mp4", "320x240", 2, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-aac-320x240-10s.mp4", "320x240", 10, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-aac-640x360-5s.mp4", "640x360", 5, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-aac-640x480-60s.mp4", "640x480", 60, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-noaudio-320x240-3s.mp4", "320x240", 3, False, (*H264, "-movflags", "+faststart")),
    ("h264-aac-320x240-4s-moov-at-end.mp4", "320x240", 4, True, (*H264, *AAC)),
    ("h264-aac-640x360-3s-rotated90.mp4", "640x360", 3, True, (*H264, *AAC)),  # display matrix added below
    ("h264-aac-1280x720-3s.mp4", "1280x720", 3, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-aac-1280x720-10s.mp4", "1280x720", 10, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("h264-aac-1920x1080-3s.mp4", "1920x1080", 3, True, (*H264, *AAC, "-movflags", "+faststart")),
    ("vp9-opus-320x240-3s.webm", "320x240", 3, True, (*VP9, *OPUS)),
    ("vp9-opus-640x360-5s.webm", "640x360", 5, True, (*VP9, *OPUS)),
    ("vp9-opus-1280x720-3s.webm", "1280x720", 3, True, (*VP9, *OPUS)),
    ("vp8-vorbis-320x240-3s.webm", "320x240", 3, True, ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-c:a", "libvorbis")),
    ("h264-aac-320x240-3s.mkv", "320x240", 3, True, (*H264, *AAC)),
    ("h264-aac-1280x720-5s.mkv", "1280x720", 5, True, (*H264, *AAC)),
    ("hevc-aac-640x360-3s.mkv", "640x360", 3, True, ("-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error", *AAC)),
    ("hevc-aac-1280x720-3s.mkv", "1280x720", 3, True, ("-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error", *AAC)),
    ("h264-aac-640x360-3s.mov", "640x360", 3, True, (*H264, *AAC)),
    ("mpeg4-pcm-320x240-3s.avi", "320x240", 3, True, ("-c:v", "mpeg4", "-q:v", "5", "-c:a", "pcm_s16le")),
]


def make_samples(directory: Path) -> list[Path]:
    paths = []
    for name, size, seconds, audio, codec in SAMPLES:
        path = directory / name
        inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
        if audio:
            inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
        audio_args = [] if audio else ["-an"]
        quiet = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
        if "rotated90" in name:
            # ffmpeg 5 drops a rotate tag given while encoding; a stream copy writes the matrix.
            unrotated = directory / f"unrotated-{name}"
            subprocess.run([*quiet, *inputs, *codec, *audio_args, "-shortest", str(unrotated)], check=True)
            subprocess.run([*quiet, "-i", str(unrotated), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path)], check=True)
            unrotated.unlink()
        else:
            subprocess.run([*quiet, *inputs, *codec, *audio_args, "-shortest", str(path)], check=True)
        paths.append(path)
    return paths


# -- the methods: each returns (width, height, duration, rotation) so that their answers can be
# compared; None where the method cannot tell.
def m_pyav(path: str):
    info = vidlib_probe(path)
    return info.width, info.height, info.duration, info.rotation


def m_pyav_open(path: str):
    import av

    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        duration = container.duration / av.time_base if container.duration else None
        return stream.codec_context.width, stream.codec_context.height, round(duration, 3) if duration else None, None


def m_ffprobe(path: str):
    out = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", path], capture_output=True, check=True).stdout
    data = json.loads(out)
    video = next(s for s in data["streams"] if s["codec_type"] == "video")
    rotation = next((int(d["rotation"]) for d in video.get("side_data_list", []) if "rotation" in d), 0)
    return video["width"], video["height"], round(float(data["format"]["duration"]), 3), rotation % 360


def m_moviepy(path: str):
    from moviepy import VideoFileClip

    clip = VideoFileClip(path)
    try:
        return clip.w, clip.h, clip.duration, int(clip.reader.rotation) % 360
    finally:
        clip.close()


def m_moviepy_noaudio(path: str):
    from moviepy import VideoFileClip

    clip = VideoFileClip(path, audio=False)
    try:
        return clip.w, clip.h, clip.duration, int(clip.reader.rotation) % 360
    finally:
        clip.close()


METHODS = {
    "pyav": m_pyav,
    "ffprobe": m_ffprobe,
    "moviepy": m_moviepy,
    "pyav-open": m_pyav_open,
    "moviepy-noaudio": m_moviepy_noaudio,
}
MAIN = ("pyav", "ffprobe", "moviepy")


def import_seconds(module: str, runs: int = 3) -> float:
    """Median time to import ``module`` in a fresh interpreter (a one-off cost per process)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def versions() -> str:
    import av
    import moviepy
    from moviepy.config import FFMPEG_BINARY

    ffprobe_version = subprocess.run([FFPROBE, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    mp_ffmpeg = subprocess.run([FFMPEG_BINARY, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    libav = ".".join(map(str, av.library_versions["libavformat"]))
    return (f"PyAV {av.__version__} (bundled libavformat {libav}); {ffprobe_version}; "
            f"moviepy {moviepy.__version__} using {mp_ffmpeg} ({FFMPEG_BINARY})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--runs", type=int, default=5, help="timed calls per method and file (default 5)")
    parser.add_argument("--workdir", help="where to write the sample videos (default: a new temp dir); never deleted if given")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the samples")
    args = parser.parse_args(argv)

    with bench_workdir(args.workdir, args.keep, "vidlib-bench-probe-") as workdir:
        return run(args, workdir)


def run(args, workdir: Path) -> int:
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    print(f"versions: {versions()}")
    started = time.perf_counter()
    paths = make_samples(workdir)
    print(f"made {len(paths)} samples in {workdir} ({time.perf_counter() - started:.0f} s)")

    answers: dict[tuple[str, str], tuple] = {}
    per_file: dict[str, dict[str, float]] = {}
    per_file_cpu: dict[str, dict[str, float]] = {}
    for path in paths:
        p = str(path)
        for name, fn in METHODS.items():  # warm-up: page cache, lazy imports, first-call setup
            answers[(p, name)] = fn(p)
        times: dict[str, list[float]] = {name: [] for name in METHODS}
        cpu_times: dict[str, list[float]] = {name: [] for name in METHODS}
        for _ in range(args.runs):
            for name, fn in METHODS.items():  # interleaved: drift hits every method alike
                c = cpu_seconds()
                t = time.perf_counter()
                fn(p)
                times[name].append(time.perf_counter() - t)
                cpu_times[name].append(cpu_seconds() - c)
        per_file[path.name] = {name: statistics.median(ts) for name, ts in times.items()}
        per_file_cpu[path.name] = {name: statistics.median(ts) for name, ts in cpu_times.items()}

    rows = []
    for path in paths:
        ms = per_file[path.name]
        rows.append((path.name, f"{path.stat().st_size / 1024:,.0f}", *(f"{1000 * ms[n]:.1f}" for n in METHODS)))
    print()
    print(f"per file: median of {args.runs} calls, ms")
    print(table(rows, ("file", "KiB", *METHODS)))

    summary = []
    base = statistics.median(per_file[p.name]["pyav"] for p in paths)
    base_cpu = statistics.median(per_file_cpu[p.name]["pyav"] for p in paths)
    for name in METHODS:
        values = [per_file[p.name][name] for p in paths]
        med = statistics.median(values)
        med_cpu = statistics.median(per_file_cpu[p.name][name] for p in paths)
        summary.append((name, f"{1000 * med:.1f}", f"{1000 * min(values):.1f}", f"{1000 * max(values):.1f}", f"{med / base:.2f}",
                        f"{1 / med:,.0f}", f"{1000 * med_cpu:.1f}", f"{med_cpu / base_cpu:.2f}"))
    print()
    print(f"summary over {len(paths)} files (per-file medians), ms per file")
    print(table(summary, ("method", "median ms", "min ms", "max ms", "x pyav", "files/s", "median CPU ms", "CPU x pyav")))
    print("(ms = wall time; CPU = user + system time of this process and of the child processes it waited for)")

    print()
    imports = {m: import_seconds(m) for m in ("av", "moviepy")}
    print("one-off import in a fresh interpreter: " + ", ".join(f"{m} {1000 * s:.0f} ms" for m, s in imports.items()))

    disagreements = []
    for path in paths:
        p = str(path)
        ref = answers[(p, "pyav")]
        for name in METHODS:
            got = answers[(p, name)]
            if (got[:2] != ref[:2] or (got[2] is not None and ref[2] is not None and abs(float(got[2]) - float(ref[2])) > 0.1)
                    or (got[3] is not None and got[3] != ref[3])):
                disagreements.append(f"  {path.name}: {name} says {got}, pyav says {ref}")
    print("answers (width, height, duration, rotation) that differ from pyav's:" if disagreements
          else "all methods agree on width, height, duration (within 0.1 s) and rotation")
    print("\n".join(disagreements))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
