"""Maintenance commands through the Flask CLI runner, over real files and a real SQLite database."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from tests.conftest import copy_sample

SUMMARY = re.compile(
    r"^(\d+) files: (\d+) new, (\d+) updated, (\d+) moved, (\d+) restored, (\d+) unchanged, "
    r"(\d+) duplicates, (\d+) collisions, (\d+) errors, (\d+) now missing \(\d+\.\d\d s\)$",
    re.M,
)


def ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def fails(runner, *args, code: int = 1):
    result = runner.invoke(args=list(args))
    assert result.exit_code == code, (args, result.output)
    assert "Traceback" not in result.output
    return result


def summary(result) -> dict[str, int]:
    match = SUMMARY.search(result.stdout)
    assert match, result.output
    names = ("files", "new", "updated", "moved", "restored", "unchanged", "duplicates", "collisions", "errors", "missing")
    return dict(zip(names, map(int, match.groups())))


def stats(runner) -> dict:
    return json.loads(ok(runner, "stats", "--json").stdout)


def test_add_scan_stats_folders_remove(runner, library, sample_videos):
    for key in ("mp4", "webm", "mkv", "corrupt"):
        copy_sample(sample_videos, key, library)
    result = ok(runner, "add-folder", str(library))
    assert result.stdout.strip() == f"added folder 1: {os.path.realpath(library)}"

    assert stats(runner)["videos"] == 0
    first = summary(ok(runner, "scan"))
    assert first == {"files": 4, "new": 3, "updated": 0, "moved": 0, "restored": 0, "unchanged": 0, "duplicates": 0, "collisions": 0, "errors": 1, "missing": 0}
    again = summary(ok(runner, "scan"))
    assert again["unchanged"] == 4 and again["new"] == 0 and again["errors"] == 0

    data = stats(runner)
    assert data["videos"] == 3 and data["folders"] == 1 and data["scan_errors"] == 1 and data["missing"] == 0
    assert data["studios"] == 2 and data["performers"] == 3
    assert data["total_bytes"] == sum(sample_videos[k].stat().st_size for k in ("mp4", "webm", "mkv"))
    assert data["total_duration"] > 5
    text = ok(runner, "stats").stdout
    assert re.search(r"^\s+videos: 3$", text, re.M) and re.search(r"^\s+scan_errors: 1$", text, re.M)

    listing = ok(runner, "folders").stdout.splitlines()
    assert len(listing) == 1
    assert re.fullmatch(rf"\s+1\s+3 videos\s+{re.escape(os.path.realpath(library))}", listing[0])

    # a deleted file is marked missing by the next scan
    (library / sample_videos["webm"].name).unlink()
    assert summary(ok(runner, "scan", "--folder", "1"))["missing"] == 1
    assert stats(runner)["missing"] == 1

    result = ok(runner, "remove-folder", str(library))
    assert result.stdout.strip() == "removed folder 1"
    assert ok(runner, "folders").stdout == ""
    data = stats(runner)
    assert data["folders"] == 0 and data["videos"] == 0 and data["missing"] == 3
    # the files themselves are untouched
    assert (library / sample_videos["mp4"].name).exists()


def test_add_folder_with_scan_and_remove_by_id(runner, library, sample_videos, tmp_path):
    copy_sample(sample_videos, "mp4", library)
    other = tmp_path / "other"
    copy_sample(sample_videos, "noaudio", other)
    result = ok(runner, "add-folder", "--scan", str(library))
    assert summary(result)["new"] == 1
    ok(runner, "add-folder", str(other))
    assert summary(ok(runner, "scan", "--folder", str(other)))["new"] == 1
    lines = ok(runner, "folders").stdout.splitlines()
    assert len(lines) == 2
    assert ok(runner, "remove-folder", "2").stdout.strip() == "removed folder 2"
    assert [line.split()[-1] for line in ok(runner, "folders").stdout.splitlines()] == [os.path.realpath(library)]


def test_unreachable_folder_is_flagged(runner, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    ok(runner, "add-folder", str(gone))
    gone.rmdir()
    assert ok(runner, "folders").stdout.rstrip().endswith("(unreachable)")
    assert summary(ok(runner, "scan"))["files"] == 0


@pytest.mark.parametrize("make_path,words", [
    (lambda tmp: str(tmp / "does-not-exist"), "folder does not exist"),
    (lambda tmp: "relative/folder", "path must be absolute"),
    (lambda tmp: (tmp / "f.txt").write_text("x") and str(tmp / "f.txt"), "not a folder"),
    (lambda tmp: str(tmp / "data"), "data dir"),
])
def test_add_folder_errors_are_clear(runner, tmp_path, make_path, words):
    result = fails(runner, "add-folder", make_path(tmp_path))
    assert "Error:" in result.output and words in result.output
    assert ok(runner, "folders").stdout == ""


def test_add_folder_twice_and_nested(runner, library):
    ok(runner, "add-folder", str(library))
    assert "already in the library" in fails(runner, "add-folder", str(library)).output
    (library / "inner").mkdir()
    assert "inside library folder" in fails(runner, "add-folder", str(library / "inner")).output


def test_scan_and_remove_errors(runner, tmp_path, library):
    assert "no folders yet" in fails(runner, "scan").output
    assert "no library folder" in fails(runner, "remove-folder", str(tmp_path / "nope")).output
    assert "no library folder" in fails(runner, "remove-folder", "7").output
    ok(runner, "add-folder", str(library))
    assert "no library folder" in fails(runner, "scan", "--folder", str(tmp_path)).output
    assert "no library folder" in fails(runner, "scan", "--folder", "99").output
    # --enqueue with Redis unreachable: a clear error, not a traceback
    assert "unavailable" in fails(runner, "scan", "--enqueue").output


def test_scan_enqueue_with_redis(make_app, library, redis_url):
    from redis import Redis
    from rq import Queue

    runner = make_app(REDIS_URL=redis_url).test_cli_runner()
    ok(runner, "add-folder", str(library))
    assert ok(runner, "scan", "--enqueue").stdout.strip() == "queued: scan-folder-1"
    assert ok(runner, "scan", "--enqueue").stdout.strip() == "already queued: scan-folder-1"
    conn = Redis.from_url(redis_url)
    assert Queue("scan", connection=conn).job_ids == ["scan-folder-1"]
    conn.close()


def test_scan_of_library_without_performers_or_studios(runner, library, sample_videos):
    # Names without the "Studio - date - performers - title" form give no performers or studios;
    # the scan (and the index rebuilt after it) must still succeed.
    copy_sample(sample_videos, "mkv", library)
    copy_sample(sample_videos, "noaudio", library)
    assert summary(ok(runner, "add-folder", "--scan", str(library)))["new"] == 2
    data = stats(runner)
    assert data["videos"] == 2 and data["performers"] == 0 and data["studios"] == 0


def test_scan_picks_up_moves_and_duplicates(runner, library, sample_videos):
    src = copy_sample(sample_videos, "mp4", library)
    ok(runner, "add-folder", "--scan", str(library))
    (library / "a").mkdir()
    shutil.move(src, library / "a" / "moved.mp4")
    copy_sample(sample_videos, "mp4", library / "b", name="copy.mp4")
    result = summary(ok(runner, "scan"))
    assert result["moved"] == 1 and result["duplicates"] == 1 and result["new"] == 0 and result["missing"] == 0
    assert stats(runner)["duplicates"] == 1
