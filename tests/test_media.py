"""Preview media over real parts: ffmpeg-made videos, real Redis, a real RQ worker in-process.

Every kind is generated for every odd input (rotation, variable frame rate, no audio, a long
GOP, sub-second, odd containers and sizes, a black intro, a 3-minute video), and the outputs are
checked with PyAV and PIL; the seek-thumbnail WebVTT is parsed and checked against its sprite.
The status rows, the API, the /media files, dedup, the CLI, the dashboard endpoints and the
scan -> media auto-queue run through ``rq.SimpleWorker(...).work(burst=True)``.
Process-level behaviour (cancel a running job, a killed worker, a Redis restart) lives in
tests/test_media_worker.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import add_folder, copy_sample, ffmpeg, scan
from vidlib.db import write_transaction

# moviepy notes that a WMV's container duration (its audio) runs past the last video frame.
pytestmark = pytest.mark.filterwarnings("ignore:In file .* bytes wanted but 0 bytes read:UserWarning")

KINDS = ("poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large")
ENDPOINTS = {
    "poster": "get-poster",
    "preview_thumbnails": "get-preview-thumbnails",
    "seek_thumbnails": "get-seek-thumbnails",
    "teaser_small": "get-teaser-small",
    "teaser_large": "get-teaser-large",
}


# -- helpers shared with test_media_worker.py ------------------------------------------------


@contextlib.contextmanager
def worker_state(app):
    """The process state a worker builds from the same config (as worker.py does), for in-process jobs."""
    from vidlib import state as state_mod
    from vidlib.state import AppState

    saved = state_mod._process_state
    state_mod._process_state = AppState(dict(app.extensions["vidlib"].config))
    try:
        yield state_mod._process_state
    finally:
        state_mod._process_state.close_db()
        state_mod._process_state = saved


def run_worker(app, queues=("media",)) -> None:
    """Work off ``queues`` with a real RQ worker in this process (burst)."""
    from rq import SimpleWorker

    st = app.extensions["vidlib"]
    with worker_state(app):
        worker = SimpleWorker([st.queue(name) for name in queues], connection=st.redis)
        worker.work(burst=True, logging_level="WARNING")


def queue_media(app, hashes=None, kinds=KINDS, force=False) -> int:
    from vidlib.media.jobs import queue_missing

    with app.app_context():
        return queue_missing(hashes, list(kinds), force=force)


def media_dir(app, video_hash: str) -> Path:
    from vidlib.media.store import video_media_dir

    return Path(video_media_dir(app.extensions["vidlib"].config, video_hash))


def statuses(app, video_hash: str) -> dict[str, str]:
    rows = app.extensions["vidlib"].db.execute("SELECT kind, status FROM media WHERE hash = ?", [video_hash])
    return {r["kind"]: r["status"] for r in rows}


def hash_of(app, path: Path) -> str:
    row = app.extensions["vidlib"].db.execute("SELECT hash FROM videos WHERE path = ?", [str(path)]).fetchone()
    assert row is not None, f"{path} was not indexed"
    return row[0]


def visible_outputs(directory: Path) -> list[str]:
    """Files in a media dir that are not temp files (what a reader could see)."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not any(part.startswith(".tmp-") for part in p.relative_to(directory).parts))


def check_teaser(path: Path, *, audio: bool, max_width: int, portrait: bool | None = None) -> None:
    """An H.264 yuv420p MP4 with even sizes, a duration, faststart, and audio iff wanted."""
    import av

    assert path.is_file() and path.stat().st_size > 0
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov"), container.format.name
        video = container.streams.video[0]
        ctx = video.codec_context
        assert ctx.name == "h264"
        assert ctx.pix_fmt == "yuv420p"
        assert ctx.width % 2 == 0 and ctx.height % 2 == 0, (ctx.width, ctx.height)
        assert 0 < ctx.width <= max_width
        assert container.duration and container.duration > 0
        assert bool(container.streams.audio) == audio, f"audio streams: {len(container.streams.audio)}, wanted {audio}"
        frame = next(container.decode(video))
        assert int(getattr(frame, "rotation", 0) or 0) % 360 == 0, "teasers are stored display-oriented"
        if portrait is not None:
            assert (ctx.height > ctx.width) == portrait, (ctx.width, ctx.height)
    data = path.read_bytes()
    assert data.find(b"moov") != -1 and data.find(b"moov") < data.find(b"mdat"), "moov must come before mdat (faststart)"


def is_blank_image(image) -> bool:
    import numpy as np

    luma = np.asarray(image.convert("L"), dtype=np.float32)
    return bool(luma.mean() < 18 or luma.mean() > 245 or luma.std() < 10)


@dataclass
class Cue:
    start: float
    end: float
    url: str
    x: int
    y: int
    w: int
    h: int


_TIME = r"(\d{2,}):(\d{2}):(\d{2})\.(\d{3})"


