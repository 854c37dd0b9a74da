#!/usr/bin/env python3
"""Benchmark: the web UI on a 100,000-video library, in real Chromium on loopback.

Builds the synthetic library of ``bench/search.py`` (same generator, same loader: rows inserted
through vidlib's own schema with the FTS triggers firing, two content filters), gives every video
a poster (one small JPEG hard-linked into each video's media dir, with its ``media`` row marked
done, so cards load real images through ``/media/...``), builds the similarity index, then serves
it with gunicorn as the Procfile does (2 workers x 4 threads) and measures, with the system
Chromium driven by Playwright:

  * home page: time from navigation start to the first video card in the DOM, to the first
    frame painted after it (requestAnimationFrame), and to the first poster image loaded; cold
    (a new browser context each run: empty cache) and warm (a reload);
  * search: on /search, a word typed key by key into the header's search box (as a person types,
    80 ms apart); time from the last keystroke to the results for the full word rendered
    (including the UI's 60 ms debounce and the superseded requests it aborts);
  * JavaScript per page: every script a page's HTML loads (entry + module preloads), gzipped
    (level 6), and the CSS likewise;
  * lists: every API request the pages make (all ten pages, the dashboard included) with the
    longest list in its answer, and whether the endpoint bounds it (a page size, a limit, or a
    fixed set) or returns every row it has.

Figures are printed, never asserted. Targets (from the issue): home usable (first cards painted)
under 1 s; search results under 300 ms after typing; JS per page under 100 KB gzipped; no request
that returns an unbounded list.

    .venv/bin/python bench/ui.py                         # 100,000 videos
    .venv/bin/python bench/ui.py --videos 10000 --runs 3
    .venv/bin/python bench/ui.py --workdir /tmp/vidlib-bench-ui --keep    # keep the library
    .venv/bin/python bench/ui.py --workdir /tmp/vidlib-bench-ui --reuse   # measure again
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import add_workdir_args, bench_workdir, free_port, parse_workdir_args, wait_for_port  # noqa: E402

BUILD = ROOT / "templates_static"
MANIFEST = "bench-ui-manifest.json"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ("home", "watch", "search", "performers", "performer", "studios", "studio", "favourites", "random", "dashboard")

# endpoint pattern -> how the UI's request is bounded (None: it returns every row there is)
BOUNDS = [
    (r"^/search/search-videos$", "per_page (<= MAX_PAGE_SIZE); facets top 20 each"),
    (r"^/search/autocomplete$", "limit (<= 50)"),
    (r"^/search/get-similar-videos/", "limit in the path (<= MAX_PAGE_SIZE)"),
    (r"^/search/get-similar-(performers|studios)/", "limit (<= 200)"),
    (r"^/api/get-random-video-seeded/", "per_page (<= MAX_PAGE_SIZE)"),
    (r"^/api/get-(performers|studios)$", "per_page (<= MAX_PAGE_SIZE)"),
    (r"^/api/get-video-data/|^/api/get-random-(spotlight-)?video$|^/api/stats$", "one record"),
    (r"^/api/generation/status$", "5 kinds x 6 states; running jobs <= worker count"),
    (r"^/api/generation/failed$", "per_page, 100 by default (<= MAX_PAGE_SIZE)"),
    (r"^/api/generation/prioritize/", "one count"),
    (r"^/api/folders$", None),
    (r"^/api/content-filters$", None),
    (r"^/api/duplicates$", "per_page, 100 by default (<= MAX_PAGE_SIZE)"),
    (r"^/api/collisions$", "per_page, 100 by default (<= MAX_PAGE_SIZE)"),
    (r"^/api/scan-errors$", "per_page, 100 by default (<= MAX_PAGE_SIZE)"),
    (r"^/api/watcher/health$", "one entry per folder"),
]
BOUNDED_BY_NATURE = {"/api/folders": "one row per library folder (a handful)", "/api/content-filters": "one row per filter the admin added"}


def load_search_bench():
    """bench/search.py as a module: its library generator and loader are reused as they are."""
    spec = importlib.util.spec_from_file_location("vidlib_bench_search", ROOT / "bench" / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chromium_path() -> str:
    path = os.environ.get("VIDLIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.isfile(path):
        raise SystemExit(f"Chromium not found at {path}: apt-get install chromium")
    return path


# -- the library -------------------------------------------------------------------------------
def build_library(args, data_dir: Path) -> dict:
    from config import load_config
    from vidlib.db import connect, now_iso, write_transaction
    from vidlib.filters import add_filter
    from vidlib.search.index import rebuild

    bench_search = load_search_bench()
    config = load_config({"DATA_DIR": str(data_dir)})
    data_dir.mkdir(parents=True, exist_ok=True)
    db = connect(os.path.join(config["DATA_DIR"], config["DB_FILENAME"]), config["DB_BUSY_TIMEOUT_MS"])
    started = time.perf_counter()
    lib = bench_search.generate_library(args.videos, args.seed, 4000, 5000, 500, 300)
    load_seconds = bench_search.load_library(db, lib)
    for kind, value in (("category", lib["categories"][40]), ("performer", lib["performers"][300])):
        add_filter(db, kind, value)
    # One folder row so the dashboard has something to list.
    with write_transaction(db):
        db.execute("INSERT INTO folders (path, added_at) VALUES ('/library', ?)", [now_iso()])
    vocab = lib["vocab"]
    performers, studios = lib["performers"], lib["studios"]
    del lib
    print(f"library: {args.videos:,} videos loaded in {load_seconds:.1f} s", file=sys.stderr, flush=True)

    # A poster for every video: one JPEG hard-linked into each media dir, rows marked done.
    from PIL import Image

    poster = data_dir / "poster-template.jpg"
    image = Image.new("RGB", (320, 180))
    for x in range(320):
        for y in range(0, 180, 4):
            image.putpixel((x, y), (x % 256, (y * 3) % 256, 140))
    image.save(poster, quality=80)
    media_dir = Path(config["MEDIA_DIR"])
    hashes = [r[0] for r in db.execute("SELECT hash FROM videos")]
    stamp = now_iso()
    for video_hash in hashes:
        target = media_dir / video_hash[:2] / video_hash
        target.mkdir(parents=True, exist_ok=True)
        # One copy of the template per shard: a file takes at most ~65,000 hard links.
        shard_copy = media_dir / video_hash[:2] / "poster-template.jpg"
        if not shard_copy.exists():
            shutil.copyfile(poster, shard_copy)
        os.link(shard_copy, target / "poster.jpg")
    with write_transaction(db):
        db.conn.executemany("INSERT INTO media (hash, kind, status, progress, updated_at) VALUES (?, 'poster', 'done', 1.0, ?)", [(h, stamp) for h in hashes])
        # A few favourites, as a real library has.
        db.conn.executemany("INSERT INTO favourites (hash, added_at) VALUES (?, ?)", [(h, stamp) for h in hashes[::997]])
    print(f"posters: {len(hashes):,} linked in {time.perf_counter() - started - load_seconds:.1f} s", file=sys.stderr, flush=True)
    index_started = time.perf_counter()
    rebuild(db, config)
    index_seconds = time.perf_counter() - index_started
    print(f"similarity index built in {index_seconds:.1f} s", file=sys.stderr, flush=True)
    db.conn.close()
    common = [w for w in vocab[20:60]]
    rare = [w for w in vocab[1500:1540]]
    return {"videos": args.videos, "seed": args.seed, "load_seconds": load_seconds, "index_seconds": index_seconds,
            "words": {"common": common, "rare": rare}, "performer": performers[5], "studio": studios[3], "hash": hashes[12345 % len(hashes)]}


# -- the server --------------------------------------------------------------------------------
def start_gunicorn(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDLIB_")}
    env.update({"VIDLIB_DATA_DIR": str(data_dir), "VIDLIB_REDIS_URL": f"unix://{data_dir}/no-redis.sock", "VIDLIB_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
    )
    wait_for_port(proc, port, log_path, "gunicorn")
    return proc, f"http://127.0.0.1:{port}"


# -- measurements ------------------------------------------------------------------------------
PAINT_PROBE = """
(() => {
  window.__ui = {};
  const seen = () => {
    if (!window.__ui.card && document.querySelector('article.card')) {
      window.__ui.card = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => (window.__ui.painted = performance.now())));
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
  document.addEventListener('load', (e) => {
    if (!window.__ui.poster && e.target.matches && e.target.matches('article.card img.poster')) window.__ui.poster = performance.now();
  }, true);
})();
"""

TYPING_PROBE = """
(() => {
  window.__typing = { input: 0, change: 0 };
  document.addEventListener('input', (e) => { if (e.target.id === 'site-search') window.__typing.input = performance.now(); }, true);
  const watch = () => {
    const main = document.querySelector('main');
    if (!main) return setTimeout(watch, 20);
    new MutationObserver(() => (window.__typing.change = performance.now())).observe(main, { childList: true, subtree: true, attributes: true, characterData: true });
  };
  watch();
})();
"""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_home(browser, base: str, runs: int) -> dict:
    cold = {"card": [], "painted": [], "poster": []}
    warm = {"card": [], "painted": [], "poster": []}
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_init_script(PAINT_PROBE)
        page = context.new_page()
        for bucket in (cold, warm):
            if bucket is cold:
                page.goto(base + "/")
            else:
                page.reload()
            page.wait_for_function("() => window.__ui && window.__ui.painted && window.__ui.poster", timeout=30000)
            got = page.evaluate("() => window.__ui")
            for key in bucket:
                bucket[key].append(got[key])
            page.wait_for_load_state("networkidle")
        context.close()
    return {"cold": {k: median(v) for k, v in cold.items()}, "warm": {k: median(v) for k, v in warm.items()}, "runs": runs,
            "cold_all": cold["painted"]}


def measure_search(browser, base: str, words: list[str]) -> list[dict]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(TYPING_PROBE)
    page = context.new_page()
    page.goto(base + "/search")
    page.wait_for_selector("main article.card")
    page.wait_for_load_state("networkidle")
    out = []
    box = page.locator("#site-search")
    for word in words:
        box.fill("")
        page.wait_for_function("() => !document.querySelector('.results.stale')")
        page.wait_for_load_state("networkidle")
        box.press_sequentially(word, delay=80)
        # Done when the URL says the word, nothing is in flight, and the grid is not stale.
        page.wait_for_function(f"() => new URLSearchParams(location.search).get('q') === {json.dumps(word)}")
        page.wait_for_load_state("networkidle")
        page.wait_for_function("() => !document.querySelector('.results.stale')")
        page.wait_for_timeout(150)
        t = page.evaluate("() => window.__typing")
        total = page.evaluate("() => document.querySelector('.total')?.dataset.total ?? '0'")
        out.append({"word": word, "ms": t["change"] - t["input"], "total": int(total)})
    context.close()
    return out


def js_sizes() -> dict[str, dict]:
    sizes = {}
    for page in PAGES:
        html = (BUILD / page / "index.html").read_text()
        scripts = set(re.findall(r'<script[^>]+src="([^"]+)"', html)) | set(re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"', html))
        styles = set(re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html))

        def total(urls):
            raw = gz = 0
            for url in urls:
                data = (BUILD / url.lstrip("/")).read_bytes()
                raw += len(data)
                gz += len(gzip.compress(data, 6))
            return raw, gz

        js_raw, js_gz = total(scripts)
        css_raw, css_gz = total(styles)
        sizes[page] = {"files": len(scripts), "js_raw": js_raw, "js_gzip": js_gz, "css_gzip": css_gz}
    return sizes


def list_lengths(value) -> int:
    if isinstance(value, list):
        return max([len(value)] + [list_lengths(v) for v in value])
    if isinstance(value, dict):
        return max([0] + [list_lengths(v) for v in value.values()])
    return 0


def survey_requests(browser, base: str, lib: dict) -> dict[str, dict]:
    """Every API request the ten pages make, with the longest list in each answer."""
    seen: dict[str, dict] = {}
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()

    def on_response(response):
        path = urlparse(response.url).path
        if not (path.startswith("/api/") or path.startswith("/search/")) or "json" not in response.headers.get("content-type", ""):
            return
        try:
            longest = list_lengths(response.json())
        except Exception:
            return
        key = re.sub(r"/[0-9a-f]{16}(?=/|$)", "/<hash>", path)
        key = re.sub(r"(get-random-video-seeded|get-similar-(?:performers|studios))/.*$", r"\1/<x>", key)
        key = re.sub(r"(get-similar-videos/<hash>)/.*$", r"\1/<start>/<limit>", key)
        entry = seen.setdefault(key, {"requests": 0, "longest": 0, "example": response.url.replace(base, "")})
        entry["requests"] += 1
        entry["longest"] = max(entry["longest"], longest)

    page.on("response", on_response)
    urls = ["/", f"/watch/{lib['hash']}", "/search?q=" + quote(lib["words"]["common"][0]), "/performers", "/performer/" + quote(lib["performer"]),
            "/studios", "/studio/" + quote(lib["studio"]), "/favourites", "/random", "/dashboard"]
    for url in urls:
        page.goto(base + url)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
    # the search box's autocomplete and the similar videos' second page
    page.goto(base + f"/watch/{lib['hash']}")
    page.locator("#site-search").press_sequentially(lib["words"]["common"][1][:3], delay=50)
    page.wait_for_timeout(500)
    page.mouse.wheel(0, 5000)
    page.wait_for_timeout(800)
    context.close()
    return seen


def bound_of(key: str) -> str | None:
    for pattern, how in BOUNDS:
        if re.search(pattern, key):
            return how if how is not None else BOUNDED_BY_NATURE.get(key)
    return "unknown endpoint"


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--videos", type=int, default=100000, help="library size (default 100000)")
    parser.add_argument("--runs", type=int, default=5, help="home page loads measured, cold and warm (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="library seed (default 1)")
    add_workdir_args(parser)
    args = parse_workdir_args(parser, argv)
    if not (BUILD / "home" / "index.html").is_file():
        raise SystemExit("the web UI is not built: cd frontend && npm ci && npm run build")
    with bench_workdir(args.workdir, args.keep, "vidlib-bench-ui-") as workdir:
        return run(args, workdir)


def run(args, workdir: Path) -> int:
    from playwright.sync_api import sync_playwright

    bench_search = load_search_bench()
    print(f"machine: {bench_search.machine()}")
    data_dir = workdir / "data"
    manifest_path = workdir / MANIFEST
    lib = json.loads(manifest_path.read_text()) if args.reuse and manifest_path.exists() else None
    if lib is None or lib.get("videos") != args.videos or lib.get("seed") != args.seed:
        if data_dir.exists():
            shutil.rmtree(data_dir)
        lib = build_library(args, data_dir)
        manifest_path.write_text(json.dumps(lib))
    server, base = start_gunicorn(data_dir, workdir / "gunicorn.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            print(f"browser: Chromium {browser.version}; server: gunicorn 2 workers x 4 threads on loopback", flush=True)
            # Warm the server's caches (SQLite pages, the similarity index) once, as a running server has them.
            # Both gunicorn workers get requests, and nothing is left running before timing starts.
            warm = browser.new_page()
            for _ in range(3):
                warm.goto(base + "/")
                warm.wait_for_load_state("networkidle")
            warm.goto(base + "/search?q=" + quote(lib["words"]["common"][0]))
            warm.wait_for_load_state("networkidle")
            warm.close()
            time.sleep(1)
            home = measure_home(browser, base, args.runs)
            words = lib["words"]["common"][2:8] + lib["words"]["rare"][:6]
            searches = measure_search(browser, base, words)
            survey = survey_requests(browser, base, lib)
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
    sizes = js_sizes()

    n = lib["videos"]
    print(f"\n{n:,} videos (all with posters); medians of {home['runs']} loads at 1440x900")
    rows = [(label, f"{home['cold'][k]:.0f}", f"{home['warm'][k]:.0f}") for k, label in
            (("card", "first video card in the DOM"), ("painted", "first cards painted (next frame)"), ("poster", "first poster image loaded"))]
    print(bench_search.table(rows, ("home page, ms after navigation start", "cold cache", "warm (reload)")))
    print(f"cold 'painted' per run: {', '.join(f'{v:.0f}' for v in home['cold_all'])} ms")

    print(f"\nsearch as you type on /search (80 ms between keys; from the last key to the results rendered)")
    srows = [(s["word"], "common" if s["word"] in lib["words"]["common"] else "rare", f"{s['total']:,}", f"{s['ms']:.0f}") for s in searches]
    print(bench_search.table(srows, ("word", "kind", "results", "ms")))
    times = [s["ms"] for s in searches]
    print(f"median {median(times):.0f} ms, worst {max(times):.0f} ms")

    print("\nJavaScript and CSS per page (entry + module preloads), gzip -6")
    jrows = [(p, str(s["files"]), f"{s['js_raw'] / 1024:.1f}", f"{s['js_gzip'] / 1024:.1f}", f"{s['css_gzip'] / 1024:.1f}") for p, s in sizes.items()]
    print(bench_search.table(jrows, ("page", "JS files", "JS KB", "JS KB gzip", "CSS KB gzip")))

    print("\nAPI requests the pages make, and the longest list in each answer")
    lrows = []
    unbounded = []
    for key in sorted(survey):
        how = bound_of(key)
        if how is None or how == "unknown endpoint":
            unbounded.append(key)
        lrows.append((key, str(survey[key]["requests"]), str(survey[key]["longest"]), how or "UNBOUNDED: every row"))
    print(bench_search.table(lrows, ("endpoint", "requests", "longest list", "bound")))

    worst_js = max(s["js_gzip"] for s in sizes.values()) / 1024
    print(f"\ntarget check (read, not asserted): home first cards painted {home['cold']['painted']:.0f} ms cold / {home['warm']['painted']:.0f} ms warm "
          f"(target < 1000); search after typing median {median(times):.0f} ms, worst {max(times):.0f} ms (target < 300); "
          f"largest page JS {worst_js:.1f} KB gzip (target < 100); unbounded lists: {', '.join(unbounded) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
