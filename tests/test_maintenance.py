"""Maintenance commands (doctor, prune-media, clean-missing, requeue-failed, vacuum) over a real
SQLite file, real media dirs and a real Redis."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from tests.conftest import add_folder, copy_sample, scan

CHECK_LINE = re.compile(r"^(ok|warn|FAIL)\s+([\w -]+): (.+)$")
NEW_COMMANDS = ("doctor", "prune-media", "clean-missing", "requeue-failed", "vacuum")


def run(runner, *args):
    result = runner.invoke(args=list(args))
    assert "Traceback" not in result.output, result.output
    return result


def checks(result) -> dict[str, tuple[str, str]]:
    """``{check name: (status, detail)}`` from doctor's output (every check line must parse)."""
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"\d+ checks: \d+ ok, \d+ warn, \d+ FAIL", lines[-1]), result.stdout
    found = {}
    for line in lines[:-1]:
        match = CHECK_LINE.match(line)
        assert match, line
        found[match.group(2)] = (match.group(1), match.group(3))
    return found


@pytest.mark.parametrize("name", NEW_COMMANDS)
def test_every_new_command_has_help(runner, name):
    result = run(runner, name, "--help")
    assert result.exit_code == 0
    assert f"Usage: " in result.output and len(result.output.splitlines()) > 4


def _library(app, library, sample_videos, keys=("mp4", "webm", "mkv")):
    for key in keys:
        copy_sample(sample_videos, key, library)
    add_folder(app, library)
    stats = scan(app)
    assert stats.new == len(keys)
    db = app.extensions["vidlib"].db
    return {r["filename"]: r["hash"] for r in db.execute("SELECT filename, hash FROM videos")}


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_all_good_with_redis(make_app, redis_url, library, sample_videos):
    app = make_app(REDIS_URL=redis_url, DOCTOR_MIN_FREE_MB=1)
    _library(app, library, sample_videos, ("mp4",))
    (library / "sub" / "deeper").mkdir(parents=True)
    result = run(app.test_cli_runner(), "doctor")
    found = checks(result)
    assert result.exit_code == 0, result.output
    assert found["ffmpeg"][0] == "ok" and re.search(r"encoders .*libx264.*aac", found["ffmpeg"][1])
    assert found["ffprobe"][0] == "ok"
    assert found["redis"][0] == "ok" and redis_url in found["redis"][1]
    assert found["workers"][0] == "warn"  # none running in this test
    assert found["database integrity"][0] == "ok" and found["foreign keys"][0] == "ok"
    assert found["full-text index"] == ("ok", "1 rows")
    assert found["disk MEDIA_DIR"][0] != "FAIL"  # warn when this disk runs low
    assert found["folders"] == ("ok", "1 reachable")
    assert found["inotify"][0] == "ok" and "library needs 3" in found["inotify"][1]  # library, sub, sub/deeper
    assert found["exposure"][0] == "ok"


def test_doctor_fails_on_unreachable_redis_and_low_disk(make_app):
    app = make_app(DOCTOR_MIN_FREE_MB=1 << 40)  # more free space than any disk has
    result = run(app.test_cli_runner(), "doctor")
    assert result.exit_code == 1
    found = checks(result)
    assert found["redis"][0] == "FAIL" and "not reachable" in found["redis"][1]
    assert found["disk MEDIA_DIR"][0] == "FAIL" and "VIDLIB_DOCTOR_MIN_FREE_MB" in found["disk MEDIA_DIR"][1]
    assert found["folders"][0] == "warn"
    assert result.stdout.splitlines()[-1].endswith("2 FAIL")