def _seconds(match: tuple[str, str, str, str]) -> float:
    hours, minutes, secs, millis = (int(v) for v in match)
    assert minutes < 60 and secs < 60
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def parse_vtt(text: str) -> list[Cue]:
    """A small WebVTT parser for thumbnail tracks: header, then cues of a timing line and a payload line."""
    assert text.startswith("WEBVTT"), "missing WEBVTT header"
    blocks = [b for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if b.strip()]
    assert blocks[0].splitlines()[0].strip() == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        lines = block.splitlines()
        if "-->" not in lines[0]:  # optional cue identifier
            lines = lines[1:]
        assert len(lines) == 2, f"cue is not timing + one payload line: {block!r}"
        timing = re.fullmatch(_TIME + r" --> " + _TIME, lines[0].strip())
        assert timing, f"bad timing line {lines[0]!r}"
        start, end = _seconds(timing.groups()[:4]), _seconds(timing.groups()[4:])
        payload = re.fullmatch(r"(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", lines[1].strip())
        assert payload, f"bad payload {lines[1]!r}"
        url = payload.group(1)
        x, y, w, h = (int(v) for v in payload.groups()[1:])
        cues.append(Cue(start, end, url, x, y, w, h))
    return cues


def check_seek_thumbnails(directory: Path, duration: float, max_tiles: int) -> list[Cue]:
    """The WebVTT is contiguous from 0 to the duration and every cue lies inside sprite.jpg."""
    from PIL import Image

    cues = parse_vtt((directory / "sprite.vtt").read_text(encoding="utf-8"))
    assert 1 <= len(cues) <= max_tiles
    assert cues[0].start == 0.0
    for a, b in zip(cues, cues[1:]):
        assert a.end == b.start, f"gap or overlap between {a} and {b}"
    for cue in cues:
        assert cue.start < cue.end, cue
    assert abs(cues[-1].end - duration) <= 0.0015, (cues[-1].end, duration)
    with Image.open(directory / "sprite.jpg") as sprite:
        assert sprite.format == "JPEG"
        width, height = sprite.size
    for cue in cues:
        assert cue.w > 0 and cue.h > 0
        assert cue.x + cue.w <= width and cue.y + cue.h <= height, (cue, (width, height))
        assert urlsplit(cue.url).path == "sprite.jpg", cue.url
    rects = [(c.x, c.y) for c in cues]
    assert len(set(rects)) == len(rects), "tiles are never repeated"
    return cues


# -- the odd inputs ----------------------------------------------------------------------------


