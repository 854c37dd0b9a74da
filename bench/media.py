#!/usr/bin/env python3
"""Benchmark: vidlib's preview media against Stash's default generation pipeline, same files, one run.

Makes two test videos with ffmpeg (``testsrc2`` + a sine tone, H.264 ``-preset ultrafast``
``-g 250`` + AAC, 1920x1080 at 25 fps): a 10-minute one and a 30-second one. ``--reuse DIR``
keeps them in DIR and uses them again next time (making the long one takes a minute or more).
Videos are never written inside the repository unless you point ``--reuse`` there (don't).

On each file it measures, interleaved in the same run so the ratio is fair on a busy machine:

  vidlib  the five kinds, each in its own child process (like an RQ work horse, which is forked
          from a worker that has already imported PyAV, PIL and moviepy: the child imports them
          and probes the file before the clock starts) by calling ``vidlib.media.generate``
          directly: ``make_poster``, ``make_preview_thumbnails``, ``make_seek_thumbnails``,
          ``make_teaser`` small and large, with ``load_config({"DATA_DIR": tmp})`` (defaults; the
          ``VIDLIB_*`` environment and ``.env`` are ignored, ``--set NAME=VALUE`` overrides) and
          the info from ``vidlib.library.probe.probe``;
  stash   Stash's default pipeline, as its generator runs it (one process after another):
          sprite   81 ``ffmpeg -v error -y -ss T -i IN -frames:v 1 -vf scale=160:-2 -c:v bmp
                   -f rawvideo -`` at T = i * duration / 81, tiled 9x9 into a JPEG with PIL;
          preview  12 segments of 0.75 s (starts from 5 % to 95 % of the duration, step
                   0.9 * duration / 12, Stash's default exclude start/end of 5 %) each
                   ``ffmpeg -v error -y -xerror -ss START -i IN -t 0.75 -max_muxing_queue_size
                   1024 -c:v libx264 -vf scale=640:-2 -pix_fmt yuv420p -profile:v high -level 4.2
                   -preset slow -crf 21 -threads 4 -strict -2 -c:a aac -b:a 128k OUT``, joined
                   with the concat demuxer and ``-c copy``;
          cover    ``ffmpeg -v error -y -ss 0.2*duration -i IN -frames:v 1 -q:v 2 -f image2 OUT.jpg``.

Figures: wall seconds per kind and in total (median of --repeat-short / --repeat-long runs;
the order of the two pipelines alternates between runs), CPU seconds (user + system, the
process and every child it waited for: less sensitive to other load than wall time), the ratio
Stash total / vidlib total for both, and the peak memory of each vidlib kind: the max RSS of
the Python process (``ru_maxrss`` of the child), of the largest process it spawned (ffmpeg
readers/writers started by moviepy: ``RUSAGE_CHILDREN`` in the child, and ``VmHWM`` of its
children sampled from ``/proc`` every 50 ms) and of the whole tree at once (the sum of the
sampled ``VmRSS``; shared library pages count once per process, so it overstates). The outputs of the first vidlib run are checked against the
output contract (H.264 yuv420p, even sizes, faststart, small silent, large with audio).
Figures are printed, never asserted. Targets they are read against: the five kinds together
at least 3x faster than Stash's pipeline, and peak worker memory under 500 MB.

    .venv/bin/python bench/media.py
    .venv/bin/python bench/media.py --reuse /tmp/vidlib-bench-media      # keep/reuse the videos
    .venv/bin/python bench/media.py --reuse /tmp/vidlib-bench-media --only short --repeat-short 5
    .venv/bin/python bench/media.py --set TEASER_PRESET=ultrafast --json results.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large")
STASH_STEPS = ("sprite", "preview", "cover")
FPS = 25
GOP = 250


def ffmpeg_bin() -> str:
    found = shutil.which("ffmpeg")
    if not found:
        sys.exit("ffmpeg is not on PATH")
    return found


# -- test videos --------------------------------------------------------------------------


def video_name(seconds: int) -> str:
    return f"testsrc2-{seconds}s-1080p-gop{GOP}.mp4"


def make_video(path: Path, seconds: int) -> None:
    """A 1080p H.264 (GOP 250) + AAC test video, made as fast as ffmpeg can."""
    tmp = path.with_name(".part-" + path.name)
    cmd = [
        ffmpeg_bin(), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart",
        "-f", "mp4", str(tmp),
    ]
    started = time.perf_counter()
    print(f"  making {path.name} ({seconds} s) ...", flush=True)
    subprocess.run(cmd, check=True)
    os.replace(tmp, path)
    print(f"  made {path.name} in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)


def ensure_video(directory: Path, seconds: int) -> Path:
    from vidlib.library.probe import ProbeError, probe

    path = directory / video_name(seconds)
    if path.exists():
        try:
            info = probe(str(path))
            if info.duration and abs(info.duration - seconds) < 1 and info.height == 1080:
                print(f"  reusing {path}", flush=True)
                return path
        except ProbeError:
            pass
    make_video(path, seconds)
    return path


# -- vidlib, one kind per child process -----------------------------------------------------


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def child_main(kind: str, path: str, data_dir: str, overrides: list[str]) -> None:
    """Run one kind in this (child) process and print one JSON line with its figures."""
    import av  # noqa: F401  (a work horse inherits these from the worker)
    import PIL.Image  # noqa: F401

    from config import load_config
    from vidlib.library.probe import probe
    from vidlib.media import generate as gen

    gen._moviepy()
    config = load_config({"DATA_DIR": data_dir, **parse_overrides(overrides)}, environ={"VIDLIB_ENV_FILE": os.devnull})
    info = probe(path).as_dict()
    duration = float(info["duration"] or 0)
    out = os.path.join(config["MEDIA_DIR"], "bench")
    os.makedirs(out, exist_ok=True)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # moviepy's import ran `ffmpeg -version`
    sampler = MemorySampler(os.getpid())
    cpu0 = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    if kind == "poster":
        result = gen.make_poster(path, duration, os.path.join(out, "poster.jpg"), config)
    elif kind == "preview_thumbnails":
        result = gen.make_preview_thumbnails(path, duration, os.path.join(out, "preview"), config)
    elif kind == "seek_thumbnails":
        result = gen.make_seek_thumbnails(path, duration, os.path.join(out, "sprite.jpg"), os.path.join(out, "sprite.vtt"), config)
    else:
        result = gen.make_teaser(path, info, os.path.join(out, f"{kind}.mp4"), config, large=kind == "teaser_large")
        result["bytes"] = os.path.getsize(os.path.join(out, f"{kind}.mp4"))
    seconds = time.perf_counter() - started
    cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu0
    sampler.stop()
    # RUSAGE_CHILDREN only tells about this kind if it grew past the import-time `ffmpeg -version`.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "seconds": seconds,
        "cpu": cpu,
        "rss_self_kb": self_kb,
        "rss_child_max_kb": max(children_after if children_after > children_before else 0, sampler.peak_child),
        "rss_tree_kb": max(sampler.peak_tree, self_kb),
        "result": {k: v for k, v in result.items() if not isinstance(v, list)},
        "out": out,
    }))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    from config import SETTINGS_BY_NAME

    overrides = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        name = name.strip().upper().removeprefix("VIDLIB_")
        if name not in SETTINGS_BY_NAME:
            sys.exit(f"--set: unknown setting {name!r}")
        overrides[name] = SETTINGS_BY_NAME[name].parse(raw)
    return overrides


def _descendants(pid: int) -> set[int]:
    """Direct children of every thread of ``pid`` (moviepy's ffmpeg processes)."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.update(int(p) for p in fh.read().split())
        except OSError:
            pass
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples ``pid``'s children from /proc every 50 ms: their peak ``VmHWM`` and the tree's peak RSS sum.

    ``VmHWM`` is a high-water mark, so any child alive for more than a sample is caught.
    """

    def __init__(self, pid: int):
        self.pid, self.peak_child, self.peak_tree = pid, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            tree = _status_kb(self.pid, "VmRSS")
            for pid in _descendants(self.pid):
                self.peak_child = max(self.peak_child, _status_kb(pid, "VmHWM"))
                tree += _status_kb(pid, "VmRSS")
            self.peak_tree = max(self.peak_tree, tree)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def run_vidlib_kind(kind: str, path: Path, data_dir: str, overrides: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(path), data_dir]
    for pair in overrides:
        cmd += ["--set", pair]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=data_dir)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} on {path.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_vidlib(path: Path, workdir: Path, overrides: list[str], run: int) -> dict:
    data_dir = workdir / f"vidlib-{path.stem}-{run}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    results = {kind: run_vidlib_kind(kind, path, str(data_dir), overrides) for kind in KINDS}
    stray = [n for n in os.listdir(data_dir) if n != "media"]
    results["_out"] = results["poster"]["out"]
    results["_stray"] = stray
    return results


# -- Stash's default pipeline -----------------------------------------------------------------


def stash_sprite(path: Path, duration: float, out_dir: Path) -> None:
    from PIL import Image

    chunks, grid = 81, 9
    images = []
    for i in range(chunks):
        t = i * duration / chunks
        cmd = [ffmpeg_bin(), "-v", "error", "-y", "-ss", f"{t:f}", "-i", str(path), "-frames:v", "1", "-vf", "scale=160:-2", "-c:v", "bmp", "-f", "rawvideo", "-"]
        data = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
        images.append(Image.open(io.BytesIO(data)).convert("RGB"))
    width, height = images[0].size
    sheet = Image.new("RGB", (width * grid, height * grid))
    for i, image in enumerate(images):
        sheet.paste(image, (width * (i % grid), height * (i // grid)))
    sheet.save(out_dir / "sprite.jpg", format="JPEG", quality=95)


def stash_preview_starts(duration: float, segments: int = 12, exclude: float = 0.05) -> list[float]:
    start, end = duration * exclude, duration * exclude
    usable, offset = duration, 0.0
    if duration > start + end:
        usable, offset = duration - start - end, start
    step = usable / segments
    return [offset + i * step for i in range(segments)]


def _stash_chunk(path: Path, start: float, length: float, out: Path) -> None:
    cmd = [
        ffmpeg_bin(), "-v", "error", "-y", "-xerror", "-ss", f"{start:f}", "-i", str(path), "-t", f"{length:f}",
        "-max_muxing_queue_size", "1024", "-c:v", "libx264", "-vf", "scale=640:-2", "-pix_fmt", "yuv420p",
        "-profile:v", "high", "-level", "4.2", "-preset", "slow", "-crf", "21", "-threads", "4", "-strict", "-2",
        "-c:a", "aac", "-b:a", "128k", str(out),
    ]
    subprocess.run(cmd, check=True)


def stash_preview(path: Path, duration: float, out_dir: Path) -> None:
    segments, length = 12, 0.75
    if duration < segments * length:  # Stash: one chunk of the whole video
        _stash_chunk(path, 0.0, duration, out_dir / "preview.mp4")
        return
    chunk_dir = out_dir / "chunks"
    chunk_dir.mkdir()
    names = []
    for i, start in enumerate(stash_preview_starts(duration, segments)):
        name = f"chunk{i:02d}.mp4"
        _stash_chunk(path, start, length, chunk_dir / name)
        names.append(name)
    concat = chunk_dir / "concat.txt"
    concat.write_text("".join(f"file '{n}'\n" for n in names))
    subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "concat", "-i", str(concat), "-c", "copy", str(out_dir / "preview.mp4")], check=True)
    shutil.rmtree(chunk_dir)


def stash_cover(path: Path, duration: float, out_dir: Path) -> None:
    cmd = [ffmpeg_bin(), "-v", "error", "-y", "-ss", f"{0.2 * duration:f}", "-i", str(path), "-frames:v", "1", "-q:v", "2", "-f", "image2", str(out_dir / "cover.jpg")]
    subprocess.run(cmd, check=True)


def run_stash(path: Path, duration: float, workdir: Path, run: int) -> dict:
    out_dir = workdir / f"stash-{path.stem}-{run}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    results = {}
    for step, fn in (("sprite", stash_sprite), ("preview", stash_preview), ("cover", stash_cover)):
        cpu0 = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        fn(path, duration, out_dir)
        results[step] = {"seconds": time.perf_counter() - started, "cpu": _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu0}
    return results


# -- output contract ---------------------------------------------------------------------------


def check_outputs(out: str) -> list[str]:
    """Problems with vidlib's outputs (empty when they keep the documented contract)."""
    import av
    from PIL import Image

    problems = []
    for name in ("poster.jpg", "sprite.jpg", os.path.join("preview", "00.jpg")):
        try:
            with Image.open(os.path.join(out, name)) as img:
                img.verify()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{name}: {exc}")
    if not open(os.path.join(out, "sprite.vtt"), encoding="utf-8").read().startswith("WEBVTT"):
        problems.append("sprite.vtt: not WebVTT")
    for kind in ("teaser_small", "teaser_large"):
        file = os.path.join(out, f"{kind}.mp4")
        with open(file, "rb") as fh:
            head = fh.read(1 << 16)
        moov, mdat = head.find(b"moov"), head.find(b"mdat")
        if moov < 0 or (0 <= mdat < moov):
            problems.append(f"{kind}: not faststart (moov after mdat)")
        with av.open(file) as container:
            v = container.streams.video[0]
            if v.codec_context.name != "h264" or v.codec_context.format.name != "yuv420p":
                problems.append(f"{kind}: {v.codec_context.name} {v.codec_context.format.name}")
            if v.codec_context.width % 2 or v.codec_context.height % 2:
                problems.append(f"{kind}: odd size {v.codec_context.width}x{v.codec_context.height}")
            has_audio = bool(container.streams.audio)
            if has_audio != (kind == "teaser_large"):
                problems.append(f"{kind}: audio={has_audio}")
            frames = sum(1 for _ in container.decode(v))
            if not frames:
                problems.append(f"{kind}: no decodable frames")
    return problems


# -- report -----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(label: str, runs_ours: list[dict], runs_stash: list[dict]) -> dict:
    s: dict[str, Any] = {"label": label, "runs": len(runs_ours)}
    for metric in ("seconds", "cpu"):
        ours = {k: median([r[k][metric] for r in runs_ours]) for k in KINDS}
        stash = {k: median([r[k][metric] for r in runs_stash]) for k in STASH_STEPS}
        ours_total = median([sum(r[k][metric] for k in KINDS) for r in runs_ours])
        stash_total = median([sum(r[k][metric] for k in STASH_STEPS) for r in runs_stash])
        s[metric] = {"vidlib": ours, "vidlib_total": ours_total, "stash": stash, "stash_total": stash_total, "ratio": stash_total / ours_total}
    s["memory_mb"] = {
        k: {
            "python": max(r[k]["rss_self_kb"] for r in runs_ours) / 1024,
            "child": max(r[k]["rss_child_max_kb"] for r in runs_ours) / 1024,
            "tree": max(r[k]["rss_tree_kb"] for r in runs_ours) / 1024,
        }
        for k in KINDS
    }
    s["results"] = {k: runs_ours[0][k]["result"] for k in KINDS}
    return s


def print_report(summaries: list[dict]) -> None:
    labels = [s["label"] for s in summaries]
    width = 14
    print()
    print("seconds (wall, median)  [cpu s = user+sys of every process, median]")
    header = f"{'':<28}" + "".join(f"{label:>{width}}{'cpu s':>9}" for label in labels)
    print(header)
    print("-" * len(header))

    def row(name: str, get) -> None:
        print(f"{name:<28}" + "".join(f"{get(s, 'seconds'):>{width}.2f}{get(s, 'cpu'):>9.2f}" for s in summaries))

    for kind in KINDS:
        row(f"vidlib {kind}", lambda s, m, k=kind: s[m]["vidlib"][k])
    row("vidlib total", lambda s, m: s[m]["vidlib_total"])
    for step in STASH_STEPS:
        row(f"stash {step}", lambda s, m, k=step: s[m]["stash"][k])
    row("stash total", lambda s, m: s[m]["stash_total"])
    print(f"{'ratio stash / vidlib':<28}" + "".join(f"{s['seconds']['ratio']:>{width - 1}.2f}x{s['cpu']['ratio']:>8.2f}x" for s in summaries))
    print(f"{'runs':<28}" + "".join(f"{s['runs']:>{width}}{'':>9}" for s in summaries))
    print()
    print("peak memory of vidlib's generation, MB: python process (max RSS) / largest ffmpeg child (max RSS,")
    print("0 = none) / whole process tree at once (sum of RSS, sampled every 50 ms; shared pages counted per process)")
    header = f"{'':<28}" + "".join(f"{label:>{width}}{'child':>7}{'tree':>7}" for label in labels)
    print(header)
    print("-" * len(header))
    for kind in KINDS:
        print(f"{kind:<28}" + "".join(f"{s['memory_mb'][kind]['python']:>{width}.0f}{s['memory_mb'][kind]['child']:>7.0f}{s['memory_mb'][kind]['tree']:>7.0f}" for s in summaries))
    print()
    for s in summaries:
        print(f"{s['label']}: " + "; ".join(f"{k} {json.dumps(v)}" for k, v in s["results"].items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring (bench/media.py) for what is measured.")
    parser.add_argument("--reuse", metavar="DIR", help="make the test videos in DIR (kept) and reuse them when already there")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (videos and every output) and print its path")
    parser.add_argument("--repeat-short", type=int, default=3, help="runs on the 30-second file (default 3)")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs on the 10-minute file (default 1)")
    parser.add_argument("--long-seconds", type=int, default=600, help="length of the long file (default 600)")
    parser.add_argument("--short-seconds", type=int, default=30, help="length of the short file (default 30)")
    parser.add_argument("--only", choices=("short", "long"), help="measure one file only")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE", help="override a vidlib setting for the run (repeatable), e.g. TEASER_PRESET=ultrafast")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(*args.child, args.overrides)
        return

    from vidlib.library.probe import probe

    parse_overrides(args.overrides)  # fail early on a typo
    workdir = Path(tempfile.mkdtemp(prefix="vidlib-bench-media-"))
    video_dir = Path(args.reuse).resolve() if args.reuse else workdir
    video_dir.mkdir(parents=True, exist_ok=True)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {subprocess.run([ffmpeg_bin(), '-version'], capture_output=True, text=True).stdout.split(chr(10))[0]}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.overrides:
        print(f"vidlib overrides: {' '.join(args.overrides)}")
    try:
        files = []
        if args.only != "long":
            files.append((f"{args.short_seconds} s 1080p", ensure_video(video_dir, args.short_seconds), args.repeat_short))
        if args.only != "short":
            files.append((f"{args.long_seconds // 60} min 1080p" if args.long_seconds >= 60 else f"{args.long_seconds} s", ensure_video(video_dir, args.long_seconds), args.repeat_long))
        durations = {path: float(probe(str(path)).duration) for _, path, _ in files}
        ours: dict[Path, list[dict]] = {path: [] for _, path, _ in files}
        stash: dict[Path, list[dict]] = {path: [] for _, path, _ in files}
        problems: dict[str, list[str]] = {}
        for run in range(max(r for _, _, r in files)):
            for index, (label, path, repeat) in enumerate(files):
                if run >= repeat:
                    continue
                order = ("vidlib", "stash") if (run + index) % 2 == 0 else ("stash", "vidlib")
                for which in order:
                    started = time.perf_counter()
                    if which == "vidlib":
                        result = run_vidlib(path, workdir, args.overrides, run)
                        ours[path].append(result)
                        if run == 0:
                            problems[label] = check_outputs(result["_out"]) + [f"stray file in the worker's cwd: {n}" for n in result["_stray"]]
                        if not args.keep:
                            shutil.rmtree(workdir / f"vidlib-{path.stem}-{run}", ignore_errors=True)
                    else:
                        stash[path].append(run_stash(path, durations[path], workdir, run))
                        if not args.keep:
                            shutil.rmtree(workdir / f"stash-{path.stem}-{run}", ignore_errors=True)
                    print(f"  {label} run {run + 1}/{repeat}: {which} {time.perf_counter() - started:.1f} s", flush=True)
        summaries = [summarise(label, ours[path], stash[path]) for label, path, _ in files]
        print_report(summaries)
        for label, found in problems.items():
            print(f"output contract, {label}: " + ("ok" if not found else "; ".join(found)))
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            Path(args.json).write_text(json.dumps({"summaries": summaries, "problems": problems, "overrides": args.overrides}, indent=2))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
