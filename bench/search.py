#!/usr/bin/env python3
"""Benchmark: keyword search and similarity on a large synthetic library, against a LIKE scan.

Builds a synthetic library of N videos directly in a temp SQLite database through vidlib's own
schema (``vidlib.db.connect``): ~500 studios, ~5,000 performers (1-3 per video), ~300
categories (2-6 per video), titles of 3-8 words and descriptions of 10-40 words drawn from a
vocabulary of a few thousand invented words with a Zipf-like distribution, and file names in
the usual "Studio - Performer - Title" / "studio.yy.mm.dd.performer.title" styles. Rows go in
with ``executemany`` inside one transaction, videos first and their performer / category links
after, so the FTS triggers fill ``video_fts`` the way a scan does (every link rewrites the
video's FTS row); that load is timed too. Two site-wide content filters (one category, one
performer) are added so every query pays for the visibility predicate as a real library would.

Then, in one run, it measures and prints a table:

  * index build: ``vidlib.search.index.rebuild`` in a child process (wall time, and the peak
    RSS of that process: its ``VmHWM`` high-water mark from ``/proc/self/status``, and the growth
    over its RSS just before the build; not ``ru_maxrss``, which on Linux keeps the RSS the
    process had before ``exec``, i.e. this parent's), and the time to load the saved index;
  * search p50 / p99 in-process through ``vidlib.search.engine.search`` with the loaded index
    (so: FTS5 candidates, TF-IDF rerank, content filters, request filters, exact total count and
    the page of 48 full records): single words by the share of videos they match as search
    sends them (a prefix; 30-75 %, 5-20 %, 0.5-2 %, under 0.1 %), 2-3 consecutive words of
    titles, typos (corrected by the speller), and a word with a studio or performer filter plus
    a duration range. Each row gives wall-clock p50 / p99 / max, the CPU time of this process
    (on a busy machine wall time includes waiting for a core) and the number of Python full
    (generation 2) garbage collections that ran during the row. Every total is checked against a
    plain ``COUNT(*)`` of the visible matches;
  * similar videos (``similar.similar_videos``, limit 24) and similar performers
    (``similar.similar_names``, limit 24);
  * the same single-word and multi-word queries as a naive scan
    (``WHERE title LIKE '%w%' OR description LIKE '%w%' OR filename LIKE '%w%'``, every word, all
    matches fetched so the count is known, then the newest 48 loaded) side by side, with the
    ratio of the p50s and of the p99s.

Figures are printed, never asserted. Targets they are read against (from the issue): search
p99 under 10 ms including rerank, filters and total count, and at least 30x faster than the
LIKE scan; similar videos p99 under 5 ms; index build under 60 s and 1.5 GB.

Two what-if switches change the process, not vidlib: ``--gc-freeze`` (``gc.freeze()`` after the
index is loaded), ``--candidates N`` (another SEARCH_CANDIDATES) and ``--rank-all-max N``
(another SEARCH_RANK_ALL_MAX).

    .venv/bin/python bench/search.py                       # 100,000 videos, temp dir
    .venv/bin/python bench/search.py --videos 10000 --queries 300
    .venv/bin/python bench/search.py --workdir /tmp/vidlib-bench-search          # kept
    .venv/bin/python bench/search.py --workdir /tmp/vidlib-bench-search --reuse  # measure again
    .venv/bin/python bench/search.py --workdir /tmp/vidlib-bench-search --reuse --gc-freeze
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import bench_workdir, machine, proc_status_kib, table  # noqa: E402

import numpy as np  # noqa: E402

from config import load_config  # noqa: E402
from vidlib.db import connect, write_transaction  # noqa: E402
from vidlib.filters import add_filter, visible_sql  # noqa: E402

MANIFEST = "bench-search-manifest.json"
PER_PAGE = 48


# -- the synthetic library -----------------------------------------------------------------
ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr st sl sh ch th bl cl fl gl pl sp sk sn sw".split()
VOWELS = "a e i o u a e i o ai ea ee oo ou ie".split()
CODAS = ["", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ng", "x", "ck"]
STUDIO_SUFFIXES = ["", "", "", "Films", "Media", "Studios", "Pictures", "Productions", "Entertainment", "Digital"]


def invent_words(rng: random.Random, count: int, syllables: tuple[int, int], taken: set[str]) -> list[str]:
    """``count`` distinct pronounceable lower-case words not in ``taken`` (which is updated)."""
    out: list[str] = []
    while len(out) < count:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(rng.randint(*syllables)))
        if len(word) >= 3 and word not in taken:
            taken.add(word)
            out.append(word)
    return out


def zipf_weights(n: int, s: float = 1.0, q: float = 2.7) -> np.ndarray:
    """Zipf-Mandelbrot weights for ranks 1..n (normalised)."""
    w = 1.0 / np.power(np.arange(1, n + 1) + q, s)
    return w / w.sum()


def generate_library(n: int, seed: int, vocab_size: int, n_performers: int, n_studios: int, n_categories: int) -> dict[str, Any]:
    """Names and ``n`` video rows (plain tuples ready for executemany)."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    taken: set[str] = set()
    vocab = invent_words(rng, vocab_size, (1, 3), taken)
    firsts = [w.capitalize() for w in invent_words(rng, 400, (2, 2), taken)]
    lasts = [w.capitalize() for w in invent_words(rng, 900, (2, 3), taken)]
    performers: list[str] = []
    seen: set[str] = set()
    while len(performers) < n_performers:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name.casefold() not in seen:
            seen.add(name.casefold())
            performers.append(name)
    studios: list[str] = []
    while len(studios) < n_studios:
        parts = [w.capitalize() for w in rng.sample(vocab[200:], rng.randint(1, 2))]
        suffix = rng.choice(STUDIO_SUFFIXES)
        name = " ".join(parts + ([suffix] if suffix else []))
        if name.casefold() not in seen:
            seen.add(name.casefold())
            studios.append(name)
    categories: list[str] = []
    while len(categories) < n_categories:
        name = " ".join(w.capitalize() for w in rng.sample(vocab[50:1500], rng.randint(1, 2)))
        if name.casefold() not in seen:
            seen.add(name.casefold())
            categories.append(name)

    word_p = zipf_weights(len(vocab))
    # Every draw at once (fast), then cut into titles and descriptions.
    title_len = nprng.integers(3, 9, size=n)
    desc_len = nprng.integers(10, 41, size=n)
    title_words = nprng.choice(len(vocab), size=int(title_len.sum()), p=word_p)
    desc_words = nprng.choice(len(vocab), size=int(desc_len.sum()), p=word_p)
    studio_of = nprng.choice(n_studios, size=n, p=zipf_weights(n_studios, 1.0, 5))
    perf_p = zipf_weights(n_performers, 0.9, 10)
    cat_p = zipf_weights(n_categories, 0.8, 3)
    start = time.mktime((2012, 1, 1, 0, 0, 0, 0, 0, 0))
    videos, links_p, links_c = [], [], []
    ti = di = 0
    for i in range(n):
        title = " ".join(vocab[w] for w in title_words[ti : ti + title_len[i]]).capitalize()
        ti += title_len[i]
        words = [vocab[w] for w in desc_words[di : di + desc_len[i]]]
        di += desc_len[i]
        cut = rng.randint(4, max(5, len(words) - 3))
        description = " ".join(words[:cut]).capitalize() + ". " + " ".join(words[cut:]).capitalize() + "."
        video_hash = f"{rng.getrandbits(64):016x}"
        studio = int(studio_of[i])
        perf_ids = sorted(set(int(x) for x in nprng.choice(n_performers, size=rng.choice((1, 1, 2, 2, 2, 3)), p=perf_p)), key=lambda x: rng.random())
        cat_ids = list(dict.fromkeys(int(x) for x in nprng.choice(n_categories, size=rng.randint(2, 6), p=cat_p)))
        added = start + rng.random() * 12 * 365 * 86400
        date = time.strftime("%Y-%m-%d", time.gmtime(added - rng.random() * 200 * 86400))
        names = [performers[p] for p in perf_ids]
        if rng.random() < 0.6:
            filename = f"{studios[studio]} - {', '.join(names)} - {title}.mp4"
        else:
            filename = ".".join([studios[studio].replace(" ", ""), date[2:].replace("-", "."), *names[0].split(), *title.split(), rng.choice(("1080p", "720p", "2160p", "480p"))]) + ".mp4"
        height = rng.choice((480, 720, 720, 1080, 1080, 1080, 2160))
        added_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(added))
        videos.append((
            video_hash, f"{rng.getrandbits(64):016x}", f"/library/folder{i % 50:02d}/{filename}", filename, rng.randint(50_000_000, 4_000_000_000),
            added, title, studio + 1, date, description, round(rng.uniform(60, 7200), 2), height * 16 // 9, height, 29.97,
            "h264", "aac", rng.randint(1_000_000, 20_000_000), "mp4", added_iso, added_iso,
        ))
        links_p += [(video_hash, p + 1, pos) for pos, p in enumerate(perf_ids)]
        links_c += [(video_hash, c + 1, pos) for pos, c in enumerate(cat_ids)]
    return {"vocab": vocab, "performers": performers, "studios": studios, "categories": categories, "videos": videos, "links_p": links_p, "links_c": links_c}