def _testsrc(seconds: float, size: str = "320x240", rate: int = 25) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def _sine(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="module")
def odd_videos(tmp_path_factory, sample_videos) -> dict[str, tuple[Path, bool]]:
    """key -> (video, has audio). Small and quick to make; several from the session samples."""
    root = tmp_path_factory.mktemp("odd")
    files: dict[str, tuple[Path, bool]] = {}
    for key, audio in (("mp4", True), ("rotated", False), ("short", False), ("noaudio", False), ("mkv", True), ("webm", False)):
        files[key] = (sample_videos[key], audio)

    def make(key: str, name: str, audio: bool, *args: str) -> None:
        path = root / name
        ffmpeg(*args, "-metadata", f"comment={key}", str(path))
        files[key] = (path, audio)

    # 20 frames at 10 fps, then 25 fps: variable frame rate.
    make("vfr", "vfr.mp4", True, *_testsrc(3.0), *_sine(3.0), "-vf", "setpts='if(lt(N,20),N/10,2+(N-20)/25)/TB'", "-fps_mode", "vfr", *X264, "-c:a", "aac", "-shortest")
    # One keyframe at the start only (GOP longer than the video).
    make("longgop", "long gop.mp4", True, *_testsrc(3.0), *_sine(3.0), *X264, "-g", "300", "-x264-params", "keyint=300:min-keyint=300:scenecut=0", "-c:a", "aac", "-shortest")
    make("avi", "mpeg4.avi", True, *_testsrc(2.0), *_sine(2.0), "-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame", "-shortest")
    # MPEG-TS seeks land on the *next* keyframe; here there is only the first one.
    make("ts", "broadcast.ts", True, *_testsrc(2.0), *_sine(2.0), *X264, "-c:a", "aac", "-shortest", "-f", "mpegts")
    make("wmv", "windows.wmv", True, *_testsrc(2.0), *_sine(2.0), "-c:v", "wmv2", "-c:a", "wmav2", "-f", "asf")
    make("webm_opus", "vp9 opus.webm", True, *_testsrc(2.0), *_sine(2.0), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-c:a", "libopus", "-shortest")
    make("odd_size", "odd size.mp4", False, "-f", "lavfi", "-i", "testsrc=size=321x241:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p")
    # 3 s of black, then 3 s of picture, one keyframe: every keyframe candidate is black.
    make(
        "black_intro", "black intro.mp4", False,
        "-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=3", *_testsrc(3.0),
        "-filter_complex", "[0][1]concat=n=2:v=1", *X264,
    )
    # 3 minutes at 64x36, 5 fps, a keyframe every 5 s: more seek tiles wanted than SEEK_THUMBS_MAX.
    make("long", "three minutes.mp4", False, *_testsrc(180, size="64x36", rate=5), *X264, "-g", "25")
    return files


@pytest.fixture(scope="module")
def generated(odd_videos, tmp_path_factory, redis_server):
    """Every kind generated for every odd input by a real worker; returns (app, {key: hash})."""
    from redis import Redis

    from vidlib import create_app

    conn = Redis.from_url(redis_server)
    conn.flushall()
    conn.close()
    base = tmp_path_factory.mktemp("generated")
    library = base / "library"
    library.mkdir()
    app = create_app({"TESTING": True, "DATA_DIR": str(base / "data"), "REDIS_URL": redis_server})
    paths = {}
    for key, (path, _) in odd_videos.items():
        paths[key] = library / f"{key} - {path.name}"
        shutil.copyfile(path, paths[key])
    add_folder(app, library)
    stats = scan(app)
    assert stats.errors == 0 and stats.new == len(paths)
    hashes = {key: hash_of(app, path) for key, path in paths.items()}
    assert queue_media(app) == len(hashes) * len(KINDS)
    run_worker(app)
    return app, hashes


# -- every kind on every odd input -----------------------------------------------------------


ODD_KEYS = ["mp4", "rotated", "short", "noaudio", "mkv", "webm", "vfr", "longgop", "avi", "ts", "wmv", "webm_opus", "odd_size", "black_intro", "long"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_every_kind_on_odd_input(generated, odd_videos, key):
    from PIL import Image

    app, hashes = generated
    config = app.extensions["vidlib"].config
    video_hash = hashes[key]
    has_audio = odd_videos[key][1]
    db = app.extensions["vidlib"].db
    row = db.execute("SELECT duration, width, height, rotation, audio_codec FROM videos WHERE hash = ?", [video_hash]).fetchone()
    assert bool(row["audio_codec"]) == has_audio
    failed = db.execute("SELECT kind, error FROM media WHERE hash = ? AND status != 'done'", [video_hash]).fetchall()
    assert not failed, [dict(r) for r in failed]
    assert statuses(app, video_hash) == {kind: "done" for kind in KINDS}
    portrait = key == "rotated"
    directory = media_dir(app, video_hash)

    with Image.open(directory / "poster.jpg") as poster:
        assert poster.format == "JPEG"
        assert 0 < poster.width <= config["POSTER_WIDTH"]
        assert (poster.height > poster.width) == portrait, poster.size
        assert not is_blank_image(poster), f"poster of {key} is blank"

    previews = sorted((directory / "preview").iterdir())
    assert [p.name for p in previews] == [f"{i:02d}.jpg" for i in range(len(previews))]
    if key == "short":  # 10 frames in all: at least one still, never more than asked
        assert 1 <= len(previews) <= config["PREVIEW_COUNT"]
    else:
        assert len(previews) == config["PREVIEW_COUNT"], f"{len(previews)} preview thumbnails for {key}"
    for file in previews:
        with Image.open(file) as image:
            assert image.format == "JPEG" and 0 < image.width <= config["PREVIEW_WIDTH"]
            assert (image.height > image.width) == portrait

    cues = check_seek_thumbnails(directory, row["duration"], config["SEEK_THUMBS_MAX"])
    if portrait:
        assert all(c.h > c.w for c in cues)

    check_teaser(directory / "teaser_small.mp4", audio=False, max_width=config["TEASER_SMALL_WIDTH"], portrait=portrait)
    check_teaser(directory / "teaser_large.mp4", audio=has_audio, max_width=config["TEASER_LARGE_WIDTH"], portrait=portrait)
    assert not [p for p in directory.rglob(".tmp-*")], "temp files left behind after success"


def test_configured_sizes_and_counts_are_respected(make_app, library, odd_videos, redis_url):
    """Smaller configured widths and counts, on an odd-sized and a rotated source: even sizes, display-oriented."""
    from PIL import Image

    sizes = {"POSTER_WIDTH": 200, "PREVIEW_WIDTH": 98, "PREVIEW_COUNT": 4, "SEEK_THUMB_WIDTH": 50, "SEEK_SPRITE_COLUMNS": 2, "TEASER_SMALL_WIDTH": 126, "TEASER_LARGE_WIDTH": 250}
    app = make_app(REDIS_URL=redis_url, **sizes)
    paths = {key: library / odd_videos[key][0].name for key in ("odd_size", "rotated")}
    for key, path in paths.items():
        shutil.copyfile(odd_videos[key][0], path)
    add_folder(app, library)
    scan(app)
    queue_media(app)
    run_worker(app)
    for key, path in paths.items():
        video_hash = hash_of(app, path)
        assert statuses(app, video_hash) == {k: "done" for k in KINDS}
        directory = media_dir(app, video_hash)
        with Image.open(directory / "poster.jpg") as poster:
            assert poster.width == 200 and poster.height % 2 == 0
            assert (poster.height > poster.width) == (key == "rotated")
        previews = sorted((directory / "preview").iterdir())
        assert len(previews) == 4
        for file in previews:
            with Image.open(file) as image:
                assert image.width == 98 and image.height % 2 == 0
        cues = check_seek_thumbnails(directory, app.extensions["vidlib"].db.execute("SELECT duration FROM videos WHERE hash = ?", [video_hash]).fetchone()[0], 100)
        assert all(c.w == 50 and c.h % 2 == 0 for c in cues)
        assert {c.x for c in cues} <= {0, 50}
        check_teaser(directory / "teaser_small.mp4", audio=False, max_width=126, portrait=key == "rotated")
        check_teaser(directory / "teaser_large.mp4", audio=False, max_width=250, portrait=key == "rotated")
    import av

    with av.open(str(media_dir(app, hash_of(app, paths["odd_size"])) / "teaser_small.mp4")) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (126, 94)  # 321x241 scaled to 126 wide, rounded to even


def test_black_intro_poster_shows_the_picture(generated):
    """3 s of black then content, with one keyframe: the poster is a frame of the content."""
    from PIL import Image

    app, hashes = generated
    with Image.open(media_dir(app, hashes["black_intro"]) / "poster.jpg") as poster:
        assert not is_blank_image(poster)


def test_long_video_seek_thumbnails_are_bounded(generated):
    app, hashes = generated
    config = app.extensions["vidlib"].config
    directory = media_dir(app, hashes["long"])
    cues = check_seek_thumbnails(directory, 180.0, config["SEEK_THUMBS_MAX"])
    # 180 s at one tile per >= 1 s would be 180: bounded by SEEK_THUMBS_MAX (a few targets may
    # share a keyframe once the exact-frame budget is spent).
    assert 0.9 * config["SEEK_THUMBS_MAX"] <= len(cues) <= config["SEEK_THUMBS_MAX"]
    assert all(c.end - c.start < 5 for c in cues)
    columns = config["SEEK_SPRITE_COLUMNS"]
    assert {c.x for c in cues} == {i * cues[0].w for i in range(columns)}
    # The small teaser of a long video is SEGMENTS x SEGMENT_SECONDS long.
    import av

    with av.open(str(directory / "teaser_small.mp4")) as container:
        expected = config["TEASER_SMALL_SEGMENTS"] * config["TEASER_SMALL_SEGMENT_SECONDS"]
        assert abs(container.duration / 1e6 - expected) < 0.5


def test_sub_second_video_seek_thumbnails(generated):
    app, hashes = generated
    cues = check_seek_thumbnails(media_dir(app, hashes["short"]), 0.4, 100)
    assert len(cues) == 1 and (cues[0].start, cues[0].end) == (0.0, 0.4)


def test_served_vtt_points_at_the_served_sprite(generated):
    app, hashes = generated
    client = app.test_client()
    for key in ("mp4", "long"):
        info = client.get(f"/api/media/get-seek-thumbnails/{hashes[key]}").get_json()
        vtt = client.get(info["vtt_url"])
        assert vtt.status_code == 200 and vtt.mimetype == "text/vtt", vtt.mimetype
        cues = parse_vtt(vtt.get_data(as_text=True))
        sprite_url = urljoin(info["vtt_url"], cues[0].url)
        assert urlsplit(sprite_url).path == urlsplit(info["sprite_url"]).path
        sprite = client.get(sprite_url)
        assert sprite.status_code == 200 and sprite.mimetype == "image/jpeg"
        assert sprite.get_data() == (media_dir(app, hashes[key]) / "sprite.jpg").read_bytes()
        assert len({c.url for c in cues}) == 1


# -- a file that is simply broken ------------------------------------------------------------


def test_corrupt_file_fails_once_with_a_reason(make_app, library, sample_videos, redis_url):
    from rq.job import Job

    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    path = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)
    path.write_bytes(os.urandom(path.stat().st_size))  # corrupted after it was indexed
    assert queue_media(app) == len(KINDS)
    run_worker(app)

    st = app.extensions["vidlib"]
    rows = {r["kind"]: dict(r) for r in st.db.execute("SELECT kind, status, error FROM media WHERE hash = ?", [video_hash])}
    for kind in KINDS:
        assert rows[kind]["status"] == "failed", rows[kind]
        error = rows[kind]["error"]
        assert error and "Traceback" not in error and "\n" not in error and len(error) < 600, error
        assert not error.startswith("will retry"), error
        job = Job.fetch(f"media-{kind}-{video_hash}", connection=st.redis)
        assert job.get_status() == "finished"  # handled: not an RQ failure
        assert job.retries_left == 2  # retries not used
    assert st.queue("media").count == 0
    assert st.queue("media").failed_job_registry.count == 0
    assert st.queue("media").scheduled_job_registry.count == 0
    assert visible_outputs(media_dir(app, video_hash)) == []

    failed = client.get("/api/generation/failed").get_json()
    assert {f["kind"] for f in failed} == set(KINDS)
    assert all(f["hash"] == video_hash and f["error"] for f in failed)
    body = client.get(f"/api/media/get-poster/{video_hash}")
    assert body.status_code == 404
    assert body.get_json()["errors"]["media"]["status"] == "failed"
    assert body.get_json()["errors"]["media"]["error"] == rows["poster"]["error"]

    # Retry after the file was repaired: queued again, then generated.
    shutil.copyfile(sample_videos["mp4"], path)
    assert client.post("/api/generation/retry", json={"hash": video_hash}).get_json() == {"count": len(KINDS)}
    assert set(statuses(app, video_hash).values()) == {"queued"}
    assert st.queue("media").count == len(KINDS)
    run_worker(app)
    assert set(statuses(app, video_hash).values()) == {"done"}
    assert client.get("/api/generation/failed").get_json() == []


# -- status rows and the API -----------------------------------------------------------------


def test_status_api_and_media_files(make_app, library, sample_videos, redis_url):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    path = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)

    for kind, endpoint in ENDPOINTS.items():
        r = client.get(f"/api/media/{endpoint}/{video_hash}")
        assert r.status_code == 404
        assert r.get_json()["errors"]["media"]["status"] == "missing"
    assert queue_media(app) == len(KINDS)
    for kind, endpoint in ENDPOINTS.items():
        r = client.get(f"/api/media/{endpoint}/{video_hash}")
        assert r.status_code == 404 and r.get_json()["errors"]["media"]["status"] == "queued"
    assert client.get(f"/api/get-video-data/{video_hash}").get_json()["media"]["poster"]["status"] == "queued"
    run_worker(app)

    infos = {}
    for kind, endpoint in ENDPOINTS.items():
        r = client.get(f"/api/media/{endpoint}/{video_hash}")
        assert r.status_code == 200, r.get_json()
        info = infos[kind] = r.get_json()
        assert info["hash"] == video_hash and info["kind"] == kind and info["status"] == "done"
        assert info["url"].startswith(f"/media/{video_hash[:2]}/{video_hash}/") and "?v=" in info["url"]
    assert len(infos["preview_thumbnails"]["urls"]) == 10
    assert infos["seek_thumbnails"]["url"] == infos["seek_thumbnails"]["vtt_url"]
    assert infos["seek_thumbnails"]["sprite_url"].split("?")[0].endswith("/sprite.jpg")

    media = client.get(f"/api/get-video-data/{video_hash}").get_json()["media"]
    for kind in KINDS:
        assert media[kind]["status"] == "done"
        assert media[kind]["url"] == infos[kind]["url"]
    assert media["preview_thumbnails"]["urls"] == infos["preview_thumbnails"]["urls"]
    assert media["seek_thumbnails"]["sprite_url"] == infos["seek_thumbnails"]["sprite_url"]

    urls = [infos[k]["url"] for k in KINDS] + infos["preview_thumbnails"]["urls"] + [infos["seek_thumbnails"]["sprite_url"]]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.get_data() == (media_dir(app, video_hash) / urlsplit(url).path.split(f"{video_hash}/", 1)[1]).read_bytes()
    teaser = client.get(infos["teaser_large"]["url"], headers={"Range": "bytes=100-199"})
    assert teaser.status_code == 206 and teaser.mimetype == "video/mp4"
    size = (media_dir(app, video_hash) / "teaser_large.mp4").stat().st_size
    assert teaser.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert teaser.get_data() == (media_dir(app, video_hash) / "teaser_large.mp4").read_bytes()[100:200]
    assert teaser.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(infos["poster"]["url"], headers={"Range": f"bytes={10**9}-"}).status_code == 416

    # A kind whose file went away is not "done" for the API.
    (media_dir(app, video_hash) / "teaser_small.mp4").unlink()
    r = client.get(f"/api/media/get-teaser-small/{video_hash}")
    assert r.status_code == 404 and r.get_json()["errors"]["media"]["status"] == "missing"
    # Media of a video that is no longer visible is not served.
    st = app.extensions["vidlib"]
    with write_transaction(st.db):
        st.db.execute("UPDATE videos SET missing = 1 WHERE hash = ?", [video_hash])
    assert client.get(infos["poster"]["url"]).status_code == 404
    assert client.get(f"/api/media/get-poster/{video_hash}").status_code == 404