def test_doctor_fails_without_ffmpeg(make_app, redis_url, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = run(make_app(REDIS_URL=redis_url, DOCTOR_MIN_FREE_MB=1).test_cli_runner(), "doctor")
    found = checks(result)
    assert result.exit_code == 1
    assert found["ffmpeg"][0] == "FAIL" and "not found" in found["ffmpeg"][1]
    assert found["ffprobe"][0] == "warn"


def test_doctor_finds_database_damage_and_stale_fts(make_app, redis_url, library, sample_videos):
    app = make_app(REDIS_URL=redis_url, DOCTOR_MIN_FREE_MB=1)
    hashes = _library(app, library, sample_videos, ("mp4", "mkv"))
    db = app.extensions["vidlib"].db
    db.execute("DELETE FROM video_fts")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("INSERT INTO favourites (hash, added_at) VALUES ('00000000deadbeef', '2020-01-01T00:00:00+00:00')")
    db.execute("PRAGMA foreign_keys = ON")
    runner = app.test_cli_runner()
    result = run(runner, "doctor")
    found = checks(result)
    assert result.exit_code == 1
    assert found["foreign keys"][0] == "FAIL" and "favourites" in found["foreign keys"][1]
    assert found["full-text index"][0] == "warn" and "rebuild-fts" in found["full-text index"][1]
    db.execute("DELETE FROM favourites WHERE hash = '00000000deadbeef'")
    assert run(runner, "rebuild-fts").exit_code == 0
    found = checks(run(runner, "doctor"))
    assert found["foreign keys"][0] == "ok" and found["full-text index"] == ("ok", f"{len(hashes)} rows")


# -- prune-media ------------------------------------------------------------------------------


def _media_file(media_dir, video_hash, name="poster.jpg", age_seconds=0.0):
    path = os.path.join(media_dir, video_hash[:2], video_hash, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(b"x" * 1000)
    if age_seconds:
        past = time.time() - age_seconds
        os.utime(path, (past, past))
    return path


def test_prune_media_removes_orphans_and_stale_temp_files(app, runner, library, sample_videos):
    hashes = _library(app, library, sample_videos, ("mp4", "mkv"))
    media_dir = app.config["MEDIA_DIR"]
    kept = [_media_file(media_dir, h) for h in hashes.values()]
    # the mkv goes missing: its media stay (it may come back)
    (library / sample_videos["mkv"].name).unlink()
    assert scan(app).missing == 1
    orphan = _media_file(media_dir, "ab00000000000001", "teaser_small.mp4")
    orphan_preview = _media_file(media_dir, "ab00000000000001", "preview/00.jpg")
    some_hash = hashes[sample_videos["mp4"].name]
    stale_in_video = _media_file(media_dir, some_hash, ".tmp-4242-teaser_large.mp4", age_seconds=7200)
    stale_dir = _media_file(media_dir, some_hash, ".tmp-4242-preview/03.jpg", age_seconds=7200)
    os.utime(os.path.dirname(stale_dir), (time.time() - 7200,) * 2)
    fresh_tmp = _media_file(media_dir, some_hash, ".tmp-4343-poster.jpg", age_seconds=60)
    foreign = os.path.join(media_dir, "README-not-vidlib.txt")
    with open(foreign, "w") as fh:
        fh.write("left alone")

    dry = run(runner, "prune-media", "--dry-run")
    assert dry.exit_code == 0
    assert "would remove 1 media dirs of deleted videos and 2 stale temp files" in dry.stdout
    assert os.path.dirname(orphan) in dry.stdout and stale_in_video in dry.stdout
    assert os.path.exists(orphan) and os.path.exists(stale_in_video)

    result = run(runner, "prune-media")
    assert result.exit_code == 0
    assert re.search(r"^removed 1 media dirs of deleted videos and 2 stale temp files \(\d+\.\d MiB\)$", result.stdout, re.M)
    assert not os.path.exists(os.path.dirname(orphan)) and not os.path.exists(orphan_preview)
    assert not os.path.exists(os.path.join(media_dir, "ab"))  # emptied shard removed
    assert not os.path.exists(stale_in_video) and not os.path.exists(os.path.dirname(stale_dir))
    assert all(os.path.exists(p) for p in kept)  # present and missing videos keep theirs
    assert os.path.exists(fresh_tmp) and os.path.exists(foreign)
    # a younger threshold takes the fresh temp file too
    assert "0 media dirs of deleted videos and 1 stale temp files" in run(runner, "prune-media", "--tmp-age", "0.5").stdout
    assert not os.path.exists(fresh_tmp)


# -- clean-missing ----------------------------------------------------------------------------


def test_clean_missing_purges_old_missing_videos_completely(app, runner, library, sample_videos):
    hashes = _library(app, library, sample_videos, ("mp4", "webm", "mkv"))
    db = app.extensions["vidlib"].db
    media_dir = app.config["MEDIA_DIR"]
    old, recent, present = hashes[sample_videos["mp4"].name], hashes[sample_videos["webm"].name], hashes[sample_videos["mkv"].name]
    from vidlib.media import store

    for h in hashes.values():
        db.execute("INSERT INTO favourites (hash, added_at) VALUES (?, '2024-01-01T00:00:00+00:00')", [h])
        store.set_status(db, h, "poster", "done")
        _media_file(media_dir, h)
    (library / sample_videos["mp4"].name).unlink()
    (library / sample_videos["webm"].name).unlink()
    assert scan(app).missing == 2
    db.execute("UPDATE videos SET missing_since = '2020-01-01T00:00:00+00:00' WHERE hash = ?", [old])
    performers_of_old = [r[0] for r in db.execute("SELECT p.name FROM video_performers vp JOIN performers p ON p.id = vp.performer_id WHERE vp.hash = ?", [old])]
    assert performers_of_old == ["Jane Doe", "John Roe"]
    assert db.execute("SELECT COUNT(*) FROM video_fts WHERE video_fts MATCH 'beach'").fetchone()[0] == 1

    dry = run(runner, "clean-missing", "--days", "30", "--dry-run")
    assert dry.exit_code == 0 and "would purge 1 videos missing for more than 30 days" in dry.stdout
    assert old in dry.stdout and recent not in dry.stdout
    assert db.execute("SELECT COUNT(*) FROM videos").fetchone()[0] == 3

    result = run(runner, "clean-missing", "--days", "30")
    assert result.exit_code == 0, result.output
    assert "purged 1 videos missing for more than 30 days" in result.stdout
    one = lambda sql, *p: db.execute(sql, p).fetchone()[0]  # noqa: E731
    assert one("SELECT COUNT(*) FROM videos WHERE hash = ?", old) == 0
    for table in ("video_performers", "video_categories", "favourites", "media", "legacy_metadata", "duplicates"):
        assert one(f"SELECT COUNT(*) FROM {table} WHERE hash = ?", old) == 0, table
    assert one("SELECT COUNT(*) FROM video_fts WHERE video_fts MATCH 'beach'") == 0
    assert one("SELECT COUNT(*) FROM video_fts") == 2
    assert one("SELECT COUNT(*) FROM performers WHERE name IN ('Jane Doe', 'John Roe')") == 0
    assert one("SELECT COUNT(*) FROM studios WHERE name = 'Acme Studio'") == 0
    assert not os.path.exists(os.path.join(media_dir, old[:2], old))
    # the recently missing and the present video keep everything
    for h in (recent, present):
        assert one("SELECT COUNT(*) FROM favourites WHERE hash = ?", h) == 1
        assert one("SELECT COUNT(*) FROM media WHERE hash = ?", h) == 1
        assert os.path.exists(os.path.join(media_dir, h[:2], h, "poster.jpg"))
    assert "similarity index: 1 videos" in result.stdout
    # nothing is left to purge; zero days takes the recent one too
    assert "purged 0 videos" in run(runner, "clean-missing", "--days", "30").stdout
    assert "purged 1 videos" in run(runner, "clean-missing", "--days", "0", "--no-reindex").stdout
    # the purged file coming back is a new video, without the old favourite
    copy_sample(sample_videos, "mp4", library)
    assert scan(app).new == 1
    assert one("SELECT COUNT(*) FROM favourites WHERE hash = ?", old) == 0


def test_clean_missing_needs_days(runner):
    result = run(runner, "clean-missing")
    assert result.exit_code == 2 and "--days" in result.output


# -- requeue-failed ---------------------------------------------------------------------------


def test_requeue_failed_queues_failed_media_again(make_app, redis_url, library, sample_videos):
    from redis import Redis
    from rq import Queue

    from vidlib.media import store

    app = make_app(REDIS_URL=redis_url)
    hashes = list(_library(app, library, sample_videos, ("mp4", "mkv")).values())
    db = app.extensions["vidlib"].db
    store.set_status(db, hashes[0], "poster", "failed", error="boom")
    store.set_status(db, hashes[0], "teaser_small", "failed", error="boom")
    store.set_status(db, hashes[1], "poster", "cancelled", error="cancelled by user")
    store.set_status(db, hashes[1], "teaser_large", "done")
    runner = app.test_cli_runner()

    result = run(runner, "requeue-failed", "--kind", "poster")
    assert result.exit_code == 0 and "requeued 1 of 1 failed media jobs" in result.stdout
    conn = Redis.from_url(redis_url)
    assert Queue("media", connection=conn).job_ids == [f"media-poster-{hashes[0]}"]
    assert store.get_status(db, hashes[0], "poster")["status"] == "queued"
    assert store.get_status(db, hashes[0], "teaser_small")["status"] == "failed"

    result = run(runner, "requeue-failed", "--cancelled")
    assert "requeued 2 of 2 failed media jobs" in result.stdout
    assert sorted(Queue("media", connection=conn).job_ids) == sorted([f"media-poster-{hashes[0]}", f"media-teaser_small-{hashes[0]}", f"media-poster-{hashes[1]}"])
    assert store.get_status(db, hashes[1], "teaser_large")["status"] == "done"
    assert "requeued 0 of 0" in run(runner, "requeue-failed").stdout

    # A failed pre-transcode is picked by its kind too.
    store.set_status(db, hashes[1], "transcode", "failed", error="boom")
    result = run(runner, "requeue-failed", "--kind", "transcode")
    assert "requeued 1 of 1 failed media jobs" in result.stdout, result.stdout
    assert store.get_status(db, hashes[1], "transcode")["status"] == "queued"
    assert f"media-transcode-{hashes[1]}" in Queue("media", connection=conn).job_ids
    conn.close()


def test_requeue_failed_without_redis_is_a_clear_error(app, runner, library, sample_videos):
    from vidlib.media import store

    h = next(iter(_library(app, library, sample_videos, ("mkv",)).values()))
    store.set_status(app.extensions["vidlib"].db, h, "poster", "failed", error="boom")
    result = run(runner, "requeue-failed")
    assert result.exit_code == 1 and "unavailable" in result.output
    assert store.get_status(app.extensions["vidlib"].db, h, "poster")["status"] == "failed"


# -- vacuum -----------------------------------------------------------------------------------


def test_vacuum_shrinks_the_file_and_search_still_works(app, runner, client, library, sample_videos):
    hashes = _library(app, library, sample_videos, ("mp4", "webm", "mkv"))
    db = app.extensions["vidlib"].db
    db.execute("CREATE TABLE bulk (data TEXT)")
    db.execute("INSERT INTO bulk SELECT hex(randomblob(2000)) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i FROM n)")
    db.execute("DROP TABLE bulk")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.execute("PRAGMA freelist_count").fetchone()[0] > 400

    result = run(runner, "vacuum")
    assert result.exit_code == 0, result.output
    match = re.search(r"^database: (\d+) bytes before, (\d+) bytes after \((-?\d+) bytes freed\)$", result.stdout, re.M)
    assert match, result.stdout
    before, after, freed = map(int, match.groups())
    assert before - after == freed and freed > 1_000_000
    assert after == os.path.getsize(app.extensions["vidlib"].db_path) + (os.path.getsize(app.extensions["vidlib"].db_path + "-wal") if os.path.exists(app.extensions["vidlib"].db_path + "-wal") else 0)
    assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    response = client.get("/search/search-videos", query_string={"q": "beach"})
    assert response.status_code == 200, response.get_json()
    assert [v["hash"] for v in response.get_json()["items"]] == [hashes[sample_videos["mp4"].name]]
    assert json.loads(run(runner, "stats", "--json").stdout)["videos"] == 3