def load_library(db, lib: dict[str, Any]) -> float:
    """Insert everything in one transaction (FTS triggers fire); returns the seconds it took."""
    started = time.perf_counter()
    with write_transaction(db):
        db.conn.executemany("INSERT INTO studios (id, name) VALUES (?, ?)", [(i + 1, n) for i, n in enumerate(lib["studios"])])
        db.conn.executemany("INSERT INTO performers (id, name) VALUES (?, ?)", [(i + 1, n) for i, n in enumerate(lib["performers"])])
        db.conn.executemany("INSERT INTO categories (id, name) VALUES (?, ?)", [(i + 1, n) for i, n in enumerate(lib["categories"])])
        db.conn.executemany(
            "INSERT INTO videos (hash, oshash, path, filename, size, mtime, title, studio_id, date, description, duration, width, height, fps,"
            " video_codec, audio_codec, bitrate, container, added_at, updated_at) VALUES (" + ",".join("?" * 20) + ")",
            lib["videos"],
        )
        db.conn.executemany("INSERT INTO video_performers (hash, performer_id, position) VALUES (?, ?, ?)", lib["links_p"])
        db.conn.executemany("INSERT INTO video_categories (hash, category_id, position) VALUES (?, ?, ?)", lib["links_c"])
        db.execute("UPDATE index_state SET version = version + 1 WHERE name = 'similarity'")
    return time.perf_counter() - started