def test_media_path_escapes_are_rejected(make_app, library, sample_videos, redis_url, tmp_path):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    path = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)
    queue_media(app, kinds=["poster", "preview_thumbnails"])
    run_worker(app)
    directory = media_dir(app, video_hash)
    base = f"/media/{video_hash[:2]}/{video_hash}"
    assert client.get(f"{base}/poster.jpg").status_code == 200
    # Files vidlib did not write (or has not finished writing) sit next to real ones.
    (directory / ".tmp-123-poster.jpg").write_bytes(b"half")
    (directory / "notes.txt").write_text("secret")
    (directory / "poster.jpg.bak").write_bytes(b"x")
    (directory / "preview" / ".tmp-9-00.jpg").write_bytes(b"half")
    (directory / "preview" / "evil.jpg").write_bytes(b"x")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    data_db = Path(app.config["DATA_DIR"]) / "vidlib.db"
    assert data_db.exists()

    bad = [
        f"{base}/../../../vidlib.db",
        f"{base}/preview/../poster.jpg",
        f"{base}/preview/../../{video_hash}/poster.jpg",
        f"{base}/%2e%2e/%2e%2e/%2e%2e/vidlib.db",
        f"{base}/%2E%2E%2F%2E%2E%2F%2E%2E%2Fvidlib.db",
        f"{base}/..%2f..%2f..%2fvidlib.db",
        f"{base}/{secret}",
        f"{base}/%2F{str(secret).lstrip('/')}",
        f"{base}/poster.jpg%00",
        f"{base}/poster.jpg%00.txt",
        f"{base}/.tmp-123-poster.jpg",
        f"{base}/preview/.tmp-9-00.jpg",
        f"{base}/preview/evil.jpg",
        f"{base}/notes.txt",
        f"{base}/poster.jpg.bak",
        f"{base}/preview",
        f"{base}/preview/",
        f"{base}/teaser_small.mp4",  # allowed name, not generated
        f"/media/zz/{video_hash}/poster.jpg",
        f"/media/{video_hash[:2]}/{video_hash.upper()}/poster.jpg",
        f"/media/{video_hash[:2]}/{video_hash[:15]}/poster.jpg",
        f"/media/../{video_hash[:2]}/{video_hash}/poster.jpg",
    ]
    for url in bad:
        r = client.get(url)
        if r.status_code == 308:  # werkzeug merges "//" (an absolute name) and redirects: to a 404 below base
            assert urlsplit(r.headers["Location"]).path.startswith(base + "/"), r.headers["Location"]
            r = client.get(r.headers["Location"])
        assert r.status_code == 404, f"{url} -> {r.status_code}"
        body = r.get_data()
        assert b"secret" not in body and b"SQLite" not in body and b"half" not in body, url


