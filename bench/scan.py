#!/usr/bin/env python3
"""Benchmark: how fast vidlib scans a large library, against a bare filesystem walk.

Builds a synthetic tree of real (tiny) videos — one 64x64, 1 s H.264 MP4 made with ffmpeg,
written N times with a unique 16-byte trailer so every file has distinct content and a
distinct oshash and still probes — then measures, in one run and side by side:

  (a) a bare recursive ``os.scandir`` + ``stat`` walk of the tree (the floor; median of runs),
  (e) ``vidlib.library.scanner.walk()`` alone (median of runs),
  (b) the first scan with ``Scanner.scan_folder`` into a fresh database (hash + probe +
      insert every file; one run, files/s),
  (c) an unchanged rescan with ``Scanner.scan_folder`` (median of runs; seconds, files/s and
      the ratio to the bare walk; with --compare-rev also the scanner.py of another git
      revision, interleaved, to show what a change to the scanner did),
  (d) bytes read by hashing per new file (``ScanStats.hashed_bytes / new``; at most 128 KiB),
  (f) loading the folder's known rows alone, the query and dict ``scan_folder`` builds, as
      plain tuples (what it does) and as ``sqlite3.Row`` (the connection's default), and the
      garbage collections during one rescan — the parts of a rescan beyond the walk.

Figures are printed, never asserted. Targets the figures are read against: an unchanged
rescan of 100,000 files within 2x the bare walk and under 5 s.

Wall and CPU time (user + system of this process) are both given: on a shared machine the CPU
time is the steadier of the two. All figures are with a warm page cache (the tree was just written or read). The tree lives in
a temp dir that is deleted at the end unless --keep; a --workdir you name is never deleted,
and --reuse picks up its tree and database so the rescan figures of a big tree can be
measured again without repeating the first scan.

    .venv/bin/python bench/scan.py                    # 10,000 files
    .venv/bin/python bench/scan.py --files 100000 --workdir /tmp/vidlib-bench-100k
    .venv/bin/python bench/scan.py --files 100000 --workdir /tmp/vidlib-bench-100k --reuse
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import bench_workdir, cpu_seconds, machine, table  # noqa: E402

from config import load_config  # noqa: E402
from vidlib.library.folders import add_folder  # noqa: E402
from vidlib.library.scanner import Scanner, walk  # noqa: E402
from vidlib.state import AppState  # noqa: E402

MANIFEST = "bench-manifest.json"
SUBDIRS_PER_TOP = 10  # 2-level hierarchy: tree/dNNNN/sNN/<files>


# -- building the tree ---------------------------------------------------------------------
def make_base_video(path: Path) -> bytes:
    """One tiny real video: 64x64, 1 s, 10 fps, H.264 ultrafast, moov atom first."""
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-t", "1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-an", str(path),
        ],
        check=True,
    )
    return path.read_bytes()


def trailer(index: int) -> bytes:
    """16 unique bytes appended to the base video: ``index`` and a marker as two uint64."""
    return struct.pack("<QQ", index, 0x76696462656E6368)  # "vidbench"


def file_path(tree: Path, index: int, per_folder: int) -> Path:
    leaf = index // per_folder
    return tree / f"d{leaf // SUBDIRS_PER_TOP:04d}" / f"s{leaf % SUBDIRS_PER_TOP:02d}" / f"v{index:07d}.mp4"


def build_tree(tree: Path, base: bytes, files: int, per_folder: int) -> float:
    started = time.perf_counter()
    made_dirs: set[Path] = set()
    for index in range(files):
        path = file_path(tree, index, per_folder)
        if path.parent not in made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(path.parent)
        with open(path, "wb") as fh:
            fh.write(base)
            fh.write(trailer(index))
    return time.perf_counter() - started


def check_trailer_probes(workdir: Path, base: bytes) -> None:
    """A file with the trailer must still probe as the base does, else the bench is meaningless."""
    from vidlib.library.probe import probe

    sample = workdir / "trailer-check.mp4"
    sample.write_bytes(base + trailer(0))
    try:
        info = probe(str(sample))
    finally:
        sample.unlink()
    print(f"trailer check: base+16 bytes probes as {info.width}x{info.height} {info.video_codec} {info.duration} s")


# -- the measured operations -----------------------------------------------------------------
def bare_walk(root: str) -> int:
    """Recursive os.scandir + stat of every file: the least any walk can cost."""
    count = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir():
                    stack.append(entry.path)
                else:
                    entry.stat()
                    count += 1
    return count


def load_known(db, folder_id: int, plain: bool) -> dict:
    """The known-videos dict scan_folder builds (same query), as tuples or sqlite3.Row."""
    cursor = db.conn.cursor()
    if plain:
        cursor.row_factory = None
    sql = "SELECT path, hash, size, mtime, sidecar_mtime FROM videos WHERE folder_id = ? AND missing = 0"
    return {row[0]: row for row in cursor.execute(sql, [folder_id])}


def gc_during(fn) -> dict[int, tuple[int, float]]:
    """Collections per generation and seconds spent in them while ``fn`` runs."""
    spent: dict[int, tuple[int, float]] = {}
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            count, seconds = spent.get(info["generation"], (0, 0.0))
            spent[info["generation"]] = (count + 1, seconds + time.perf_counter() - started[0])

    gc.callbacks.append(callback)
    try:
        fn()
    finally:
        gc.callbacks.remove(callback)
    return spent


def timed(fn):
    """(wall seconds, CPU seconds of this process, result) of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def load_scanner_at(rev: str, directory: Path):
    """vidlib/library/scanner.py as of git revision ``rev``, imported as a separate module."""
    import importlib.util

    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:vidlib/library/scanner.py"], capture_output=True, text=True, check=True).stdout
    path = directory / "baseline_scanner.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_scanner", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fs_type(path: Path) -> str:
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--files", type=int, default=10000, help="number of video files in the tree (default 10000)")
    parser.add_argument("--per-folder", type=int, default=100, help="files per leaf folder (default 100)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each repeated measurement (default 5)")
    parser.add_argument("--workdir", help="where the tree and the data dir go (default: a new temp dir); never deleted if given")
    parser.add_argument("--reuse", action="store_true", help="reuse the tree and database already in --workdir (skip building and the first scan if done)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--profile", action="store_true", help="also cProfile one unchanged rescan and print the top functions")
    parser.add_argument("--compare-rev", metavar="REV", help="also time the unchanged rescan with vidlib/library/scanner.py as of git revision REV, side by side")
    args = parser.parse_args(argv)
    if args.reuse and not args.workdir:
        parser.error("--reuse needs --workdir")

    with bench_workdir(args.workdir, args.keep, "vidlib-bench-scan-") as workdir:
        return run(args, workdir, workdir / "tree", workdir / "data")