# -- index build in a child process (clean memory figures) ---------------------------------
def child_build(data_dir: str) -> None:
    """Run ``rebuild`` and print one JSON line with seconds and RSS figures (KiB)."""
    config = load_config({"DATA_DIR": data_dir})
    db = connect(os.path.join(config["DATA_DIR"], config["DB_FILENAME"]), config["DB_BUSY_TIMEOUT_MS"])
    import sklearn.feature_extraction.text  # noqa: F401  (imports are not the build)

    from vidlib.search.index import rebuild

    before = proc_status_kib("VmRSS")
    started = time.perf_counter()
    index = rebuild(db, config)
    seconds = time.perf_counter() - started
    peak = proc_status_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "rss_before_kib": before, "rss_peak_kib": peak, "terms": index.matrix.shape[1], "videos": len(index.hashes)}))


def build_index_in_child(data_dir: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--_child-build", str(data_dir)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- timing helpers ---------------------------------------------------------------------------
class FullCollections:
    """Counts Python's full (generation 2) garbage collections and the time they take."""

    def __init__(self) -> None:
        self.count, self.ms, self._started = 0, 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.ms += (time.perf_counter() - self._started) * 1000

    def take(self) -> tuple[int, float]:
        """(collections, ms) since the last call."""
        result = (self.count, self.ms)
        self.count, self.ms = 0, 0.0
        return result


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q, method="higher")) if values else float("nan")


def time_calls(fn: Callable[[Any], Any], inputs: list[Any], total: int, warmup: int = 1) -> tuple[list[float], list[float]]:
    """Call ``fn`` on ``inputs`` round-robin ``total`` times (after warm-up calls).

    Returns wall-clock and CPU (this process) milliseconds per call; on a busy machine the
    wall time includes waiting for a core, the CPU time does not.
    """
    for arg in inputs[:warmup] if warmup else []:
        fn(arg)
    wall, cpu = [], []
    for i in range(total):
        arg = inputs[i % len(inputs)]
        started, started_cpu = time.perf_counter(), time.process_time()
        fn(arg)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def match_shares(db, vocab: list[str]) -> dict[str, float]:
    """The share of videos each word (as search sends it: a prefix) matches in FTS5, hidden ones included."""
    from vidlib.search.engine import fts_query

    n = db.execute("SELECT COUNT(*) FROM videos").fetchone()[0]
    sql = "SELECT COUNT(*) FROM video_fts WHERE video_fts MATCH ?"
    return {w: db.execute(sql, [fts_query([w])]).fetchone()[0] / n for w in vocab if len(w) >= 3}