def test_enqueue_twice_is_one_job(make_app, library, sample_videos, redis_url):
    from vidlib.media.jobs import enqueue_media

    app = make_app(REDIS_URL=redis_url)
    path = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)
    queue = app.extensions["vidlib"].queue("media")
    with app.app_context():
        job1, created1 = enqueue_media(video_hash, "poster")
        job2, created2 = enqueue_media(video_hash, "poster")
    assert (created1, created2) == (True, False)
    assert job1.id == job2.id == f"media-poster-{video_hash}"
    assert queue.job_ids == [job1.id]
    assert queue_media(app) == len(KINDS) - 1
    assert queue_media(app) == 0
    assert sorted(queue.job_ids) == sorted(f"media-{k}-{video_hash}" for k in KINDS)
    run_worker(app)
    # Done and on disk: asking again queues nothing; with force it is regenerated.
    with app.app_context():
        assert enqueue_media(video_hash, "poster") == (None, False)
        job3, created3 = enqueue_media(video_hash, "poster", force=True)
    assert created3 and queue.job_ids == [job3.id]
    assert statuses(app, video_hash)["poster"] == "queued"


def test_job_timeouts_scale_with_duration_and_retries_are_set(make_app, library, tiny_videos, redis_url):
    from vidlib.media.jobs import RETRY_INTERVALS, _timeout, enqueue_media

    app = make_app(REDIS_URL=redis_url, MEDIA_JOB_TIMEOUT_BASE=100, MEDIA_JOB_TIMEOUT_PER_MINUTE=10)
    config = app.extensions["vidlib"].config
    assert _timeout(config, None, "poster") == 100
    assert _timeout(config, 0, "teaser_small") == 100
    assert _timeout(config, 600, "poster") == 100 + 10 * 10
    assert _timeout(config, 600, "seek_thumbnails") == 200
    assert _timeout(config, 600, "teaser_large") == 100 + 3 * 10 * 10
    assert _timeout(config, 7200, "poster") > _timeout(config, 600, "poster")

    path = library / "tiny.mp4"
    shutil.copyfile(tiny_videos["long"], path)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)
    st = app.extensions["vidlib"]
    with write_transaction(st.db):
        st.db.execute("UPDATE videos SET duration = 5400 WHERE hash = ?", [video_hash])  # pretend 90 minutes
    with app.app_context():
        poster, _ = enqueue_media(video_hash, "poster")
        teaser, _ = enqueue_media(video_hash, "teaser_large")
    assert poster.timeout == 100 + 90 * 10
    assert teaser.timeout == 100 + 3 * 90 * 10
    for job in (poster, teaser):
        assert job.retries_left == len(RETRY_INTERVALS) == 2
        assert job.retry_intervals == RETRY_INTERVALS


