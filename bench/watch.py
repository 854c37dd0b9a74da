#!/usr/bin/env python3
"""Benchmark: the folder watcher — how soon a copied video is searchable, how fast a burst of
new files is indexed, and how much memory the watcher needs for a big library.

Everything is real: a private redis-server on a temp unix socket, ``python worker.py`` and
``flask --app vidlib watch`` as subprocesses (exactly what ``./vidlib.sh run`` starts), tiny
real videos made with ffmpeg (64x64, 0.5 s H.264, each with a unique trailer so every file
has its own content and hash). Measured in one run:

  (a) latency: N videos copied one after another into a watched folder (every --interval s);
      for each, the time from the copy's ``close()`` until ``vidlib.search.engine.search``
      finds it by its title (p50 / p95 / max). The target is p50 under the quiet period
      (WATCH_QUIET_SECONDS, --quiet) + 2 s.
  (b) throughput: a burst of --burst-files new videos written as fast as possible (100 per
      folder); files/s from the first write until every one is in the videos table, the
      scan jobs that ran, and the watcher's peak memory during the burst.
  (c) memory: the watcher process's VmRSS (steady, median of samples) and VmHWM (peak) from
      /proc/<pid>/status with --memory-files files watched (1,000 folders of 100 empty
      ``.mp4`` files: the watcher never reads them), in events mode (inotify, one watch per
      folder; target under 200 MB) and, separately, in polling mode (watchdog's
      PollingObserver holds a snapshot of every file; polled every --poll-interval s and
      sampled over several polls), beside a baseline with an empty folder.

Preview media are not queued (MEDIA_AUTO_QUEUE off) and the similarity index rebuild is
debounced past the run, so the worker only scans — the watcher's own path is what is timed.
Figures are printed, never asserted. Temp dirs are deleted at the end unless --keep.

    .venv/bin/python bench/watch.py
    .venv/bin/python bench/watch.py --latency-files 20 --burst-files 10000 --memory-files 100000
    .venv/bin/python bench/watch.py --skip memory --quiet 1
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config import load_config  # noqa: E402
from vidlib.library.folders import add_folder  # noqa: E402
from vidlib.state import AppState  # noqa: E402

FLASK = str(Path(sys.executable).with_name("flask"))
RUN_LINE = re.compile(r"\[job scan-changes-\S+\] vidlib\.jobs: changes in folder")


# -- helpers -----------------------------------------------------------------------------------
def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def make_base_video(path: Path) -> bytes:
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=0.5",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-an", str(path),
        ],
        check=True,
    )
    return path.read_bytes()


def write_video(path: Path, base: bytes, n: int) -> float:
    """Write a distinct copy of ``base``; returns the time (monotonic) right after close()."""
    with open(path, "wb") as fh:
        fh.write(base)
        fh.write(f"vidlib-bench-{n:010d}".encode())
    return time.monotonic()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MB"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Redis:
    """A private redis-server on a unix socket in ``directory``."""

    def __init__(self, directory: Path):
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed")
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis import Redis as Client

        client = Client.from_url(self.url)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return False

        wait_for(answers, 10, "redis-server")
        client.close()

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Library:
    """A data dir with one library folder, and the watcher / worker processes serving it."""

    def __init__(self, workdir: Path, name: str, redis_url: str, settings: dict, force_polling: bool = False):
        self.workdir = workdir
        self.data_dir = workdir / f"data-{name}"
        self.folder = workdir / f"library-{name}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings = {
            "DATA_DIR": str(self.data_dir),
            "REDIS_URL": redis_url,
            "MEDIA_AUTO_QUEUE": False,
            "INDEX_DEBOUNCE_SECONDS": 36000,
            **settings,
        }
        self.state = AppState(load_config(self.settings, environ={}))
        self.folder_id = add_folder(self.state.db, self.state.config, str(self.folder))["id"]
        if force_polling:
            self.state.db.execute("UPDATE folders SET force_polling = 1 WHERE id = ?", [self.folder_id])
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
        env["VIDLIB_ENV_FILE"] = os.devnull
        for key, value in self.settings.items():
            env[f"VIDLIB_{key}"] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return env

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.workdir / f"{name}.out", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs[name] = proc
        return proc

    def start_worker(self, workers: int) -> None:
        self.start("worker", [sys.executable, "worker.py", "--no-initial-scan", "--workers", str(workers)])

    def start_watcher(self) -> subprocess.Popen:
        return self.start("watcher", [FLASK, "--app", "vidlib", "watch"])

    def health(self) -> dict:
        from vidlib.watcher import read_health

        return read_health(self.state)

    def wait_watching(self, mode: str, timeout: float = 120) -> dict:
        def ready():
            watcher = self.procs["watcher"]
            if watcher.poll() is not None:
                raise RuntimeError(f"the watcher exited ({watcher.returncode}); see {self.workdir / 'watcher.out'}")
            health = self.health()
            folders = health.get("folders") or []
            return folders[0] if health["running"] and folders and folders[0]["mode"] == mode else None

        return wait_for(ready, timeout, f"the watcher in {mode} mode", interval=0.2)

    def wait_first_scan(self, timeout: float = 120) -> None:
        wait_for(lambda: self.state.db.execute("SELECT last_scan_at FROM folders WHERE id = ?", [self.folder_id]).fetchone()[0], timeout, "the first scan")

    def scan_runs(self) -> int:
        log_file = self.data_dir / "logs" / "worker.log"
        return len(RUN_LINE.findall(log_file.read_text(errors="replace"))) if log_file.exists() else 0

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process(proc)
        self.procs = {}


# -- (a) latency -------------------------------------------------------------------------------
def measure_latency(lib: Library, base: bytes, count: int, interval: float) -> list[float]:
    """Copy ``count`` videos one by one; return close()-to-searchable seconds for each."""
    from vidlib.search.engine import SearchRequest, search

    closed: dict[str, float] = {}
    found: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        st = lib.state  # this thread gets its own SQLite connection
        while not done.is_set():
            waiting = [p for p in list(closed) if p not in found]
            if waiting:
                marks = ",".join("?" * len(waiting))
                for path, title, video_hash in st.db.execute(f"SELECT path, title, hash FROM videos WHERE missing = 0 AND path IN ({marks})", waiting).fetchall():
                    result = search(st.db, st.config, None, SearchRequest(q=title, per_page=100))
                    if any(item["hash"] == video_hash for item in result["items"]):
                        found[path] = time.monotonic()
            time.sleep(0.01)
        st.close_db()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        for n in range(count):
            path = lib.folder / f"Latency Clip {n:04d}.mp4"
            closed[str(path)] = write_video(path, base, 900_000 + n)
            time.sleep(interval)  # the pace of the copies: the load pattern, not a synchronisation
        wait_for(lambda: len(found) == count, 120, "every copied video to be searchable")
    finally:
        done.set()
        poller.join()
    return [found[p] - closed[p] for p in closed]


# -- (b) burst ---------------------------------------------------------------------------------
def measure_burst(lib: Library, base: bytes, count: int, timeout: float) -> dict:
    watcher_pid = lib.procs["watcher"].pid
    runs_before = lib.scan_runs()
    prefix = str(lib.folder / "burst") + os.sep
    started = time.monotonic()
    for n in range(count):
        path = lib.folder / "burst" / f"d{n // 100:04d}" / f"clip {n:06d}.mp4"
        if n % 100 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, base, n)
    written = time.monotonic()
    peak = 0
    indexed = 0
    deadline = written + timeout
    while indexed < count and time.monotonic() < deadline:
        indexed = lib.state.db.execute("SELECT COUNT(*) FROM videos WHERE missing = 0 AND substr(path, 1, ?) = ?", [len(prefix), prefix]).fetchone()[0]
        peak = max(peak, proc_memory(watcher_pid)["VmRSS"])
        time.sleep(0.1)
    finished = time.monotonic()
    memory = proc_memory(watcher_pid)
    return {
        "indexed": indexed,
        "write_s": written - started,
        "total_s": finished - started,
        "after_write_s": finished - written,
        "jobs": lib.scan_runs() - runs_before,
        "rss_peak_kib": max(peak, memory["VmRSS"]),
        "hwm_kib": memory["VmHWM"],
    }


# -- (c) memory --------------------------------------------------------------------------------
def build_empty_tree(root: Path, files: int, per_folder: int = 100) -> tuple[float, int]:
    """``files`` empty .mp4 files, ``per_folder`` a folder, 100 folders a top folder; returns (seconds, folders)."""
    started = time.perf_counter()
    folders = {root}
    for n in range(files):
        if n % per_folder == 0:
            directory = root / f"d{n // per_folder // 100:03d}" / f"s{n // per_folder % 100:02d}"
            directory.mkdir(parents=True, exist_ok=True)
            folders.update((directory, directory.parent))
        open(directory / f"v{n:07d}.mp4", "wb").close()
    return time.perf_counter() - started, len(folders)


def measure_memory(lib: Library, mode: str, settle_s: float, samples: int) -> dict:
    started = time.monotonic()
    watcher = lib.start_watcher()
    folder = lib.wait_watching(mode, timeout=600)
    ready_s = time.monotonic() - started
    time.sleep(settle_s)  # let the watcher run (polls, health reports): a bench, not a test
    rss = []
    for _ in range(samples):
        rss.append(proc_memory(watcher.pid)["VmRSS"])
        time.sleep(1.0)
    memory = proc_memory(watcher.pid)
    lib.stop()
    return {"ready_s": ready_s, "rss_kib": int(statistics.median(rss)), "hwm_kib": memory["VmHWM"], "watches": folder["watches"], "reason": folder["reason"]}


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--latency-files", type=int, default=20, help="videos copied one by one for the latency figures (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two latency copies (default 0.5)")
    parser.add_argument("--burst-files", type=int, default=10000, help="videos in the burst (default 10000)")
    parser.add_argument("--burst-timeout", type=float, default=600, help="give up on the burst after this many seconds (default 600)")
    parser.add_argument("--memory-files", type=int, default=100000, help="files watched for the memory figures (default 100000)")
    parser.add_argument("--quiet", type=float, default=3.0, help="WATCH_QUIET_SECONDS (default 3.0, the shipped default)")
    parser.add_argument("--tick", type=float, default=0.5, help="WATCH_TICK_SECONDS (default 0.5, the shipped default)")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="WATCH_POLL_INTERVAL in the polling memory run (default 5; shipped: 30)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for (a) and (b) (default 1, the shipped default)")
    parser.add_argument("--skip", action="append", default=[], choices=["latency", "burst", "memory"], help="skip a part (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="vidlib-bench-watch-"))
    redis = None
    libraries: list[Library] = []
    try:
        redis = Redis(workdir)
        return run(args, workdir, redis, libraries)
    finally:
        for lib in libraries:
            lib.stop()
            lib.state.close_db()
        if redis is not None:
            redis.stop()
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path, redis: Redis, libraries: list) -> int:
    from redis import Redis as Client

    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    queued = Path("/proc/sys/fs/inotify/max_queued_events").read_text().strip()
    print(f"workdir: {workdir}; inotify max_user_watches {limit}, max_queued_events {queued}")
    print(f"quiet period {args.quiet} s, tick {args.tick} s, {args.workers} worker process(es)\n")
    base = make_base_video(workdir / "base.mp4")
    watch = {"WATCH_QUIET_SECONDS": args.quiet, "WATCH_TICK_SECONDS": args.tick, "WATCH_FOLDER_SYNC_SECONDS": 2.0}

    if "latency" not in args.skip or "burst" not in args.skip:
        lib = Library(workdir, "live", redis.url, watch)
        libraries.append(lib)
        lib.start_worker(args.workers)
        lib.start_watcher()
        lib.wait_watching("events", timeout=60)
        lib.wait_first_scan()
        if "latency" not in args.skip:
            latencies = measure_latency(lib, base, args.latency_files, args.interval)
            p50, p95 = quantile(latencies, 0.5), quantile(latencies, 0.95)
            target = args.quiet + 2
            print(f"(a) latency, close() to searchable, {len(latencies)} copies {args.interval} s apart:")
            print(f"    p50 {p50:.2f} s, p95 {p95:.2f} s, min {min(latencies):.2f} s, max {max(latencies):.2f} s")
            print(f"    target p50 < quiet + 2 s = {target:.1f} s: {'met' if p50 < target else 'NOT met'}\n")
        if "burst" not in args.skip:
            result = measure_burst(lib, base, args.burst_files, args.burst_timeout)
            n = args.burst_files
            print(f"(b) burst of {n} new videos ({len(base) + 23} bytes each, 100 per folder):")
            print(f"    written in {result['write_s']:.2f} s; indexed {result['indexed']} of {n} in {result['total_s']:.1f} s "
                  f"({result['indexed'] / result['total_s']:.0f} files/s from the first write; {result['after_write_s']:.1f} s after the last)")
            print(f"    scan_changes jobs run: {result['jobs']}; watcher RSS peak {mib(result['rss_peak_kib'])}, VmHWM {mib(result['hwm_kib'])}\n")
        lib.stop()

    if "memory" not in args.skip:
        rows = []
        empty = Library(workdir, "empty", redis.url, watch)
        libraries.append(empty)
        rows.append(("empty folder, events", measure_memory(empty, "events", 2.0, 3)))
        Client.from_url(redis.url).flushall()
        tree_lib = Library(workdir, "big", redis.url, watch)
        libraries.append(tree_lib)
        seconds, folders = build_empty_tree(tree_lib.folder, args.memory_files)
        print(f"(c) memory: {args.memory_files} files in {folders} folders, 100 files a folder (built in {seconds:.1f} s)")
        rows.append((f"{args.memory_files} files, events", measure_memory(tree_lib, "events", 3.0, 5)))
        Client.from_url(redis.url).flushall()
        tree_lib.state.db.execute("UPDATE folders SET force_polling = 1 WHERE id = ?", [tree_lib.folder_id])
        tree_lib.settings["WATCH_POLL_INTERVAL"] = args.poll_interval
        rows.append((f"{args.memory_files} files, polling every {args.poll_interval:g} s", measure_memory(tree_lib, "polling", 3 * args.poll_interval, 5)))
        for label, row in rows:
            print(f"    {label:<38} VmRSS {mib(row['rss_kib']):>9}  VmHWM {mib(row['hwm_kib']):>9}  watches {row['watches']:>5}  ready in {row['ready_s']:.1f} s")
        events = rows[1][1]
        print(f"    target events-mode VmRSS < 200 MB: {'met' if events['rss_kib'] < 200 * 1024 and events['hwm_kib'] < 200 * 1024 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