def pick_by_share(shares: dict[str, float], low: float, high: float, count: int, rng: random.Random) -> list[str]:
    pool = sorted(w for w, share in shares.items() if low <= share < high)
    return rng.sample(pool, min(count, len(pool)))


def make_typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("sub", "del", "ins", "swap"))
    letters = "aeioubcdfgklmnprstvz"
    if kind == "sub":
        return word[:i] + rng.choice([c for c in letters if c != word[i]]) + word[i + 1 :]
    if kind == "del":
        return word[:i] + word[i + 1 :]
    if kind == "ins":
        return word[:i] + rng.choice(letters) + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :] if word[i] != word[i - 1] else word[:i] + "q" + word[i + 1 :]


# -- the naive LIKE scan ---------------------------------------------------------------------
def like_search(db, text: str) -> dict[str, Any]:
    """Every word must appear (substring, case-insensitive for ASCII) in title, description or file name."""
    from vidlib.library.videos import load_videos
    from vidlib.search.engine import query_words

    words = query_words(text)
    clause = " AND ".join("(v.title LIKE ? ESCAPE '\\' OR v.description LIKE ? ESCAPE '\\' OR v.filename LIKE ? ESCAPE '\\')" for _ in words)
    params: list[str] = []
    for w in words:
        pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern] * 3
    rows = db.execute(f"SELECT v.hash, v.added_at FROM videos v WHERE {clause} AND {visible_sql('v')}", params).fetchall()
    rows.sort(key=lambda r: (r[1], r[0]), reverse=True)
    return {"total": len(rows), "items": load_videos(db, [r[0] for r in rows[:PER_PAGE]])}


