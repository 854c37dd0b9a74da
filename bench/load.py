#!/usr/bin/env python3
"""Benchmark: vidlib under load (gunicorn + wrk), byte serving against nginx, and process memory.

Builds the 100,000-video library of ``bench/ui.py`` (the generator and loader of
``bench/search.py``: rows through vidlib's own schema with the FTS triggers firing, two content
filters, a poster for every video, a few favourites, the similarity index), plus a few real
H.264 files made with ffmpeg (720p, ~5 Mbit/s) in a library folder scanned by vidlib's own
``Scanner``, so ``/video/<hash>`` serves real bytes; then the index is rebuilt so it covers them.

Then it serves the library as deployed: a private ``redis-server`` on a unix socket in the
work dir (``vidlib.redisd.server_args``) and ``gunicorn -c gunicorn.conf.py wsgi:app`` (gthread,
``VIDLIB_WEB_WORKERS`` x ``VIDLIB_WEB_THREADS``, 2 x 8 by default) with no access log
(``VIDLIB_ACCESS_LOG=``), and measures with wrk from the same machine, on loopback:

  * mixed: ``--duration`` (60 s) at ``--connections`` (100) over a pre-generated list of the
    requests the web UI makes (weights in ``MIX``: video data, similar videos, random picks,
    keyword search with facets, autocomplete, the home page's listings, performers and studios,
    posters), each thread walking the list from its own offset: requests/s, latency
    p50/p90/p99/max, non-2xx/3xx responses and socket errors, and the CPU time the gunicorn
    workers, wrk and the rest of the machine used (on 2 cores, wrk and gunicorn share them);
  * the same mix at ``--low-connections`` (4): latency without a queue in front of the workers;
  * paced: the same mix at ``--connections`` (100) visitors who each wait between requests
    (a think time of connections/rate, drawn from 0.5x to 1.5x of it), so the offered load is
    about each of ``--paced-rates`` (100 and 200 req/s) instead of as much as the server can
    take: the latency 100 open browser sessions see at that rate (``--paced-duration``, 60 s);
  * per route: each route of the mix alone for ``--route-duration`` (8 s) at the same
    connections: requests/s, p50/p99, errors and gunicorn CPU ms per request;
  * byte serving: one real file through ``/video/<hash>`` and through nginx (started here,
    ``sendfile on``, 2 workers like gunicorn's 2, serving the folder of the file), with random
    ``Range: bytes=a-b`` requests of ``--chunk`` bytes (1 MiB: the per-request worst case), with
    open-ended ``Range: bytes=N-`` requests from random offsets (what Chromium's player sends, seen
    in its request log) and as whole-file GETs, ``--bytes-duration`` (15 s) at
    ``--bytes-connections`` (50) each, vidlib and nginx alternating for ``--bytes-rounds`` (2)
    rounds: MB/s, requests/s, and vidlib/nginx;
  * memory: VmRSS, VmHWM (peak), RssAnon and Pss of each gunicorn worker after all the load; then
    ``python worker.py --burst`` twice, once with an index rebuild job queued and once with a
    preview media job (``--media-kind``, teaser_large) for a real video, sampling every process
    of the worker's tree every 50 ms: the worker's main process, its work horse (the forked
    child that runs the job) and ffmpeg.

Figures are printed (and saved to ``bench-load-results.json`` in the work dir), never asserted.
Targets read against (issue #7): mixed load 0 errors and p99 under 100 ms; byte serving at least
0.8x nginx; web worker RSS under 300 MB, worker under 500 MB.

Needs wrk and nginx (``apt-get install wrk nginx``), redis-server and ffmpeg.

    .venv/bin/python bench/load.py                                    # 100,000 videos, temp dir
    .venv/bin/python bench/load.py --workdir /tmp/vidlib-bench-load   # kept
    .venv/bin/python bench/load.py --workdir /tmp/vidlib-bench-load --reuse
    .venv/bin/python bench/load.py --videos 5000 --duration 10 --route-duration 3 --bytes-duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import add_workdir_args, bench_workdir, free_port, machine, parse_workdir_args, proc_status_kib, table, wait_for_port  # noqa: E402

import ui as bench_ui  # noqa: E402  (its library: search.py's generator + posters + index)

MANIFEST = "bench-load-manifest.json"
RESULTS = "bench-load-results.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# (route, weight per 100 requests): what the web UI's pages ask for; posters are what a page
# of cards asks for most, one per card.
MIX = [
    ("video data", 14),          # watch page
    ("similar videos", 10),      # watch page, first 24
    ("random video", 5),         # random page
    ("search q + facets", 10),   # search page: a word or two from a title, 48 a page, facets
    ("autocomplete", 6),         # the header's search box, 3-5 letters
    ("home: newest 18", 4),
    ("home: random picks 18", 4),
    ("home: spotlight", 4),
    ("home: grid A-Z 48", 4),
    ("favourites 18", 2),
    ("performers 120", 5),       # performers page, A-Z or by count, pages 1-5
    ("studios 120", 2),
    ("performer page", 3),       # one performer's videos with facets
    ("poster", 27),
]

LUA_SETUP = r"""
-- Each thread gets a number (1, 2, ...) as the global ``id``.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
"""

LUA_LIST = r"""
-- Requests from a file of paths (one a line); each thread walks it from its own offset.
local paths, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.floor((#paths * (id - 1)) / tonumber(args[2]))
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""

LUA_PACED = r"""
-- Each connection is a visitor who waits between requests: a think time drawn uniformly from
-- 0.5x to 1.5x of args[3] ms after each response (wrk's delay()), so the offered rate is about
-- connections / (think + latency). wrk's latency is from sending a request to its response:
-- the think time is not in it.
local think = 0
local base_init = init
function init(args)
  base_init(args)
  think = tonumber(args[3])
  math.randomseed(id * 104729)
end
function delay()
  return math.floor(think * (0.5 + math.random()))
end
"""

LUA_RANGE = r"""
-- Random single ranges of a fixed size, open-ended ranges from a random offset to the end
-- (chunk -1: what a browser's media stack asks for), or whole-file GETs (chunk 0).
local size, chunk
function init(args)
  size, chunk = tonumber(args[1]), tonumber(args[2])
  math.randomseed(id * 7919)
end
function request()
  if chunk == 0 then return wrk.format("GET") end
  if chunk < 0 then return wrk.format("GET", nil, { Range = "bytes=" .. math.random(0, size - 1) .. "-" }) end
  local a = math.random(0, size - chunk)
  return wrk.format("GET", nil, { Range = "bytes=" .. a .. "-" .. (a + chunk - 1) })
end
"""

LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
    .. '"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# -- the library ---------------------------------------------------------------------------------
def make_real_videos(folder: Path, count: int, seconds: int) -> list[Path]:
    """``count`` distinct 720p H.264 + AAC MP4s of ``seconds`` s at ~5 Mbit/s (about 40 MB a minute)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        path = folder / f"Bench Studio - Real Performer - Real video {n + 1}.mp4"
        length = max(5, seconds - 10 * n)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30,noise=alls={8 + 4 * n}:allf=t",
             "-f", "lavfi", "-i", f"sine=frequency={330 + 110 * n}:sample_rate=48000", "-t", str(length),
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "5M", "-maxrate", "5M", "-bufsize", "10M", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(path)],
            check=True,
        )  # fmt: skip
        out.append(path)
    return out


def build_library(args, workdir: Path) -> dict:
    from config import load_config
    from vidlib.db import connect
    from vidlib.library.folders import add_folder
    from vidlib.library.scanner import Scanner
    from vidlib.search.index import rebuild

    data_dir = workdir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    lib = bench_ui.build_library(args, data_dir)
    videos_dir = workdir / "videos"
    if videos_dir.exists():
        shutil.rmtree(videos_dir)
    started = time.perf_counter()
    files = make_real_videos(videos_dir, args.real_videos, args.real_seconds)
    print(f"real videos: {len(files)} made with ffmpeg in {time.perf_counter() - started:.1f} s "
          f"({', '.join(f'{p.stat().st_size / 1e6:.0f} MB' for p in files)})", file=sys.stderr, flush=True)
    config = load_config({"DATA_DIR": str(data_dir)})
    db = connect(os.path.join(config["DATA_DIR"], config["DB_FILENAME"]), config["DB_BUSY_TIMEOUT_MS"])
    folder = add_folder(db, config, str(videos_dir))
    stats = Scanner(db, config).scan_folder(folder["id"])
    if stats.new != len(files):
        raise SystemExit(f"the scan of the real videos found {stats.summary()}")
    started = time.perf_counter()
    rebuild(db, config)  # again, now with the real videos in it
    lib["index_seconds_with_real"] = time.perf_counter() - started
    lib["real"] = [dict(r) for r in db.execute("SELECT hash, path, size, duration FROM videos WHERE path LIKE ? ORDER BY size DESC", [str(videos_dir) + "/%"])]
    lib["urls"] = make_urls(db, args.seed, args.url_count)
    db.conn.close()
    lib["reals"], lib["real_seconds"], lib["url_count"] = args.real_videos, args.real_seconds, args.url_count
    return lib


def make_urls(db, seed: int, count: int) -> dict[str, list[str]]:
    """Paths per route of ``MIX`` (``count`` in all, in proportion to the weights), drawn from the library."""
    from vidlib.filters import visible_sql

    rng = random.Random(seed + 7)
    visible = [tuple(r) for r in db.execute(f"SELECT v.hash, v.title FROM videos v WHERE {visible_sql('v')}")]
    with_poster = {r[0] for r in db.execute("SELECT hash FROM media WHERE kind = 'poster' AND status = 'done'")}
    performers = [r[0] for r in db.execute("SELECT p.name FROM performers p WHERE EXISTS (SELECT 1 FROM video_performers vp WHERE vp.performer_id = p.id) ORDER BY p.id")]
    total_weight = sum(w for _, w in MIX)

    def title_words(title: str) -> str:
        words = [w for w in title.lower().split() if len(w) >= 3] or title.lower().split()
        k = 1 if rng.random() < 0.7 or len(words) < 2 else 2
        start = rng.randrange(0, len(words) - k + 1)
        return " ".join(words[start : start + k])

    def one(route: str) -> str:
        video_hash, title = rng.choice(visible)
        if route == "video data":
            return f"/api/get-video-data/{video_hash}"
        if route == "similar videos":
            return f"/search/get-similar-videos/{video_hash}/0/24"
        if route == "random video":
            return "/api/get-random-video"
        if route == "search q + facets":
            return "/search/search-videos?" + urlencode({"q": title_words(title), "per_page": 48, "facets": "true"})
        if route == "autocomplete":
            word = max(title.split(), key=len).lower()
            return "/search/autocomplete?" + urlencode({"q": word[: rng.randint(3, 5)], "limit": 8})
        if route == "home: newest 18":
            return "/search/search-videos?sort=newest&per_page=18"
        if route == "home: random picks 18":
            return f"/api/get-random-video-seeded/{rng.randrange(1, 2**31)}?per_page=18"
        if route == "home: spotlight":
            return "/api/get-random-spotlight-video"
        if route == "home: grid A-Z 48":
            return f"/search/search-videos?sort=title&page={rng.randint(1, 20)}&per_page=48"
        if route == "favourites 18":
            return "/search/search-videos?favourites=true&sort=newest&per_page=18"
        if route == "performers 120":
            return f"/api/get-performers?sort={rng.choice(('name', 'count'))}&page={rng.randint(1, 5)}&per_page=120"
        if route == "studios 120":
            return f"/api/get-studios?sort={rng.choice(('name', 'count'))}&page=1&per_page=120"
        if route == "performer page":
            return "/search/search-videos?" + urlencode({"performer": rng.choice(performers[:2000]), "sort": "newest", "per_page": 48, "facets": "true"})
        if route == "poster":
            while video_hash not in with_poster:
                video_hash, _ = rng.choice(visible)
            return f"/media/{video_hash[:2]}/{video_hash}/poster.jpg"
        raise ValueError(route)

    return {route: [one(route) for _ in range(max(1, round(count * weight / total_weight)))] for route, weight in MIX}


# -- processes -----------------------------------------------------------------------------------
def service_env(workdir: Path) -> dict[str, str]:
    """The environment of gunicorn and the worker: only the bench library's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({
        "VIDLIB_ENV_FILE": str(workdir / "no.env"),  # never the checkout's .env
        "VIDLIB_DATA_DIR": str(workdir / "data"),
        "VIDLIB_REDIS_URL": f"unix://{workdir / 'redis' / 'redis.sock'}",
        "VIDLIB_ACCESS_LOG": "",
    })  # fmt: skip
    return env