def test_unexpected_error_is_retried(make_app, library, sample_videos, redis_url):
    """Not the file's fault (here: the media dir cannot be created): retried with backoff."""
    from rq.job import Job

    app = make_app(REDIS_URL=redis_url)
    path = copy_sample(sample_videos, "short", library)
    add_folder(app, library)
    scan(app)
    video_hash = hash_of(app, path)
    directory = media_dir(app, video_hash)
    directory.parent.mkdir(parents=True)
    directory.write_text("a file where the media dir should be")
    queue_media(app, kinds=["poster"])
    run_worker(app)

    st = app.extensions["vidlib"]
    job = Job.fetch(f"media-poster-{video_hash}", connection=st.redis)
    assert job.get_status() == "scheduled"  # the retry, 15 s later
    assert job.retries_left == 1
    row = st.db.execute("SELECT status, error FROM media WHERE hash = ?", [video_hash]).fetchone()
    assert row["status"] == "queued" and row["error"].startswith("will retry: ")

    # The obstacle is gone when the retry comes due (queued now, as RQ's scheduler would).
    directory.unlink()
    st.queue("media").scheduled_job_registry.remove(job)
    st.queue("media").enqueue_job(job)
    run_worker(app)
    assert statuses(app, video_hash) == {"poster": "done"}
    assert (directory / "poster.jpg").is_file()