def like_search_all(db, text: str) -> dict[str, Any]:
    """The LIKE scan over the fields search covers: title, studio, performers, categories,
    description and file name (each word in any of them, names through their link tables)."""
    from vidlib.library.videos import load_videos
    from vidlib.search.engine import query_words

    words = query_words(text)
    one = (
        "(v.title LIKE ?1 ESCAPE '\\' OR v.description LIKE ?1 ESCAPE '\\' OR v.filename LIKE ?1 ESCAPE '\\'"
        " OR EXISTS (SELECT 1 FROM studios s WHERE s.id = v.studio_id AND s.name LIKE ?1 ESCAPE '\\')"
        " OR EXISTS (SELECT 1 FROM video_performers vp JOIN performers p ON p.id = vp.performer_id WHERE vp.hash = v.hash AND p.name LIKE ?1 ESCAPE '\\')"
        " OR EXISTS (SELECT 1 FROM video_categories vc JOIN categories c ON c.id = vc.category_id WHERE vc.hash = v.hash AND c.name LIKE ?1 ESCAPE '\\'))"
    )
    clause = " AND ".join(one.replace("?1", f"?{i + 1}") for i in range(len(words)))
    params = ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for w in words]
    rows = db.execute(f"SELECT v.hash, v.added_at FROM videos v WHERE {clause} AND {visible_sql('v')}", params).fetchall()
    rows.sort(key=lambda r: (r[1], r[0]), reverse=True)
    return {"total": len(rows), "items": load_videos(db, [r[0] for r in rows[:PER_PAGE]])}


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--_child-build":
        child_build(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--videos", type=int, default=100000, help="number of videos in the synthetic library (default 100000)")
    parser.add_argument("--queries", type=int, default=300, help="timed calls per search / similarity row (default 300; at least 200 is sensible)")
    parser.add_argument("--like-queries", type=int, default=40, help="timed calls per LIKE-scan row (default 40; each is a full table scan)")
    parser.add_argument("--vocabulary", type=int, default=4000, help="distinct words in titles and descriptions (default 4000)")
    parser.add_argument("--performers", type=int, default=5000, help="distinct performers (default 5000)")
    parser.add_argument("--studios", type=int, default=500, help="distinct studios (default 500)")
    parser.add_argument("--categories", type=int, default=300, help="distinct categories (default 300)")
    parser.add_argument("--candidates", type=int, help="override SEARCH_CANDIDATES for the timed searches (default: the configured value, 500)")
    parser.add_argument("--rank-all-max", type=int, help="override SEARCH_RANK_ALL_MAX for the timed searches (default: the configured value, 500)")
    parser.add_argument("--gc-freeze", action="store_true", help="what-if: gc.freeze() after loading the index (vidlib does not do this), so full collections skip the long-lived objects")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the library and the query sets (default 1)")
    parser.add_argument("--workdir", help="where the data dir goes (default: a new temp dir); never deleted if given")
    parser.add_argument("--reuse", action="store_true", help="reuse the database (and index) already in --workdir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--profile", action="store_true", help="also cProfile the slowest search row and print the top functions")
    args = parser.parse_args(argv)
    if args.reuse and not args.workdir:
        parser.error("--reuse needs --workdir")

    with bench_workdir(args.workdir, args.keep, "vidlib-bench-search-") as workdir:
        return run(args, workdir)


def run(args, workdir: Path) -> int:
    from vidlib.search import engine, similar
    from vidlib.search.index import index_path
    from vidlib.search.tfidf import load_index

    import sqlite3

    print(f"machine: {machine(f'SQLite {sqlite3.sqlite_version}')}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data_dir = workdir / "data"
    wanted = {k: getattr(args, k) for k in ("videos", "vocabulary", "performers", "studios", "categories", "seed")}
    manifest_path = workdir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    reusing = args.reuse and manifest is not None and {k: manifest.get(k) for k in wanted} == wanted
    if args.reuse and not reusing:
        print("nothing to reuse in workdir (no database or different library options): building afresh")
    config = load_config({"DATA_DIR": str(data_dir)})
    if args.candidates:
        config["SEARCH_CANDIDATES"] = args.candidates
    if args.rank_all_max is not None:
        config["SEARCH_RANK_ALL_MAX"] = args.rank_all_max
    db_path = os.path.join(config["DATA_DIR"], config["DB_FILENAME"])
    if not reusing:
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        started = time.perf_counter()
        lib = generate_library(args.videos, args.seed, args.vocabulary, args.performers, args.studios, args.categories)
        gen_seconds = time.perf_counter() - started
        db = connect(db_path, config["DB_BUSY_TIMEOUT_MS"])
        load_seconds = load_library(db, lib)
        rng = random.Random(args.seed + 1)
        # Two site-wide content filters, as a real library would have: a mid-popularity category
        # and a performer (not the ones the filtered queries use).
        hidden = [("category", lib["categories"][40]), ("performer", lib["performers"][300])]
        for kind, value in hidden:
            add_filter(db, kind, value)
        fts_rows = db.execute("SELECT COUNT(*) FROM video_fts").fetchone()[0]
        manifest = {**wanted, "generate_seconds": gen_seconds, "load_seconds": load_seconds, "fts_rows": fts_rows,
                    "vocab": lib["vocab"], "hidden": hidden, "build": None}
        manifest_path.write_text(json.dumps(manifest))
        del lib
        print(f"library: {args.videos:,} videos generated in {gen_seconds:.1f} s, inserted with FTS triggers in {load_seconds:.1f} s; "
              f"{fts_rows:,} FTS rows; database {os.path.getsize(db_path) / 1e6:.0f} MB")
        db.conn.close()
    else:
        print(f"reusing the library in {workdir} (inserted with FTS triggers in {manifest['load_seconds']:.1f} s when built)")

    # Index build in a fresh child process: wall time and peak RSS.
    if manifest.get("build") is None or not os.path.exists(index_path(config)):
        print("building the similarity index (vidlib.search.index.rebuild) in a child process ...", flush=True)
        manifest["build"] = build_index_in_child(data_dir)
        manifest_path.write_text(json.dumps(manifest))
    build = manifest["build"]
    db = connect(db_path, config["DB_BUSY_TIMEOUT_MS"])
    started = time.perf_counter()
    index = load_index(index_path(config))
    load_ms = (time.perf_counter() - started) * 1000
    engine._speller(index)  # the speller is built once per loaded index, on first use; not a query cost
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
        print(f"what-if: gc.freeze() after loading the index ({gc.get_freeze_count():,} objects frozen)")
    visible = db.execute(f"SELECT COUNT(*) FROM videos v WHERE {visible_sql('v')}").fetchone()[0]
    print(f"index: {build['videos']:,} videos, {build['terms']:,} terms; {visible:,} videos visible after the content filters {manifest['hidden']}")

    # Query sets, chosen from the data with a fixed seed.
    rng = random.Random(args.seed + 2)
    vocab = set(manifest["vocab"])
    shares = match_shares(db, manifest["vocab"])
    bands = [("30-75%", 0.30, 0.75), ("5-20%", 0.05, 0.20), ("0.5-2%", 0.005, 0.02), ("<0.1%", 1e-9, 0.001)]
    singles = {label: pick_by_share(shares, lo, hi, 12, rng) for label, lo, hi in bands}
    mid_pool = pick_by_share(shares, 0.01, 0.30, 400, rng)
    titles = [r[0] for r in db.execute("SELECT title FROM videos ORDER BY hash LIMIT 2000")]
    multi = []
    for title in rng.sample(titles, 60):
        words = title.split()
        k = rng.randint(2, min(3, len(words)))
        start = rng.randrange(0, len(words) - k + 1)
        multi.append(" ".join(words[start : start + k]).lower())
    typo_sources = [w for w in rng.sample(mid_pool, len(mid_pool)) if len(w) >= 6]
    typos: list[str] = []
    for word in typo_sources:
        typo = make_typo(word, rng)
        if len(typo) < 5 or typo in vocab:
            continue
        res = engine.search(db, config, index, engine.SearchRequest(q=typo, per_page=PER_PAGE))
        if res["corrected"] and res["total"]:
            typos.append(typo)
        if len(typos) >= 40:
            break
    # Filtered: a studio or a performer of a video that has the word, plus a duration range.
    filtered: list[engine.SearchRequest] = []
    frows = db.execute(
        "SELECT v.title, s.name, (SELECT p.name FROM video_performers vp JOIN performers p ON p.id = vp.performer_id WHERE vp.hash = v.hash LIMIT 1) "
        "FROM videos v JOIN studios s ON s.id = v.studio_id ORDER BY v.hash LIMIT 400 OFFSET ?", [min(5000, args.videos // 4)]
    ).fetchall()
    for i, (title, studio, performer) in enumerate(frows[:60]):
        word = rng.choice(title.split()).lower()
        if i % 2:
            filtered.append(engine.SearchRequest(q=word, studios=[studio], min_duration=300, max_duration=5400, per_page=PER_PAGE))
        else:
            filtered.append(engine.SearchRequest(q=word, performers=[performer], min_duration=300, max_duration=5400, per_page=PER_PAGE))
    common_filtered = [engine.SearchRequest(q=w, studios=[studio], min_duration=300, max_duration=5400, per_page=PER_PAGE)
                       for w, (_, studio, _) in zip(singles["30-75%"] * 3, frows[100:136])]

    def run_search(req):
        return engine.search(db, config, index, req)

    def reference_total(req) -> int:
        """The number of visible matches, counted the plain way (every match joined and filtered)."""
        where, params = engine._filter_sql(req)
        sql = f"SELECT COUNT(*) FROM video_fts JOIN videos v ON v.rowid = video_fts.rowid WHERE video_fts MATCH ? AND {where}"
        words = engine.query_words(req.q)
        count = db.execute(sql, [engine.fts_query(words)] + params).fetchone()[0]
        if count == 0 and len(words) > 1:  # search falls back to any word
            count = db.execute(sql, [engine.fts_query(words, any_word=True)] + params).fetchone()[0]
        return count

    def reqs(texts: list[str]) -> list[engine.SearchRequest]:
        return [engine.SearchRequest(q=t, per_page=PER_PAGE) for t in texts]

    rows: list[tuple[str, ...]] = []
    summary: dict[str, dict[str, float]] = {}
    collections = FullCollections()

    def measure(label: str, fn, inputs, total, note: str = "") -> dict[str, float]:
        if not inputs:  # a small library may have no word in some group
            summary[label] = {"p50": float("nan"), "p99": float("nan")}
            rows.append((label, "0", "0", "-", "-", "-", "-", "-", "-", "no such queries in this library"))
            return summary[label]
        collections.take()
        times, cpu = time_calls(fn, inputs, total)
        full_gcs, gc_ms = collections.take()
        p50, p99 = percentile(times, 50), percentile(times, 99)
        summary[label] = {"p50": p50, "p99": p99}
        rows.append((label, str(len(inputs)), str(total), f"{p50:.2f}", f"{p99:.2f}", f"{max(times):.2f}", f"{percentile(cpu, 50):.2f}",
                     f"{percentile(cpu, 99):.2f}", f"{full_gcs} ({gc_ms:.0f} ms)", note))
        print(f"  {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", file=sys.stderr, flush=True)
        return summary[label]

    checked = {"queries": 0, "wrong": 0}

    def totals(inputs, check: bool = True) -> str:
        """The range of totals of ``inputs``; also checks each total against the plain count."""
        ts = []
        for req in inputs:
            res = run_search(req)
            ts.append(res["total"])
            if check:
                checked["queries"] += 1
                if res["total"] != reference_total(req):
                    checked["wrong"] += 1
                    print(f"WARNING: total {res['total']} for {req} differs from the plain count {reference_total(req)}")
        return f"total {min(ts):,}-{max(ts):,}" if ts else ""

    print("timing ...", file=sys.stderr, flush=True)
    search_rows = []
    for label, _, _ in bands:
        name = f"search: 1 word matching {label}"
        measure(name, run_search, reqs(singles[label]), args.queries, totals(reqs(singles[label])))
        search_rows.append(name)
    measure("search: 2-3 words (from titles)", run_search, reqs(multi), args.queries, totals(reqs(multi)))
    search_rows.append("search: 2-3 words (from titles)")
    measure("search: 1 word with a typo", run_search, reqs(typos), args.queries, totals(reqs(typos), check=False) + "; corrected")
    search_rows.append("search: 1 word with a typo")
    measure("search: word + studio/performer + duration", run_search, filtered, args.queries, totals(filtered))
    search_rows.append("search: word + studio/performer + duration")
    measure("search: 30-75% word + studio + duration", run_search, common_filtered, args.queries, totals(common_filtered))
    search_rows.append("search: 30-75% word + studio + duration")

    # Autocomplete as the search box asks while typing: 3-5 letters of a title word, or of a
    # performer's, studio's or category's name.
    name_sources = titles[:200] + [r[0] for r in db.execute(
        "SELECT name FROM performers UNION ALL SELECT name FROM studios UNION ALL SELECT name FROM categories ORDER BY 1 LIMIT 200 OFFSET 50")]
    prefixes = [max(text.split(), key=len).lower()[: rng.randint(3, 5)] for text in rng.sample(name_sources, 80)]
    measure("autocomplete (3-5 letter prefixes)", lambda q: engine.autocomplete(db, q, 8), prefixes, args.queries)

    sample_hashes = [r[0] for r in db.execute("SELECT hash FROM videos ORDER BY hash LIMIT 300 OFFSET 777")]
    sample_hashes = rng.sample(sample_hashes, len(sample_hashes))
    measure("similar videos (limit 24)", lambda h: similar.similar_videos(db, index, h, 0, 24), sample_hashes, args.queries)
    perf_sample = [r[0] for r in db.execute(
        "SELECT p.name FROM performers p WHERE EXISTS (SELECT 1 FROM video_performers vp JOIN videos v ON v.hash = vp.hash "
        f"WHERE vp.performer_id = p.id AND {visible_sql('v')}) ORDER BY p.id LIMIT 300 OFFSET 7")]
    perf_sample = [p for p in perf_sample if p not in {v for _, v in manifest["hidden"]}]
    measure("similar performers (limit 24)", lambda name: similar.similar_names(db, index, "performers", name, 24), perf_sample, args.queries)

    like_rows = []
    like_single = [w for label, _, _ in bands for w in singles[label][:3]]
    like_multi = multi[:20]
    measure("LIKE scan: 1 word (3 of each group)", like_search_bound(db), like_single, args.like_queries)
    measure("search: same 1-word queries", run_search, reqs(like_single), args.queries)
    like_rows.append(("1 word (3 of each group)", "LIKE scan: 1 word (3 of each group)", "search: same 1-word queries"))
    measure("LIKE scan: 2-3 words", like_search_bound(db), like_multi, args.like_queries)
    measure("search: same 2-3 word queries", run_search, reqs(like_multi), args.queries)
    like_rows.append(("2-3 words", "LIKE scan: 2-3 words", "search: same 2-3 word queries"))
    # The same scan over all six fields search covers (names too), against the same searches.
    measure("LIKE scan, six fields: 1 word", lambda text: like_search_all(db, text), like_single, args.like_queries)
    like_rows.append(("1 word, LIKE over the six fields", "LIKE scan, six fields: 1 word", "search: same 1-word queries"))
    measure("LIKE scan, six fields: 2-3 words", lambda text: like_search_all(db, text), like_multi, args.like_queries)
    like_rows.append(("2-3 words, LIKE over the six fields", "LIKE scan, six fields: 2-3 words", "search: same 2-3 word queries"))

    n_videos = args.videos
    print()
    print(f"{n_videos:,} videos; {args.queries} timed calls per search/similar row ({args.like_queries} per LIKE row), "
          f"cycling over the listed queries after one warm-up; in-process, warm cache; per_page {PER_PAGE}; "
          f"p50/p99/max wall-clock ms, CPU ms of this process (time.process_time), and Python's full (gen 2) garbage collections during the row")
    print(table(rows, ("operation", "distinct", "calls", "p50 ms", "p99 ms", "max ms", "cpu p50", "cpu p99", "full GCs", "note")))
    print()
    ratio_rows = []
    for label, like_label, search_label in like_rows:
        lk, sr = summary[like_label], summary[search_label]
        ratio_rows.append((label, f"{lk['p50']:.1f}", f"{sr['p50']:.2f}", f"{lk['p50'] / sr['p50']:.0f}x", f"{lk['p99']:.1f}", f"{sr['p99']:.2f}", f"{lk['p99'] / sr['p99']:.0f}x"))
    print("LIKE scan vs search (same queries)")
    print(table(ratio_rows, ("queries", "LIKE p50 ms", "search p50 ms", "ratio p50", "LIKE p99 ms", "search p99 ms", "ratio p99")))
    print()
    rss = build["rss_peak_kib"] / 1024
    grow = (build["rss_peak_kib"] - build["rss_before_kib"]) / 1024
    print(f"index build (vidlib.search.index.rebuild, child process): {build['seconds']:.1f} s; peak RSS {rss:,.0f} MiB "
          f"(VmHWM; {grow:,.0f} MiB above the RSS just before the build); index file {os.path.getsize(index_path(config)) / 1e6:.0f} MB, "
          f"loaded in {load_ms:.0f} ms")
    worst = max((summary[r]["p99"] for r in search_rows if not math.isnan(summary[r]["p99"])), default=float("nan"))
    sim = summary["similar videos (limit 24)"]["p99"]
    ratios = [summary[lk]["p99"] / summary[sr]["p99"] for _, lk, sr in like_rows if not math.isnan(summary[lk]["p99"] / summary[sr]["p99"])] or [float("nan")]
    print(f"totals checked against a plain COUNT(*) of the visible matches (any word when no video has them all): "
          f"{checked['queries'] - checked['wrong']}/{checked['queries']} equal (typo queries not checked: their total is of the corrected query)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; SEARCH_CANDIDATES {config['SEARCH_CANDIDATES']}, SEARCH_RANK_ALL_MAX {config['SEARCH_RANK_ALL_MAX']}")
    print(f"target check (read, not asserted): worst search p99 {worst:.2f} ms (target < 10); "
          f"LIKE/search p99 ratio {min(ratios):.0f}x-{max(ratios):.0f}x (target >= 30x); similar videos p99 {sim:.2f} ms (target < 5); "
          f"build {build['seconds']:.1f} s (target < 60), peak RSS {rss:,.0f} MiB (target < 1536)")

    if args.profile:
        slowest = max(search_rows, key=lambda r: summary[r]["p99"])
        inputs = {f"search: 1 word matching {label}": reqs(singles[label]) for label, _, _ in bands}.get(slowest, reqs(multi))
        profiler = cProfile.Profile()
        profiler.enable()
        for req in inputs * 5:
            run_search(req)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(f"\ncProfile of {len(inputs) * 5} calls of {slowest!r}:")
        print(out.getvalue())
    db.conn.close()
    return 0


def like_search_bound(db):
    return lambda text: like_search(db, text)


if __name__ == "__main__":
    sys.exit(main())