def run(args, workdir: Path, tree: Path, data_dir: Path) -> int:
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    print(f"workdir: {workdir} ({fs_type(workdir)}); files: {args.files}, {args.per_folder} per folder, runs: {args.runs}")
    manifest_path = workdir / MANIFEST
    wanted = {"files": args.files, "per_folder": args.per_folder}
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    reusing = args.reuse and manifest is not None and {k: manifest.get(k) for k in wanted} == wanted
    if args.reuse and not reusing:
        print("nothing to reuse in workdir (no tree or a different --files/--per-folder): building afresh")
    if not reusing:
        if tree.exists():
            shutil.rmtree(tree)
        if data_dir.exists():
            shutil.rmtree(data_dir)
        base = make_base_video(workdir / "base.mp4")
        check_trailer_probes(workdir, base)
        seconds = build_tree(tree, base, args.files, args.per_folder)
        manifest = {**wanted, "base_size": len(base), "first_scan": None}
        manifest_path.write_text(json.dumps(manifest))
        print(f"built tree: {args.files} files of {len(base) + 16} bytes in {args.files // args.per_folder} folders, {seconds:.1f} s")
    else:
        print(f"reusing tree and database in {workdir}")

    baseline = load_scanner_at(args.compare_rev, workdir) if args.compare_rev else None
    config = load_config({"DATA_DIR": str(data_dir)})
    state = AppState(config)
    db = state.db
    root = os.path.realpath(tree)
    row = db.execute("SELECT id FROM folders WHERE path = ?", [root]).fetchone()
    folder_id = row[0] if row else add_folder(db, config, str(tree))["id"]

    # (b) first scan ------------------------------------------------------------------------
    first = manifest.get("first_scan")
    if first is None:
        print("first scan (hash + probe + insert every file) ...", flush=True)
        started = time.perf_counter()
        step = max(1, args.files // 20)

        def progress(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                elapsed = time.perf_counter() - started
                print(f"  {done}/{total} files, {elapsed:.0f} s, {done / elapsed:.0f} files/s", file=sys.stderr, flush=True)

        cpu_started = cpu_seconds()
        stats = Scanner(db, config, progress=progress).scan_folder(folder_id)
        first = {k: v for k, v in stats.as_dict().items()}
        first["cpu_seconds"] = cpu_seconds() - cpu_started
        manifest["first_scan"] = first
        manifest_path.write_text(json.dumps(manifest))
    else:
        print("first scan: taken from the earlier run recorded in the workdir")
    if first["new"] != args.files or first["collisions"] or first["errors"] or first["duplicates"]:
        print(f"WARNING: first scan did not index every file as new and distinct: {first}")

    # (a), (e), (c), (f): interleaved so that drift hits every method alike; one warm-up round.
    extensions, skip_dirs = set(config["VIDEO_EXTENSIONS"]), set(config["SKIP_DIRS"])
    exclude = Scanner(db, config).exclude
    ops: dict[str, tuple[str, object]] = {
        "bare": ("(a) bare os.scandir + stat walk", lambda: bare_walk(root)),
        "walk": ("(e) vidlib walk() alone", lambda: len(list(walk(root, extensions, skip_dirs, exclude)))),
        "rescan": ("(c) unchanged rescan (scan_folder)", lambda: Scanner(db, config).scan_folder(folder_id)),
    }
    if baseline is not None:
        ops["baseline"] = (f"(c) same, scanner.py of {args.compare_rev}", lambda: baseline.Scanner(db, config).scan_folder(folder_id))
    ops["rows"] = ("(f) known rows alone, tuples", lambda: load_known(db, folder_id, True))
    ops["rows_row"] = ("(f) known rows alone, sqlite3.Row", lambda: load_known(db, folder_id, False))
    wall: dict[str, list[float]] = {k: [] for k in ops}
    cpu: dict[str, list[float]] = {k: [] for k in ops}
    counts = {}
    for round_ in range(args.runs + 1):
        for key, (_, fn) in ops.items():
            t_wall, t_cpu, result = timed(fn)
            if key in ("rescan", "baseline"):
                counts[key] = result.files
                if result.unchanged != result.files:
                    print(f"WARNING: {key} was not unchanged: {result.summary()}")
            elif key in ("bare", "walk"):
                counts[key] = result
            if round_:  # round 0 is the warm-up
                wall[key].append(t_wall)
                cpu[key].append(t_cpu)

    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    n = args.files
    rows = [
        (label, f"{med[k]:.3f}", f"{min(wall[k]):.3f}", f"{med_cpu[k]:.3f}", f"{n / med[k]:,.0f}", f"{med[k] / med['bare']:.2f}", f"{med_cpu[k] / med_cpu['bare']:.2f}")
        for k, (label, _) in ops.items()
    ]
    first_cpu = first.get("cpu_seconds")
    rows.append(("(b) first scan (scan_folder, 1 run)", f"{first['seconds']:.1f}", "-", f"{first_cpu:.1f}" if first_cpu else "-",
                 f"{n / first['seconds']:,.0f}", f"{first['seconds'] / med['bare']:.0f}", f"{first_cpu / med_cpu['bare']:.0f}" if first_cpu else "-"))
    print()
    print(f"{n:,} files; medians of {args.runs} runs (after 1 warm-up); warm page cache; CPU = user + system time of this process")
    print(table(rows, ("operation", "median s", "min s", "median CPU s", "files/s", "x bare walk", "x bare walk (CPU)")))
    hashed = first["hashed_bytes"] / first["new"] if first["new"] else 0
    print()
    print(f"(d) hashing read {first['hashed_bytes']:,} bytes for {first['new']:,} new files = {hashed:,.0f} bytes/file "
          f"(file size {manifest['base_size'] + 16} bytes; limit 131,072)")
    print(f"first scan: {first['new']} new, {first['errors']} errors, {first['collisions']} collisions, {first['duplicates']} duplicates; "
          f"{1000 * first['seconds'] / n:.2f} ms/file" + (f", {1000 * first_cpu / n:.2f} CPU ms/file" if first_cpu else ""))
    print("counts seen: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    rest = med_cpu["rescan"] - med_cpu["walk"] - med_cpu["rows"]
    print(f"rescan CPU = walk() {med_cpu['walk']:.3f} + known rows {med_cpu['rows']:.3f} + the rest {rest:.3f} s "
          f"(compare loop, duplicates/errors lookups, unseen check, GC); bare walk {med_cpu['bare']:.3f} s")
    scanners = {"rescan": Scanner} if baseline is None else {"rescan": Scanner, f"rescan with {args.compare_rev}": baseline.Scanner}
    for label, cls in scanners.items():
        spent = gc_during(lambda: cls(db, config).scan_folder(folder_id))
        print(f"garbage collections during one more {label}: " + (", ".join(
            f"gen{g} x{c} {1000 * t:.0f} ms" for g, (c, t) in sorted(spent.items())) or "none"))
    print(f"target check (read, not asserted): rescan/bare = {med['rescan'] / med['bare']:.2f} wall, "
          f"{med_cpu['rescan'] / med_cpu['bare']:.2f} CPU (target <= 2.0); rescan = {med['rescan']:.2f} s"
          + (" (target < 5 s at 100,000 files)" if n >= 100000 else ""))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        Scanner(db, config).scan_folder(folder_id)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\ncProfile of one unchanged rescan (sorted by own time; profiling inflates Python-level calls):")
        print(out.getvalue())
    state.close_db()
    return 0


if __name__ == "__main__":
    sys.exit(main())