def start_redis(workdir: Path) -> subprocess.Popen:
    from vidlib.redisd import server_args

    rdir = workdir / "redis"
    shutil.rmtree(rdir, ignore_errors=True)
    rdir.mkdir(parents=True)
    argv = server_args(rdir) + ["--save", "", "--appendonly", "no"]  # a scratch queue: nothing to keep
    proc = subprocess.Popen(argv, stdout=open(rdir / "redis.log", "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while not (rdir / "redis.sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("redis-server did not start:\n" + (rdir / "redis.log").read_text())
        time.sleep(0.05)
    return proc


def gunicorn_argv() -> list[str]:
    script = Path(sys.executable).with_name("gunicorn")
    return [str(script) if script.exists() else "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]


def start_gunicorn(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log_path = workdir / "gunicorn.log"
    env = {**env, "VIDLIB_HOST": "127.0.0.1", "VIDLIB_PORT": str(port)}
    proc = subprocess.Popen(gunicorn_argv(), cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    wait_for_port(proc, port, log_path, "gunicorn")
    return proc, port


NGINX_CONF = """
daemon off;
user root;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ video/mp4 mp4; }}
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def start_nginx(workdir: Path, root: Path, workers: int) -> tuple[subprocess.Popen, int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise SystemExit("nginx not found: apt-get install nginx")
    ndir = workdir / "nginx"
    (ndir / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    (ndir / "nginx.conf").write_text(NGINX_CONF.format(workers=workers, dir=ndir, port=port, root=root))
    proc = subprocess.Popen([nginx, "-p", str(ndir), "-c", str(ndir / "nginx.conf")], stdout=open(ndir / "out.log", "wb"), stderr=subprocess.STDOUT)
    wait_for_port(proc, port, ndir / "out.log", "nginx")
    return proc, port


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- /proc ---------------------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children(child)
    return out


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon (KiB from /proc/<pid>/status) and Pss (smaps_rollup) of a process."""
    out = {field: proc_status_kib(field, pid) for field in ("VmRSS", "VmHWM", "RssAnon")}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            out["Pss"] = next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration):
        out["Pss"] = 0
    return out


class TreeSampler:
    """Samples every process under ``pid`` (and ``pid``) every ``interval`` s: peak RSS, last VmHWM, peak Pss."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.seen: dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in [self.pid, *descendants(self.pid)]:
                try:
                    mem = memory(pid)
                    with open(f"/proc/{pid}/comm") as fh:
                        comm = fh.read().strip()
                except (OSError, KeyError):
                    continue
                entry = self.seen.setdefault(pid, {"comm": comm, "rss": 0, "hwm": 0, "pss": 0, "anon": 0, "first": time.monotonic()})
                entry["comm"] = comm
                entry["rss"] = max(entry["rss"], mem["VmRSS"])
                entry["hwm"] = max(entry["hwm"], mem["VmHWM"])
                entry["pss"] = max(entry["pss"], mem["Pss"])
                entry["anon"] = max(entry["anon"], mem["RssAnon"])
            self._stop.wait(self.interval)

    def stop(self) -> dict[int, dict]:
        self._stop.set()
        self._thread.join()
        return self.seen


# -- wrk -----------------------------------------------------------------------------------------
def wrk(url: str, script: Path, script_args: list[str], connections: int, threads: int, seconds: float, gunicorn_pids: list[int]) -> dict:
    """One wrk run; its summary plus the CPU seconds gunicorn's workers, wrk and the whole machine used."""
    argv = ["wrk", f"-c{connections}", f"-t{min(threads, connections)}", f"-d{seconds:g}s", "--timeout", "10s", "--latency", "-s", str(script), url]
    if script_args:
        argv += ["--", *script_args]
    idle_wait = wait_idle(gunicorn_pids)
    server_before = sum(cpu_ticks(p) for p in gunicorn_pids)
    busy_before, total_before = machine_ticks()
    wrk_before = os.times()
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - started
    wrk_after = os.times()
    busy_after, total_after = machine_ticks()
    server_after = sum(cpu_ticks(p) for p in gunicorn_pids)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode or line is None:
        raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    res = json.loads(line[len("WRKJSON "):])
    seconds_run = res["duration_us"] / 1e6
    res.update({
        "rps": res["requests"] / seconds_run,
        "mb_s": res["bytes"] / seconds_run / 1e6,
        "errors": res["connect"] + res["read"] + res["write"] + res["timeout"],
        "server_cpu_s": (server_after - server_before) / CLK_TCK,
        "wrk_cpu_s": (wrk_after.children_user + wrk_after.children_system) - (wrk_before.children_user + wrk_before.children_system),
        "machine_busy_s": (busy_after - busy_before) / CLK_TCK,
        "machine_total_s": (total_after - total_before) / CLK_TCK,
        "wall_s": wall,
    })  # fmt: skip
    res["backlog_s"] = wait_idle(gunicorn_pids)  # the requests still queued when wrk stopped, finished
    res["backlog_cpu_s"] = (sum(cpu_ticks(p) for p in gunicorn_pids) - server_after) / CLK_TCK
    res["idle_wait_before_s"] = idle_wait
    res["server_cpu_ms_per_req"] = res["server_cpu_s"] * 1000 / max(1, res["requests"])
    res["other_cpu_s"] = res["machine_busy_s"] - res["server_cpu_s"] - res["wrk_cpu_s"]
    return res


def wait_idle(pids: list[int], limit: float = 600) -> float:
    """Wait until the gunicorn workers stop using CPU (requests wrk left queued are finished); returns the seconds waited.

    wrk closes its connections when its time is up, but gunicorn still answers what was
    already read, so without this one run's backlog would be measured as the next run's.
    """
    started = time.monotonic()
    quiet = 0
    before = sum(cpu_ticks(p) for p in pids)
    while quiet < 2 and time.monotonic() - started < limit:
        time.sleep(0.5)
        now = sum(cpu_ticks(p) for p in pids)
        quiet = quiet + 1 if (now - before) / CLK_TCK < 0.02 else 0  # under 4 % of a core for 1 s
        before = now
    return time.monotonic() - started


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def check_routes(base: str, urls: dict[str, list[str]]) -> list[str]:
    """Ask each route once and return the ones that did not answer 200."""
    bad = []
    for route, paths in urls.items():
        try:
            with urllib.request.urlopen(base + paths[0], timeout=30) as resp:
                resp.read()
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{route} ({paths[0]}): {exc}")
    return bad


def check_range(base: str, path: str, size: int) -> str:
    """One 1-byte Range request: '206 ok' or what went wrong."""
    req = urllib.request.Request(base + path, headers={"Range": f"bytes={size - 2}-{size - 1}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        return "206 ok" if resp.status == 206 and len(body) == 2 and resp.headers["Content-Range"] == f"bytes {size - 2}-{size - 1}/{size}" else f"{resp.status}, {len(body)} bytes"


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--videos", type=int, default=100000, help="library size (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="library seed (default 1)")
    parser.add_argument("--real-videos", type=int, default=3, help="real H.264 files made with ffmpeg (default 3)")
    parser.add_argument("--real-seconds", type=int, default=60, help="length of the first real file, the others 10 s shorter each (default 60: ~40 MB)")
    parser.add_argument("--url-count", type=int, default=200000, help="requests in the pre-generated mix (default 200000: more than a run sends, so a video's URLs do not come round again)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the mixed run (default 60)")
    parser.add_argument("--connections", type=int, default=100, help="wrk connections of the mixed and per-route runs (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--low-connections", type=int, default=4, help="connections of the second, unqueued mixed run (default 4; 0 skips it)")
    parser.add_argument("--low-duration", type=float, default=20, help="seconds of that run (default 20)")
    parser.add_argument("--paced-rates", type=lambda v: [float(x) for x in v.split(",") if x], default=[100.0, 200.0],
                        help="offered request rates of the paced mixed runs: --connections visitors, each waiting connections/rate s between requests "
                             "(comma-separated req/s; default 100,200; empty skips them)")
    parser.add_argument("--web-workers", type=int, help="what-if: VIDLIB_WEB_WORKERS for gunicorn (default: the configured 2)")
    parser.add_argument("--web-threads", type=int, help="what-if: VIDLIB_WEB_THREADS for gunicorn (default: the configured 8)")
    parser.add_argument("--paced-duration", type=float, default=60, help="seconds of each paced run (default 60)")
    parser.add_argument("--route-duration", type=float, default=8, help="seconds of each per-route run (default 8; 0 skips them)")
    parser.add_argument("--bytes-duration", type=float, default=15, help="seconds of each byte-serving run (default 15; 0 skips them)")
    parser.add_argument("--bytes-connections", type=int, default=50, help="connections of the byte-serving runs (default 50)")
    parser.add_argument("--bytes-rounds", type=int, default=2, help="vidlib/nginx alternations per byte-serving case (default 2)")
    parser.add_argument("--chunk", type=int, default=1 << 20, help="bytes per Range request (default 1 MiB)")
    parser.add_argument("--media-kind", default="teaser_large", help="the preview media job the worker runs for a real video (default teaser_large)")
    parser.add_argument("--skip-worker", action="store_true", help="do not run the RQ worker jobs")
    parser.add_argument("--build-only", action="store_true", help="build the library (with --workdir, to --reuse later) and stop")
    add_workdir_args(parser)
    args = parse_workdir_args(parser, argv)
    for tool in ("wrk", "redis-server", "ffmpeg"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install {tool}")
    with bench_workdir(args.workdir, args.keep, "vidlib-bench-load-") as workdir:
        return run(args, workdir)


def run(args, workdir: Path) -> int:
    import sqlite3

    from config import load_config

    load_start = os.getloadavg()
    print(f"machine: {machine(f'SQLite {sqlite3.sqlite_version}')}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}")
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    print(f"vidlib: {rev or 'unknown revision'}")
    manifest_path = workdir / MANIFEST
    lib = json.loads(manifest_path.read_text()) if args.reuse and manifest_path.exists() else None
    wanted = {"videos": args.videos, "seed": args.seed, "reals": args.real_videos, "real_seconds": args.real_seconds}
    if lib is None or any(lib.get(k) != v for k, v in wanted.items()):
        if args.reuse:
            print("nothing to reuse in workdir (no library or other options): building afresh")
        lib = build_library(args, workdir)
        manifest_path.write_text(json.dumps(lib))
    else:
        print(f"reusing the library in {workdir}")
        if lib.get("url_count") != args.url_count:  # only the request list differs: draw it again
            db = sqlite3.connect(workdir / "data" / load_config({"DATA_DIR": str(workdir / "data")})["DB_FILENAME"])
            lib["urls"], lib["url_count"] = make_urls(db, args.seed, args.url_count), args.url_count
            db.close()
            manifest_path.write_text(json.dumps(lib))
    if args.build_only:
        return 0
    urls: dict[str, list[str]] = lib["urls"]
    config = load_config({"DATA_DIR": str(workdir / "data")})
    env = service_env(workdir)
    for key in ("web_workers", "web_threads"):  # what-ifs: another gunicorn shape
        if getattr(args, key):
            env[f"VIDLIB_{key.upper()}"] = str(getattr(args, key))
            config[key.upper()] = getattr(args, key)
    lua_dir = workdir / "lua"
    lua_dir.mkdir(exist_ok=True)
    (lua_dir / "list.lua").write_text(LUA_SETUP + LUA_LIST + LUA_DONE)
    (lua_dir / "range.lua").write_text(LUA_SETUP + LUA_RANGE + LUA_DONE)
    (lua_dir / "paced.lua").write_text(LUA_SETUP + LUA_LIST + LUA_PACED + LUA_DONE)
    mixed = [p for paths in urls.values() for p in paths]
    random.Random(args.seed + 11).shuffle(mixed)
    (lua_dir / "mixed.txt").write_text("\n".join(mixed) + "\n")
    for n, (route, paths) in enumerate(urls.items()):
        (lua_dir / f"route-{n:02d}.txt").write_text("\n".join(paths) + "\n")

    results: dict = {"machine": machine(), "load_start": load_start, "revision": rev, "videos": lib["videos"], "args": vars(args)}
    redis = start_redis(workdir)
    server = None
    try:
        server, port = start_gunicorn(workdir, env)
        base = f"http://127.0.0.1:{port}"
        time.sleep(1)
        workers = children(server.pid)
        print(f"gunicorn -c gunicorn.conf.py wsgi:app: {len(workers)} workers x {config['WEB_THREADS']} threads (gthread), no access log; "
              f"wrk {subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split()[1]} on loopback", flush=True)
        bad = check_routes(base, urls)
        if bad:
            print("WARNING: routes that did not answer 200:\n  " + "\n  ".join(bad))
        # Warm both workers (the index, SQLite pages, the speller) as a running server is.
        warm = wrk(base, lua_dir / "list.lua", [str(lua_dir / "mixed.txt"), str(args.threads)], 16, args.threads, 10, workers)
        print(f"warm-up: {warm['requests']:,} requests in 10 s", file=sys.stderr, flush=True)

        print(f"mixed run: {args.duration:g} s at {args.connections} connections ...", file=sys.stderr, flush=True)
        results["mixed"] = wrk(base, lua_dir / "list.lua", [str(lua_dir / "mixed.txt"), str(args.threads)], args.connections, args.threads, args.duration, workers)
        results["load_after_mixed"] = os.getloadavg()
        if args.low_connections:
            print(f"mixed run: {args.low_duration:g} s at {args.low_connections} connections ...", file=sys.stderr, flush=True)
            results["mixed_low"] = wrk(base, lua_dir / "list.lua", [str(lua_dir / "mixed.txt"), str(args.threads)], args.low_connections, args.threads, args.low_duration, workers)
        results["paced"] = {}
        for rate in args.paced_rates:
            think_ms = max(1, round(args.connections * 1000 / rate))
            print(f"paced run: {args.paced_duration:g} s at {args.connections} connections, each waiting ~{think_ms} ms between requests (~{rate:g} req/s offered) ...", file=sys.stderr, flush=True)
            res = wrk(base, lua_dir / "paced.lua", [str(lua_dir / "mixed.txt"), str(args.threads), str(think_ms)], args.connections, args.threads, args.paced_duration, workers)
            res.update(offered=rate, think_ms=think_ms)
            results["paced"][str(rate)] = res
        results["routes"] = {}
        if args.route_duration:
            for n, route in enumerate(urls):
                print(f"route {route}: {args.route_duration:g} s ...", file=sys.stderr, flush=True)
                results["routes"][route] = wrk(base, lua_dir / "list.lua", [str(lua_dir / f"route-{n:02d}.txt"), str(args.threads)],
                                               args.connections, args.threads, args.route_duration, workers)
        if args.bytes_duration:
            results["bytes"] = bytes_runs(args, workdir, lib, base, lua_dir, workers)
        results["web_memory"] = {pid: memory(pid) for pid in workers}
        results["web_master_memory"] = memory(server.pid)
    finally:
        if server is not None:
            stop(server)
    try:
        if not args.skip_worker:
            results["worker"] = worker_runs(args, workdir, lib, env, config)
    finally:
        stop(redis)
    results["load_end"] = os.getloadavg()
    (workdir / RESULTS).write_text(json.dumps(results, indent=1))
    report(args, lib, results)
    return 0


def BYTE_CASES(args) -> tuple[tuple[str, int], ...]:  # noqa: N802
    """(case, chunk argument of range.lua): fixed ranges, open-ended ranges, whole files."""
    return (("range", args.chunk), ("open", -1), ("whole", 0))


def bytes_runs(args, workdir: Path, lib: dict, base: str, lua_dir: Path, workers: list[int]) -> dict:
    real = lib["real"][0]  # the largest
    path = Path(real["path"])
    nginx, nport = start_nginx(workdir, path.parent, len(workers))
    targets = {"vidlib": (base, f"/video/{real['hash']}"), "nginx": (f"http://127.0.0.1:{nport}", "/" + quote(path.name))}
    out: dict = {"file": path.name, "size": real["size"], "checks": {}}
    try:
        for name, (host, url_path) in targets.items():
            out["checks"][name] = check_range(host, url_path, real["size"])
        for case, chunk in BYTE_CASES(args):
            for _ in range(args.bytes_rounds):
                for name, (host, url_path) in targets.items():
                    print(f"bytes {case} {name}: {args.bytes_duration:g} s ...", file=sys.stderr, flush=True)
                    res = wrk(host + url_path, lua_dir / "range.lua", [str(real["size"]), str(chunk)], args.bytes_connections, args.threads, args.bytes_duration, workers)
                    out.setdefault(case, {}).setdefault(name, []).append(res)
    finally:
        stop(nginx)
    return out


def worker_runs(args, workdir: Path, lib: dict, env: dict[str, str], config: dict) -> dict:
    """``python worker.py --burst`` once per job (index rebuild, one preview media job), its process tree sampled."""
    from vidlib import jobs, state
    from vidlib.media import jobs as media_jobs

    state.init_process_state({**config, "REDIS_URL": env["VIDLIB_REDIS_URL"]})
    out = {}
    for label, enqueue in (
        ("index rebuild", lambda: jobs.enqueue_index_rebuild(delay=0)),
        (f"{args.media_kind} of a real video ({lib['real'][0]['duration']:.0f} s, 720p)", lambda: media_jobs.enqueue_media(lib["real"][0]["hash"], args.media_kind, force=True)),
    ):
        enqueue()
        print(f"worker: {label} ...", file=sys.stderr, flush=True)
        log_path = workdir / "worker.log"
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "worker.py", "--burst", "--no-initial-scan"], cwd=ROOT, env=env,
                                stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        proc.wait()
        seen = sampler.stop()
        wall = time.monotonic() - started
        if proc.returncode:
            raise SystemExit(f"worker.py exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        main_proc = seen.get(proc.pid, {})
        horses = [e for pid, e in seen.items() if pid != proc.pid and e["comm"].startswith(("python", "rq"))]
        others = [e for pid, e in seen.items() if pid != proc.pid and e not in horses]
        out[label] = {"wall_s": wall, "main": main_proc, "horses": horses, "others": others}
    state.current().close_db()
    return out


# -- the report ----------------------------------------------------------------------------------
def report(args, lib: dict, r: dict) -> None:
    n = lib["videos"] + len(lib["real"])
    mixed = r["mixed"]
    print(f"\n{n:,} videos ({len(lib['real'])} real files); gunicorn as deployed (gunicorn.conf.py), wrk on the same machine, loopback; "
          f"latency from wrk (--latency, timeout 10 s); CPU s from /proc (gunicorn workers, wrk, the whole machine)")
    rows = []
    runs = [("mixed", mixed, args.connections), ("mixed, low concurrency", r.get("mixed_low"), args.low_connections)]
    runs += [(f"paced: ~{res['think_ms']} ms think, {res['offered']:g} req/s offered", res, args.connections) for res in r.get("paced", {}).values()]
    for label, res, conns in runs:
        if not res:
            continue
        rows.append((label, str(conns), f"{res['duration_us'] / 1e6:.0f}", f"{res['requests']:,}", f"{res['rps']:.0f}", ms(res["p50"]), ms(res["p90"]),
                     ms(res["p99"]), ms(res["max"]), str(res["status"]), str(res["errors"]), f"{res['server_cpu_ms_per_req']:.1f}",
                     f"{res['server_cpu_s']:.0f} / {res['wrk_cpu_s']:.0f} / {res['other_cpu_s']:.0f}"))
    print(table(rows, ("run", "conns", "s", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx/3xx", "socket errors",
                       "server CPU ms/req", "CPU s gunicorn / wrk / rest")))
    total = mixed["machine_total_s"]
    print(f"mixed run: the machine's {total / mixed['wall_s']:.0f} cores were {mixed['machine_busy_s'] / total * 100:.0f} % busy "
          f"(gunicorn {mixed['server_cpu_s'] / total * 100:.0f} %, wrk {mixed['wrk_cpu_s'] / total * 100:.0f} %, everything else {mixed['other_cpu_s'] / total * 100:.0f} %); "
          f"load average after it {' '.join(f'{x:.2f}' for x in r['load_after_mixed'])}")
    mix_share = {route: w for route, w in MIX}
    if r["routes"]:
        print(f"\neach route alone, {args.route_duration:g} s at {args.connections} connections")
        rrows = [(route, f"{mix_share[route]}", f"{res['rps']:.0f}", ms(res["p50"]), ms(res["p99"]), ms(res["max"]), str(res["status"]), str(res["errors"]),
                  f"{res['server_cpu_ms_per_req']:.1f}") for route, res in r["routes"].items()]
        print(table(rrows, ("route", "% of mix", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx/3xx", "socket errors", "server CPU ms/req")))
        weighted = sum(mix_share[route] * res["server_cpu_ms_per_req"] for route, res in r["routes"].items()) / sum(mix_share.values())
        print(f"weighted by the mix: {weighted:.1f} server CPU ms a request, i.e. at most {2000 / weighted:.0f} req/s on 2 free cores")
    b = r.get("bytes")
    if b:
        print(f"\nbyte serving: {b['file']} ({b['size'] / 1e6:.1f} MB, page cache), {args.bytes_connections} connections, "
              f"{args.bytes_duration:g} s a run, medians of {args.bytes_rounds}; check: vidlib {b['checks']['vidlib']}, nginx {b['checks']['nginx']}")
        brows = []
        labels = {"range": f"Range {args.chunk // 1024} KiB at random offsets", "open": "Range from a random offset to the end", "whole": "whole file"}
        for case, label in ((case, labels[case]) for case, _ in BYTE_CASES(args) if case in b):
            med = {name: {k: statistics.median(x[k] for x in runs) for k in ("mb_s", "rps", "p50", "p99")} for name, runs in b[case].items()}
            errs = {name: sum(x["status"] + x["errors"] for x in runs) for name, runs in b[case].items()}
            for name in ("vidlib", "nginx"):
                brows.append((label, name, f"{med[name]['mb_s']:,.0f}", f"{med[name]['rps']:,.0f}", ms(med[name]["p50"]), ms(med[name]["p99"]), str(errs[name]),
                              f"{med['vidlib']['mb_s'] / med['nginx']['mb_s']:.2f}x" if name == "vidlib" else ""))
        print(table(brows, ("requests", "server", "MB/s", "req/s", "p50 ms", "p99 ms", "errors", "vidlib / nginx")))
    mib = lambda kib: f"{kib / 1024:,.0f}"  # noqa: E731
    print("\nmemory (MiB): gunicorn after all the load above; RQ worker per job, sampled every 50 ms")
    mrows = [("gunicorn master", "", mib(r["web_master_memory"]["VmRSS"]), mib(r["web_master_memory"]["VmHWM"]), mib(r["web_master_memory"]["RssAnon"]), mib(r["web_master_memory"]["Pss"]))]
    for i, m in enumerate(r["web_memory"].values()):
        mrows.append((f"gunicorn worker {i + 1}", "after load", mib(m["VmRSS"]), mib(m["VmHWM"]), mib(m["RssAnon"]), mib(m["Pss"])))
    for label, w in r.get("worker", {}).items():
        main = w["main"]
        mrows.append((f"worker.py main ({label})", f"{w['wall_s']:.0f} s", mib(main.get("rss", 0)), mib(main.get("hwm", 0)), mib(main.get("anon", 0)), mib(main.get("pss", 0))))
        for h in w["horses"]:
            mrows.append((f"  work horse ({h['comm']})", "", mib(h["rss"]), mib(h["hwm"]), mib(h["anon"]), mib(h["pss"])))
        for o in w["others"]:
            mrows.append((f"  child {o['comm']}", "", mib(o["rss"]), mib(o["hwm"]), mib(o["anon"]), mib(o["pss"])))
    print(table(mrows, ("process", "when", "RSS (peak sampled)", "VmHWM", "RssAnon", "Pss")))

    web_peak = max(m["VmHWM"] for m in r["web_memory"].values()) / 1024
    worker_peak = max([w["main"].get("hwm", 0) for w in r.get("worker", {}).values()] +
                      [h["hwm"] for w in r.get("worker", {}).values() for h in w["horses"]] or [0]) / 1024
    ratio = ""
    if b:
        med = {case: {name: statistics.median(x["mb_s"] for x in runs) for name, runs in b[case].items()} for case, _ in BYTE_CASES(args) if case in b}
        ratio = "; bytes vidlib/nginx " + ", ".join(f"{med[c]['vidlib'] / med[c]['nginx']:.2f}x {c}" for c in med) + " (target >= 0.8x)"
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in r['load_end'])}")
    paced = "".join(f"; paced {res['offered']:g} req/s offered: {res['rps']:.0f} req/s served, p99 {ms(res['p99'])} ms, {res['status'] + res['errors']} errors"
                    for res in r.get("paced", {}).values())
    print(f"target check (read, not asserted): mixed {mixed['rps']:.0f} req/s, p99 {ms(mixed['p99'])} ms (target < 100){paced}, "
          f"{mixed['status']} non-2xx/3xx + {mixed['errors']} socket errors (target 0){ratio}; "
          f"web worker peak RSS {web_peak:.0f} MiB (target < 300 MB = 286 MiB); worker peak RSS {worker_peak:.0f} MiB (target < 500 MB = 477 MiB)")


if __name__ == "__main__":
    sys.exit(main())