# -- queuing: CLI, dashboard endpoints, scans ------------------------------------------------


def _two_videos(app, library, sample_videos):
    a = copy_sample(sample_videos, "mp4", library)
    b = copy_sample(sample_videos, "noaudio", library)
    add_folder(app, library)
    scan(app)
    return hash_of(app, a), hash_of(app, b)


def test_cli_generate_queues_missing_kinds_only(make_app, library, sample_videos, redis_url):
    app = make_app(REDIS_URL=redis_url)
    runner = app.test_cli_runner()
    a, b = _two_videos(app, library, sample_videos)
    queue = app.extensions["vidlib"].queue("media")

    result = runner.invoke(args=["generate", "--kind", "poster", "--video", a])
    assert result.exit_code == 0, result.output
    assert "queued 1 jobs for 1 videos" in result.output
    run_worker(app)
    assert statuses(app, a) == {"poster": "done"}

    result = runner.invoke(args=["generate"])
    assert result.exit_code == 0, result.output
    assert "queued 9 jobs for 2 videos" in result.output
    assert f"media-poster-{a}" not in queue.job_ids and len(queue.job_ids) == 9
    assert "queued 0 jobs" in runner.invoke(args=["generate"]).output
    run_worker(app)
    assert statuses(app, a) == statuses(app, b) == {k: "done" for k in KINDS}
    assert "queued 0 jobs for 2 videos" in runner.invoke(args=["generate"]).output

    before = (media_dir(app, a) / "poster.jpg").stat().st_mtime_ns
    result = runner.invoke(args=["generate", "--all"])
    assert "queued 10 jobs for 2 videos" in result.output
    assert set(statuses(app, a).values()) == {"queued"}
    run_worker(app)
    assert statuses(app, a) == {k: "done" for k in KINDS}
    assert (media_dir(app, a) / "poster.jpg").stat().st_mtime_ns != before


def test_cli_generate_without_redis_is_a_clear_error(make_app, library, sample_videos):
    app = make_app()  # REDIS_URL points nowhere
    a, _ = _two_videos(app, library, sample_videos)
    result = app.test_cli_runner().invoke(args=["generate"])
    assert result.exit_code == 1
    assert "Redis" in result.output and "Traceback" not in result.output


def test_generation_start_status_and_library_wide_job(make_app, library, sample_videos, redis_url):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    a, b = _two_videos(app, library, sample_videos)
    st = app.extensions["vidlib"]

    r = client.post("/api/generation/start", json={"hashes": [a], "kinds": ["poster", "teaser_small"]})
    assert r.status_code == 202 and r.get_json() == {"queued": 2, "job": None}
    r = client.post("/api/generation/start", json={"hashes": [a], "kinds": ["poster"]})
    assert r.get_json() == {"queued": 0, "job": None}
    status = client.get("/api/generation/status").get_json()
    assert status["queue_available"] is True and status["queued_jobs"] == 2
    assert status["counts"]["poster"] == {"queued": 1, "missing": 1}
    assert status["counts"]["teaser_large"] == {"missing": 2}
    assert client.post("/api/generation/start", json={"hashes": ["0" * 16]}).status_code == 404
    assert client.post("/api/generation/start", json={"kinds": ["thumbnail"]}).status_code == 400

    # The whole library: a background job does the queuing, then the worker generates.
    r = client.post("/api/generation/start", json={})
    assert r.status_code == 202
    job_id = r.get_json()["job"]
    assert r.get_json()["queued"] is None and job_id.startswith("media-queue-missing")
    assert st.queue("scan").job_ids == [job_id]
    run_worker(app, queues=("scan", "media"))
    status = client.get("/api/generation/status").get_json()
    for kind in KINDS:
        assert status["counts"][kind] == {"done": 2, "missing": 0}, (kind, status["counts"][kind])
    assert status["running"] == [] and status["queued_jobs"] == 0

    # scope=all regenerates everything.
    r = client.post("/api/generation/start", json={"scope": "all", "kinds": ["poster"]})
    assert r.status_code == 202 and r.get_json()["job"].startswith("media-queue-all-poster")
    run_worker(app, queues=("scan",))
    assert client.get("/api/generation/status").get_json()["counts"]["poster"] == {"queued": 2, "missing": 0}
    run_worker(app)
    assert client.get("/api/generation/status").get_json()["counts"]["poster"] == {"done": 2, "missing": 0}


def test_cancel_queued_jobs(make_app, library, sample_videos, redis_url):
    from rq.job import Job

    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    a, b = _two_videos(app, library, sample_videos)
    st = app.extensions["vidlib"]
    queue_media(app)
    r = client.post("/api/generation/cancel", json={"hash": a})
    assert r.status_code == 200 and r.get_json() == {"count": len(KINDS)}
    r = client.post("/api/generation/cancel", json={"hash": b, "kind": "teaser_large"})
    assert r.get_json() == {"count": 1}
    assert set(statuses(app, a).values()) == {"cancelled"}
    assert statuses(app, b)["teaser_large"] == "cancelled"
    assert sorted(st.queue("media").job_ids) == sorted(f"media-{k}-{b}" for k in KINDS if k != "teaser_large")
    assert client.get(f"/api/media/get-poster/{a}").get_json()["errors"]["media"]["status"] == "cancelled"

    run_worker(app)
    assert set(statuses(app, a).values()) == {"cancelled"}
    assert visible_outputs(media_dir(app, a)) == []
    assert Job.fetch(f"media-poster-{a}", connection=st.redis).get_status() == "canceled"
    assert statuses(app, b) == {**{k: "done" for k in KINDS}, "teaser_large": "cancelled"}
    assert not (media_dir(app, b) / "teaser_large.mp4").exists()
    assert client.post("/api/generation/cancel", json={}).get_json() == {"count": 0}

    # Cancelled media can be asked for again.
    assert client.post("/api/generation/retry", json={"kind": "teaser_large"}).get_json() == {"count": 2}
    run_worker(app)
    assert statuses(app, a)["teaser_large"] == statuses(app, b)["teaser_large"] == "done"


def test_prioritize_moves_a_video_to_the_front(make_app, library, sample_videos, redis_url):
    from rq.job import Job

    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    a, b = _two_videos(app, library, sample_videos)
    st = app.extensions["vidlib"]
    queue_media(app, [a])
    queue_media(app, [b], kinds=["poster", "preview_thumbnails"])
    queue = st.queue("media")
    assert [j.rsplit("-", 1)[1] for j in queue.job_ids] == [a] * 5 + [b] * 2

    r = client.post(f"/api/generation/prioritize/{b}")
    assert r.status_code == 202
    assert r.get_json()["count"] == 3  # the kinds of b that were not queued yet
    owners = [j.rsplit("-", 1)[1] for j in queue.job_ids]
    assert owners == [b] * 5 + [a] * 5, owners
    assert len(set(queue.job_ids)) == 10
    assert client.post(f"/api/generation/prioritize/{'f' * 16}").status_code == 404

    run_worker(app)
    ended = {j: Job.fetch(j, connection=st.redis).ended_at for j in (f"media-{k}-{h}" for k in KINDS for h in (a, b))}
    assert max(ended[f"media-{k}-{b}"] for k in KINDS) < min(ended[f"media-{k}-{a}"] for k in KINDS)


def test_scan_job_auto_queues_media_of_new_videos(make_app, library, sample_videos, redis_url):
    from vidlib import jobs

    app = make_app(REDIS_URL=redis_url)
    folder_id = add_folder(app, library)
    path = copy_sample(sample_videos, "mp4", library)
    with app.app_context():
        jobs.enqueue_scan(folder_id)
    run_worker(app, queues=("scan", "media"))
    video_hash = hash_of(app, path)
    assert statuses(app, video_hash) == {k: "done" for k in KINDS}

    # A rescan that finds nothing new queues nothing; a new video gets its media.
    second = copy_sample(sample_videos, "short", library)
    with app.app_context():
        jobs.enqueue_scan(folder_id)
    run_worker(app, queues=("scan",))
    other = hash_of(app, second)
    assert set(statuses(app, other).values()) == {"queued"} and len(statuses(app, other)) == len(KINDS)
    assert sorted(app.extensions["vidlib"].queue("media").job_ids) == sorted(f"media-{k}-{other}" for k in KINDS)


def test_scan_job_without_auto_queue(make_app, library, sample_videos, redis_url):
    from vidlib import jobs

    app = make_app(REDIS_URL=redis_url, MEDIA_AUTO_QUEUE=False)
    folder_id = add_folder(app, library)
    path = copy_sample(sample_videos, "mp4", library)
    with app.app_context():
        jobs.enqueue_scan(folder_id)
    run_worker(app, queues=("scan", "media"))
    assert statuses(app, hash_of(app, path)) == {}
    assert app.extensions["vidlib"].queue("media").count == 0


# -- rq-dashboard ------------------------------------------------------------------------------


def test_rq_dashboard_is_protected_like_the_dashboard(make_app, redis_url):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    remote = {"REMOTE_ADDR": "192.0.2.10"}
    assert client.get("/rq/", environ_base=remote).status_code == 403
    assert client.get("/api/generation/status", environ_base=remote).status_code == 403
    page = client.get("/rq/")  # loopback, no token configured
    assert page.status_code == 200 and b"RQ dashboard" in page.get_data()
    favicon = re.search(r'rel="shortcut icon" href="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.get(favicon).status_code == 200
    assert client.get("/rq/0/data/queues.json").status_code == 200

    app = make_app(REDIS_URL=redis_url, ADMIN_TOKEN="s3cret-token")
    client = app.test_client()
    for environ in ({}, remote):
        r = client.get("/rq/", environ_base=environ)
        assert r.status_code == 401 and "Bearer" in r.headers.get("WWW-Authenticate", "")
        assert client.get("/rq/", headers={"Authorization": "Bearer wrong"}, environ_base=environ).status_code == 403
        assert client.get("/rq/", headers={"Authorization": "Bearer s3cret-token"}, environ_base=environ).status_code == 200
        assert client.get("/rq/", headers={"X-Admin-Token": "s3cret-token"}, environ_base=environ).status_code == 200
    # Its JSON endpoints too, not only the page.
    assert client.get("/rq/0/data/queues.json", environ_base=remote).status_code == 401
