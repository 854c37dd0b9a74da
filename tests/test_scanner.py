"""The scanner over real files: ffmpeg-made videos in a temp folder, a temp SQLite database.

Each test builds the library folder it needs from the session's sample videos, scans it
in-process and checks the database rows, the scan statistics and (where it matters to a
user) what the HTTP API answers.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import add_folder, copy_sample, scan
from vidlib.db import now_iso
from vidlib.errors import Conflict, NotFound, VidlibError
from vidlib.library import folders, hashing
from vidlib.library.probe import probe
from vidlib.library.scanner import Scanner, walk

VIDEO_KEYS = ("mp4", "webm", "mkv", "short", "noaudio", "unicode", "hostile", "rotated", "large")
BROKEN_KEYS = ("corrupt", "empty", "text")
CHUNK = 64 * 1024


# -- helpers -----------------------------------------------------------------------------------


def db_of(app):
    return app.extensions["vidlib"].db


def rows(app, sql: str, params=()) -> list[dict]:
    return [dict(r) for r in db_of(app).execute(sql, list(params))]


def all_videos(app) -> list[dict]:
    return rows(app, "SELECT * FROM videos ORDER BY path")


def video_at(app, path: Path | str) -> dict | None:
    found = rows(app, "SELECT * FROM videos WHERE path = ? AND missing = 0", [str(path)])
    return found[0] if found else None


def video(app, video_hash: str) -> dict:
    return rows(app, "SELECT * FROM videos WHERE hash = ?", [video_hash])[0]


def errors_by_name(app) -> dict[str, str]:
    return {os.path.basename(r["path"]): r["reason"] for r in rows(app, "SELECT path, reason FROM scan_errors")}


def favourite(client, video_hash: str) -> None:
    response = client.post(f"/api/add-favourite/{video_hash}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"hash": video_hash, "favourite": True}


def is_favourite(client, video_hash: str) -> bool:
    response = client.get(f"/api/is-favourite/{video_hash}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["favourite"]


def flip_middle(src: Path, dest: Path, length: int = 4096) -> Path:
    """Copy ``src`` to ``dest`` with bytes in the middle inverted: same size, head and tail."""
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    assert CHUNK < middle and middle + length < len(data) - CHUNK
    for i in range(middle, middle + length):
        data[i] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def bump_mtime(path: Path, seconds: float = 10.0) -> None:
    """Move a file's mtime by ``seconds`` without touching its bytes."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


# -- probing every sample ------------------------------------------------------------------------


def test_scan_indexes_every_sample_with_probed_fields(app, library, sample_videos):
    copied = {key: copy_sample(sample_videos, key, library) for key in VIDEO_KEYS}
    add_folder(app, library)

    stats = scan(app)

    assert stats.files == len(VIDEO_KEYS)
    assert stats.new == len(VIDEO_KEYS), stats.summary()
    assert stats.errors == 0 and stats.missing == 0 and stats.duplicates == 0 and stats.collisions == 0
    assert len(all_videos(app)) == len(VIDEO_KEYS)
    assert len(stats.changed_hashes) == len(VIDEO_KEYS)
    v = {key: video_at(app, path) for key, path in copied.items()}
    for key, row in v.items():
        assert row is not None, key
        # The id is the oshash of the content; size and mtime are the file's own.
        assert row["hash"] == row["oshash"] == hashing.oshash(copied[key])[0]
        assert row["size"] == copied[key].stat().st_size
        assert row["mtime"] == copied[key].stat().st_mtime
        assert row["filename"] == copied[key].name
        assert row["missing"] == 0
        assert (row["width"], row["height"]) == (320, 240), key
        assert row["fps"] == pytest.approx(25.0), key
        assert row["bitrate"] and row["bitrate"] > 0, key

    assert v["mp4"]["video_codec"] == "h264" and v["mp4"]["audio_codec"] == "aac"
    assert v["mp4"]["container"] == "mp4"
    assert v["mp4"]["duration"] == pytest.approx(2.0, abs=0.1)
    assert v["webm"]["video_codec"] == "vp9"
    assert v["webm"]["audio_codec"] is None
    assert v["webm"]["container"] == "webm"
    assert v["mkv"]["container"] == "matroska"
    assert v["mkv"]["audio_codec"] == "aac"
    assert v["mkv"]["duration"] == pytest.approx(1.5, abs=0.1)
    assert 0 < v["short"]["duration"] < 1.0
    assert v["short"]["duration"] == pytest.approx(0.4, abs=0.05)
    assert v["noaudio"]["audio_codec"] is None and v["noaudio"]["video_codec"] == "h264"
    assert v["rotated"]["rotation"] == 90
    assert all(v[k]["rotation"] == 0 for k in VIDEO_KEYS if k != "rotated")
    assert v["large"]["duration"] == pytest.approx(3.0, abs=0.1)


def test_api_serves_the_probed_fields(app, library, sample_videos):
    path = copy_sample(sample_videos, "rotated", library)
    add_folder(app, library)
    scan(app)
    row = video_at(app, path)

    response = app.test_client().get(f"/api/get-video-data/{row['hash']}")

    assert response.status_code == 200
    data = response.get_json()
    assert data["hash"] == row["hash"]
    assert data["filename"] == path.name
    assert data["rotation"] == 90
    assert data["video_codec"] == "h264" and data["audio_codec"] is None
    assert data["size"] == path.stat().st_size


# -- bad files -------------------------------------------------------------------------------------


def test_broken_files_are_recorded_with_a_reason_and_the_scan_goes_on(app, library, sample_videos, caplog):
    for key in ("mp4", *BROKEN_KEYS, "mkv"):
        copy_sample(sample_videos, key, library)
    (library / "x.mp4").symlink_to(library / "no-such-target.mp4")
    add_folder(app, library)

    with caplog.at_level(logging.WARNING, logger="vidlib.library.scanner"):
        stats = scan(app)

    assert stats.new == 2, stats.summary()
    assert stats.errors == 4
    assert stats.files == 6
    assert {r["filename"] for r in all_videos(app)} == {sample_videos["mp4"].name, sample_videos["mkv"].name}
    reasons = errors_by_name(app)
    assert set(reasons) == {"corrupt.mp4", "empty.mkv", "notes-not-a-video.avi", "x.mp4"}
    assert "empty" in reasons["empty.mkv"]
    assert "corrupt" in reasons["corrupt.mp4"] or "not a video" in reasons["corrupt.mp4"]
    assert "not a video" in reasons["notes-not-a-video.avi"]
    assert "dangling" in reasons["x.mp4"]
    for reason in reasons.values():  # a sentence for a person, not a traceback or an exception repr
        assert reason and "Traceback" not in reason and "Error(" not in reason and len(reason) < 200
    # Each bad file is logged once with its path.
    for name in reasons:
        assert sum(name in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 1, name

    listed = app.test_client().get("/api/scan-errors")
    assert listed.status_code == 200
    assert {os.path.basename(e["path"]): e["reason"] for e in listed.get_json()} == reasons


def test_dangling_symlink_that_gets_a_target_is_indexed(app, library, sample_videos, tmp_path):
    target = tmp_path / "elsewhere" / "target.mp4"
    (library / "x.mp4").symlink_to(target)
    add_folder(app, library)
    assert scan(app).errors == 1

    copy_sample(sample_videos, "mp4", target.parent, name=target.name)
    stats = scan(app)

    assert stats.new == 1 and stats.errors == 0
    assert video_at(app, library / "x.mp4")["hash"] == hashing.oshash(target)[0]
    assert errors_by_name(app) == {}


def test_broken_file_is_not_retried_until_it_changes(app, library, sample_videos):
    corrupt = copy_sample(sample_videos, "corrupt", library)
    add_folder(app, library)
    assert scan(app).errors == 1
    first = rows(app, "SELECT * FROM scan_errors")

    again = scan(app)

    assert again.errors == 0 and again.unchanged == 1 and again.hashed_bytes == 0
    assert rows(app, "SELECT * FROM scan_errors") == first  # untouched, same timestamp

    with corrupt.open("ab") as fh:  # still garbage, but different garbage
        fh.write(os.urandom(100))
    changed = scan(app)
    assert changed.errors == 1 and changed.unchanged == 0
    assert rows(app, "SELECT size FROM scan_errors") == [{"size": 4196}]

    # Replaced by a real video at the same path: indexed, the error row goes.
    shutil.copyfile(sample_videos["mp4"], corrupt)
    fixed = scan(app)
    assert fixed.new == 1 and fixed.errors == 0
    assert video_at(app, corrupt) is not None
    assert errors_by_name(app) == {}


def test_error_row_goes_when_the_broken_file_is_deleted(app, library, sample_videos):
    corrupt = copy_sample(sample_videos, "corrupt", library)
    add_folder(app, library)
    scan(app)
    assert errors_by_name(app) == {"corrupt.mp4": errors_by_name(app)["corrupt.mp4"]}

    corrupt.unlink()
    scan(app)

    assert errors_by_name(app) == {}


def test_file_with_only_an_audio_stream_is_an_error(app, library, tmp_path):
    from tests.conftest import ffmpeg

    audio = library / "song.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(audio))
    add_folder(app, library)

    stats = scan(app)

    assert stats.errors == 1 and stats.new == 0
    assert "no video stream" in errors_by_name(app)["song.mp4"]


def test_file_vanishing_during_the_scan_does_not_stop_it(app, library, sample_videos):
    copied = [copy_sample(sample_videos, key, library) for key in ("mp4", "mkv", "webm")]
    folder_id = add_folder(app, library)
    st = app.extensions["vidlib"]
    deleted = []

    def progress(done, total):
        if done == 1:  # after the first file, delete one the scan has not reached yet
            known = {r["path"] for r in rows(app, "SELECT path FROM videos")}
            victim = next(p for p in copied if str(p) not in known)
            victim.unlink()
            deleted.append(victim)

    stats = Scanner(st.db, st.config, progress=progress).scan_folder(folder_id)

    assert stats.files == 3 and stats.new == 2, stats.summary()
    assert {r["filename"] for r in all_videos(app)} == {p.name for p in copied if p not in deleted}
    # A vanished file is at most a transient error, forgotten by the next scan.
    assert set(errors_by_name(app)) <= {deleted[0].name}
    again = scan(app)
    assert errors_by_name(app) == {} and again.unchanged == 2


def test_name_that_is_not_utf8_is_skipped_without_stopping_the_scan(app, library, sample_videos, caplog):
    good = copy_sample(sample_videos, "mp4", library)
    bad = os.path.join(os.fsencode(library), b"latin1-caf\xe9.mp4")
    with open(bad, "wb") as fh:
        fh.write(sample_videos["mkv"].read_bytes())
    add_folder(app, library)

    with caplog.at_level(logging.WARNING):
        stats = scan(app)

    assert stats.new == 1 and stats.errors == 1, stats.summary()
    assert [r["path"] for r in all_videos(app)] == [str(good)]
    assert any("UTF-8" in r.getMessage() for r in caplog.records)
    assert app.test_client().get("/api/scan-errors").status_code == 200


# -- names -------------------------------------------------------------------------------------------


def test_unicode_and_shell_hostile_names_round_trip_exactly(app, library, sample_videos):
    unicode = copy_sample(sample_videos, "unicode", library)
    hostile = copy_sample(sample_videos, "hostile", library)
    extra = {
        "newline": copy_sample(sample_videos, "short", library, name="line\nbreak\ttab.mp4"),
        "dash": copy_sample(sample_videos, "noaudio", library, name="--help -rf.mp4"),
        "nfd": copy_sample(sample_videos, "mkv", library, name="Cafe\u0301 nfd.mkv"),  # decomposed é
        "emoji": copy_sample(sample_videos, "webm", library, name="🎬 clip 🍿.webm"),
        "backslash": copy_sample(sample_videos, "rotated", library, name="back\\slash 'q' %s %n.mp4"),
    }
    add_folder(app, library)

    stats = scan(app)

    assert stats.new == 7 and stats.errors == 0, stats.summary()
    client = app.test_client()
    for path in (unicode, hostile, *extra.values()):
        row = video_at(app, path)
        assert row is not None, repr(path.name)
        assert row["path"] == str(path)
        assert os.fsencode(row["path"]) == os.fsencode(path)  # byte for byte, no normalisation
        assert row["filename"] == path.name
        assert Path(row["path"]).read_bytes() == path.read_bytes()
        data = client.get(f"/api/get-video-data/{row['hash']}").get_json()
        assert data["filename"] == path.name
    assert "\u0301" in video_at(app, extra["nfd"])["path"]
    # Nothing in a name was ever run by a shell.
    assert not any(p.name == "pwned" for p in library.parent.rglob("pwned"))
    assert not (Path.cwd() / "pwned").exists()
    # And a rescan finds them all unchanged (the stored paths compare equal to the walked ones).
    again = scan(app)
    assert again.unchanged == 7 and again.new == 0 and again.missing == 0


# -- unchanged rescans -------------------------------------------------------------------------------


def test_unchanged_rescan_reads_nothing(app, library, sample_videos):
    for key in (*VIDEO_KEYS, *BROKEN_KEYS):
        copy_sample(sample_videos, key, library)
    (library / "x.mp4").symlink_to(library / "gone.mp4")
    add_folder(app, library)
    first = scan(app)
    assert first.hashed_bytes > 0
    before = rows(app, "SELECT * FROM videos ORDER BY hash")

    second = scan(app)

    assert second.files == first.files == len(VIDEO_KEYS) + len(BROKEN_KEYS) + 1
    assert second.unchanged == second.files, second.summary()
    assert second.hashed_bytes == 0
    for name in ("new", "updated", "moved", "restored", "duplicates", "collisions", "errors", "missing"):
        assert getattr(second, name) == 0, name
    assert second.changed_hashes == []
    assert rows(app, "SELECT * FROM videos ORDER BY hash") == before  # not even updated_at moves


def test_touched_file_is_updated_not_new(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "mkv", library)
    add_folder(app, library)
    scan(app)
    old = video_at(app, path)
    favourite(client, old["hash"])

    bump_mtime(path)
    stats = scan(app)

    assert stats.updated == 1 and stats.new == 0 and stats.unchanged == 1, stats.summary()
    assert 0 < stats.hashed_bytes <= 2 * CHUNK  # identity re-checked with one oshash, nothing more
    assert len(all_videos(app)) == 2
    row = video_at(app, path)
    assert row["hash"] == old["hash"]
    assert row["mtime"] == path.stat().st_mtime != old["mtime"]
    assert row["added_at"] == old["added_at"]
    assert is_favourite(client, row["hash"])
    # The new mtime is remembered: the next scan is quiet again.
    third = scan(app)
    assert third.unchanged == 2 and third.hashed_bytes == 0


def test_progress_is_reported_per_file(app, library, sample_videos):
    for key in ("mp4", "mkv", "corrupt"):
        copy_sample(sample_videos, key, library)
    folder_id = add_folder(app, library)
    calls = []
    st = app.extensions["vidlib"]

    Scanner(st.db, st.config, progress=lambda done, total: calls.append((done, total))).scan_folder(folder_id)

    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_scan_folder_of_unknown_id_raises(app):
    st = app.extensions["vidlib"]
    with pytest.raises(LookupError):
        Scanner(st.db, st.config).scan_folder(12345)


def test_unreachable_folder_leaves_its_videos_alone(app, library, sample_videos):
    copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)

    shutil.rmtree(library)  # e.g. an unmounted drive
    stats = scan(app)

    assert stats.missing == 0 and stats.files == 0
    assert [r["missing"] for r in all_videos(app)] == [0]


# -- the walk ----------------------------------------------------------------------------------------


def _walk_names(app, root: Path) -> list[str]:
    cfg = app.extensions["vidlib"].config
    found = list(itertools.islice(walk(str(root), set(cfg["VIDEO_EXTENSIONS"]), set(cfg["SKIP_DIRS"])), 1000))
    return sorted(os.path.relpath(f.path, root) for f in found)


def test_walk_is_recursive_and_skips_hidden_skip_dirs_and_other_extensions(app, library, sample_videos):
    copy_sample(sample_videos, "mp4", library / "a" / "b" / "c", name="deep.mp4")
    copy_sample(sample_videos, "mkv", library, name="UPPER.MP4")
    copy_sample(sample_videos, "webm", library / "x", name="Mixed.WebM")
    copy_sample(sample_videos, "short", library, name="top.mp4")
    # Never looked at:
    copy_sample(sample_videos, "noaudio", library / ".hidden", name="hidden-dir.mp4")
    copy_sample(sample_videos, "noaudio", library / "a" / ".cache", name="nested-hidden.mp4")
    copy_sample(sample_videos, "noaudio", library, name=".dotfile.mp4")
    copy_sample(sample_videos, "noaudio", library / "@eaDir", name="thumb.mp4")
    copy_sample(sample_videos, "noaudio", library / "a" / "#recycle", name="deleted.mp4")
    copy_sample(sample_videos, "noaudio", library / "node_modules", name="pkg.mp4")
    copy_sample(sample_videos, "noaudio", library, name="clip.mp4.txt")
    copy_sample(sample_videos, "noaudio", library, name="mp4")  # no extension at all
    copy_sample(sample_videos, "noaudio", library, name="noext")
    (library / "a" / "notes.txt").write_text("hello")
    (library / "dir.mp4").mkdir()  # a directory with a video-like name
    copy_sample(sample_videos, "rotated", library / "dir.mp4", name="inside.mp4")

    assert _walk_names(app, library) == sorted(
        ["UPPER.MP4", "a/b/c/deep.mp4", "dir.mp4/inside.mp4", "top.mp4", "x/Mixed.WebM"]
    )

    add_folder(app, library)
    stats = scan(app)

    assert stats.files == 5 and stats.new == 5 and stats.errors == 0, stats.summary()
    names = {r["filename"] for r in all_videos(app)}
    assert names == {"deep.mp4", "UPPER.MP4", "Mixed.WebM", "top.mp4", "inside.mp4"}
    assert errors_by_name(app) == {}


def test_configured_extensions_and_skip_dirs(make_app, library, sample_videos):
    app = make_app(VIDEO_EXTENSIONS=[".MKV"], SKIP_DIRS=["Private"])
    copy_sample(sample_videos, "mkv", library, name="keep.mkv")
    copy_sample(sample_videos, "mkv", library / "sub", name="KEEP2.Mkv")
    copy_sample(sample_videos, "mp4", library, name="not-listed.mp4")
    copy_sample(sample_videos, "mkv", library / "Private", name="skipped.mkv")
    copy_sample(sample_videos, "mkv", library / "private", name="other-case.mkv")  # names match exactly

    assert _walk_names(app, library) == ["keep.mkv", "private/other-case.mkv", "sub/KEEP2.Mkv"]


def test_symlink_loop_does_not_hang_or_double_count(app, library, sample_videos):
    copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "mkv", library / "sub")
    (library / "sub" / "loop").symlink_to(library, target_is_directory=True)  # sub/loop -> its parent
    (library / "sub" / "self").symlink_to(".", target_is_directory=True)  # sub/self -> sub
    (library / "sub" / "deeper").mkdir()
    (library / "sub" / "deeper" / "up").symlink_to("../..", target_is_directory=True)

    # islice bounds the generator: a loop would show up as too many files, not as a hang.
    assert _walk_names(app, library) == sorted([sample_videos["mp4"].name, "sub/" + sample_videos["mkv"].name])

    add_folder(app, library)
    stats = scan(app)

    assert stats.files == 2 and stats.new == 2 and stats.duplicates == 0, stats.summary()
    assert len(all_videos(app)) == 2
    assert rows(app, "SELECT * FROM duplicates") == []


def test_symlinked_directory_outside_the_library_is_followed(app, library, sample_videos, tmp_path):
    outside = tmp_path / "outside"
    copy_sample(sample_videos, "mp4", outside, name="linked.mp4")
    (library / "ext").symlink_to(outside, target_is_directory=True)
    add_folder(app, library)

    stats = scan(app)

    assert stats.new == 1
    assert video_at(app, library / "ext" / "linked.mp4") is not None


def test_data_and_media_dirs_are_never_scanned_through_links(app, library, sample_videos):
    st = app.extensions["vidlib"]
    data_dir, media_dir = Path(st.config["DATA_DIR"]), Path(st.config["MEDIA_DIR"])
    copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "mkv", data_dir, name="stray-in-data.mkv")
    copy_sample(sample_videos, "webm", media_dir, name="teaser.webm")
    (library / "data-link").symlink_to(data_dir, target_is_directory=True)
    (library / "media-link").symlink_to(media_dir, target_is_directory=True)
    add_folder(app, library)

    stats = scan(app)

    assert stats.files == 1 and stats.new == 1, stats.summary()
    assert [r["filename"] for r in all_videos(app)] == [sample_videos["mp4"].name]


def test_data_dir_inside_a_library_folder_is_never_scanned(make_app, library, sample_videos):
    """A folder that holds the data dir cannot be added, but an old database may have one."""
    app = make_app(DATA_DIR=str(library / "vidlib-data"))
    st = app.extensions["vidlib"]
    copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "mkv", Path(st.config["DATA_DIR"]), name="stray.mkv")
    copy_sample(sample_videos, "webm", Path(st.config["MEDIA_DIR"]) / "abc", name="teaser.webm")
    with pytest.raises(VidlibError, match="data dir"):
        add_folder(app, library)
    st.db.execute("INSERT INTO folders (path, added_at) VALUES (?, ?)", [str(library), now_iso()])

    stats = scan(app)

    assert stats.files == 1 and stats.new == 1, stats.summary()
    assert [r["filename"] for r in all_videos(app)] == [sample_videos["mp4"].name]
    assert errors_by_name(app) == {}  # the SQLite files were not even looked at


# -- moves and renames ---------------------------------------------------------------------------------


def test_rename_and_move_keep_identity_and_favourite(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "mp4", library)
    copy_sample(sample_videos, "mkv", library)
    add_folder(app, library)
    scan(app)
    old = video_at(app, path)
    favourite(client, old["hash"])

    new_path = library / "sub" / "dir" / "renamed clip.mp4"
    new_path.parent.mkdir(parents=True)
    path.rename(new_path)
    stats = scan(app)

    assert stats.moved == 1, stats.summary()
    assert stats.new == 0 and stats.missing == 0 and stats.restored == 0 and stats.unchanged == 1
    assert stats.changed_hashes == [old["hash"]]
    assert len(all_videos(app)) == 2
    row = video(app, old["hash"])
    assert row["path"] == str(new_path)
    assert row["filename"] == "renamed clip.mp4"
    assert row["missing"] == 0 and row["missing_since"] is None
    assert row["added_at"] == old["added_at"]
    assert row["duration"] == old["duration"]
    assert is_favourite(client, old["hash"])
    data = client.get(f"/api/get-video-data/{old['hash']}").get_json()
    assert data["filename"] == "renamed clip.mp4" and data["favourite"] is True
    assert data["title"] == "renamed clip"  # descriptive metadata follows the new name
    assert scan(app).unchanged == 2


def test_moving_a_whole_subfolder_keeps_every_video(app, library, sample_videos, client):
    paths = {key: copy_sample(sample_videos, key, library / "trip") for key in ("mp4", "webm", "mkv")}
    copy_sample(sample_videos, "short", library / "other")
    add_folder(app, library)
    scan(app)
    hashes = {key: video_at(app, p)["hash"] for key, p in paths.items()}
    favourite(client, hashes["webm"])

    (library / "2023").mkdir()
    (library / "trip").rename(library / "2023" / "trip renamed")
    stats = scan(app)

    assert stats.moved == 3 and stats.new == 0 and stats.missing == 0 and stats.unchanged == 1, stats.summary()
    assert len(all_videos(app)) == 4
    for key, video_hash in hashes.items():
        row = video(app, video_hash)
        assert row["path"] == str(library / "2023" / "trip renamed" / paths[key].name)
        assert row["missing"] == 0
    assert is_favourite(client, hashes["webm"])


def test_move_between_library_folders_keeps_identity(app, tmp_path, sample_videos, client):
    first, second = tmp_path / "lib1", tmp_path / "lib2"
    path = copy_sample(sample_videos, "mp4", first)
    second.mkdir()
    first_id, second_id = add_folder(app, first), add_folder(app, second)
    scan(app)
    video_hash = video_at(app, path)["hash"]
    favourite(client, video_hash)

    shutil.move(path, second / "moved.mp4")
    scan(app)  # folder 1 first (the video goes missing), then folder 2 (it comes back)

    row = video(app, video_hash)
    assert row["missing"] == 0 and row["folder_id"] == second_id != first_id
    assert row["path"] == str(second / "moved.mp4")
    assert len(all_videos(app)) == 1
    assert is_favourite(client, video_hash)


# -- missing and restored ----------------------------------------------------------------------------


def test_deleted_video_is_marked_missing_and_restored_with_its_favourite(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "mp4", library)
    keep = copy_sample(sample_videos, "mkv", library)
    add_folder(app, library)
    scan(app)
    video_hash = video_at(app, path)["hash"]
    favourite(client, video_hash)

    path.unlink()
    stats = scan(app)

    assert stats.missing == 1 and stats.unchanged == 1, stats.summary()
    row = video(app, video_hash)
    assert row["missing"] == 1 and row["missing_since"]
    assert row["path"] == str(path)  # the row is kept as it was
    assert len(all_videos(app)) == 2
    assert client.get(f"/api/get-video-data/{video_hash}").status_code == 404
    assert rows(app, "SELECT hash FROM favourites") == [{"hash": video_hash}]
    assert client.get("/api/stats").status_code == 200
    # Missing stays missing on a quiet rescan (not counted again).
    assert scan(app).missing == 0 and video(app, video_hash)["missing"] == 1

    shutil.copy2(sample_videos["mp4"], path)
    stats = scan(app)

    assert stats.restored == 1 and stats.new == 0, stats.summary()
    row = video(app, video_hash)
    assert row["missing"] == 0 and row["missing_since"] is None and row["path"] == str(path)
    assert len(all_videos(app)) == 2
    response = client.get(f"/api/get-video-data/{video_hash}")
    assert response.status_code == 200 and response.get_json()["favourite"] is True
    assert video_at(app, keep) is not None


def test_missing_video_restored_under_another_name(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "webm", library)
    add_folder(app, library)
    scan(app)
    video_hash = video_at(app, path)["hash"]
    favourite(client, video_hash)
    path.unlink()
    scan(app)

    copy_sample(sample_videos, "webm", library / "back", name="found again.webm")
    stats = scan(app)

    assert stats.restored == 1 and stats.new == 0
    assert video(app, video_hash)["path"] == str(library / "back" / "found again.webm")
    assert is_favourite(client, video_hash)


# -- duplicates and collisions -------------------------------------------------------------------------


def test_identical_copy_is_a_duplicate_not_a_second_video(app, library, sample_videos, client):
    one = copy_sample(sample_videos, "mp4", library)
    two = copy_sample(sample_videos, "mp4", library / "backup", name="copy of clip.mp4")
    add_folder(app, library)

    stats = scan(app)

    assert stats.new == 1 and stats.duplicates == 1 and stats.collisions == 0, stats.summary()
    videos = all_videos(app)
    assert len(videos) == 1
    video_hash = videos[0]["hash"]
    primary = videos[0]["path"]
    assert primary in (str(one), str(two))
    copy = str(two) if primary == str(one) else str(one)
    assert videos[0]["full_hash"]  # computed to tell duplicate from collision
    dups = rows(app, "SELECT path, hash FROM duplicates")
    assert dups == [{"path": copy, "hash": video_hash}]
    listed = client.get("/api/duplicates")
    assert listed.status_code == 200
    assert listed.get_json() == [{"hash": video_hash, "path": primary, "copies": [copy]}]
    assert rows(app, "SELECT * FROM collisions") == []

    again = scan(app)
    assert again.unchanged == 2 and again.hashed_bytes == 0 and again.duplicates == 0


def test_duplicate_takes_over_when_the_primary_is_deleted(app, library, sample_videos, client):
    copy_sample(sample_videos, "mkv", library)
    copy_sample(sample_videos, "mkv", library / "backup", name="copy.mkv")
    add_folder(app, library)
    scan(app)
    (row,) = all_videos(app)
    (dup,) = rows(app, "SELECT path FROM duplicates")
    favourite(client, row["hash"])

    Path(row["path"]).unlink()
    stats = scan(app)

    assert stats.missing == 0, stats.summary()
    now = video(app, row["hash"])
    assert now["missing"] == 0
    assert now["path"] == dup["path"]
    assert now["filename"] == os.path.basename(dup["path"])
    assert rows(app, "SELECT * FROM duplicates") == []
    assert client.get("/api/duplicates").get_json() == []
    assert is_favourite(client, row["hash"])
    assert client.get(f"/api/get-video-data/{row['hash']}").status_code == 200
    quiet = scan(app)
    assert quiet.unchanged == 1 and quiet.hashed_bytes == 0, quiet.summary()

    # With the last copy gone too, the video is missing.
    Path(dup["path"]).unlink()
    assert scan(app).missing == 1
    assert video(app, row["hash"])["missing"] == 1


def test_deleted_duplicate_copy_is_forgotten(app, library, sample_videos):
    copy_sample(sample_videos, "mkv", library)
    copy_sample(sample_videos, "mkv", library / "backup", name="copy.mkv")
    add_folder(app, library)
    scan(app)
    (row,) = all_videos(app)
    (dup,) = rows(app, "SELECT path FROM duplicates")

    Path(dup["path"]).unlink()
    stats = scan(app)

    assert stats.missing == 0 and stats.unchanged == 1
    assert rows(app, "SELECT * FROM duplicates") == []
    assert video(app, row["hash"])["path"] == row["path"] and video(app, row["hash"])["missing"] == 0


def test_oshash_collision_keeps_two_distinct_videos(app, library, sample_videos, client, caplog):
    a = copy_sample(sample_videos, "large", library, name="Collide A.mp4")
    b = flip_middle(sample_videos["large"], library / "Collide B.mp4")
    # Preconditions: a real collision of two playable videos.
    assert a.stat().st_size == b.stat().st_size
    assert a.read_bytes()[:CHUNK] == b.read_bytes()[:CHUNK] and a.read_bytes()[-CHUNK:] == b.read_bytes()[-CHUNK:]
    assert a.read_bytes() != b.read_bytes()
    assert hashing.oshash(a)[0] == hashing.oshash(b)[0]
    assert probe(str(a)).width == probe(str(b)).width == 320
    add_folder(app, library)

    with caplog.at_level(logging.WARNING):
        stats = scan(app)

    assert stats.new == 2 and stats.collisions == 1 and stats.duplicates == 0 and stats.errors == 0, stats.summary()
    videos = all_videos(app)
    assert len(videos) == 2
    assert {v["path"] for v in videos} == {str(a), str(b)}
    assert videos[0]["oshash"] == videos[1]["oshash"] == hashing.oshash(a)[0]
    assert videos[0]["hash"] != videos[1]["hash"]
    assert all(hashing.is_valid_hash(v["hash"]) for v in videos)
    assert {v["full_hash"] for v in videos} == {hashing.full_hash(a), hashing.full_hash(b)}
    assert rows(app, "SELECT * FROM duplicates") == []
    (collision,) = rows(app, "SELECT * FROM collisions")
    assert collision["oshash"] == videos[0]["oshash"]
    assert {collision["path_a"], collision["path_b"]} == {str(a), str(b)}
    assert {collision["hash_a"], collision["hash_b"]} == {v["hash"] for v in videos}

    listed = client.get("/api/collisions")
    assert listed.status_code == 200
    (item,) = listed.get_json()
    assert {item["path_a"], item["path_b"]} == {str(a), str(b)}
    assert item["oshash"] == collision["oshash"]

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("collision" in m.lower() and str(a) in m and str(b) in m for m in warnings), warnings

    # Both are real videos the API serves separately.
    for v in videos:
        assert client.get(f"/api/get-video-data/{v['hash']}").status_code == 200

    caplog.clear()
    again = scan(app)
    assert again.unchanged == 2 and again.new == 0 and again.collisions == 0, again.summary()
    assert len(all_videos(app)) == 2
    assert len(rows(app, "SELECT * FROM collisions")) == 1
    assert {v["hash"] for v in all_videos(app)} == {v["hash"] for v in videos}


def test_collision_found_on_a_later_scan(app, library, sample_videos):
    a = copy_sample(sample_videos, "large", library, name="first.mp4")
    add_folder(app, library)
    scan(app)
    first_hash = video_at(app, a)["hash"]

    b = flip_middle(sample_videos["large"], library / "later.mp4")
    stats = scan(app)

    assert stats.new == 1 and stats.collisions == 1 and stats.unchanged == 1, stats.summary()
    assert video_at(app, a)["hash"] == first_hash  # the first one keeps its id
    later = video_at(app, b)
    assert later["hash"] == hashing.full_hash(b) != first_hash
    assert len(all_videos(app)) == 2


@pytest.mark.parametrize("which", ["a", "b"])
def test_colliding_video_deleted_and_restored_keeps_its_own_row(app, library, sample_videos, client, which):
    a = copy_sample(sample_videos, "large", library, name="Collide A.mp4")
    b = flip_middle(sample_videos["large"], library / "Collide B.mp4")
    add_folder(app, library)
    scan(app)
    hashes = {"a": video_at(app, a)["hash"], "b": video_at(app, b)["hash"]}
    paths = {"a": a, "b": b}
    gone, other = which, ("b" if which == "a" else "a")
    favourite(client, hashes[gone])
    saved = paths[gone].read_bytes()

    paths[gone].unlink()
    stats = scan(app)
    assert stats.missing == 1
    assert video(app, hashes[gone])["missing"] == 1 and video(app, hashes[other])["missing"] == 0

    restored = library / "restored" / "back.mp4"
    restored.parent.mkdir()
    restored.write_bytes(saved)
    stats = scan(app)

    assert stats.restored == 1 and stats.new == 0, stats.summary()
    assert video(app, hashes[gone])["path"] == str(restored)
    assert video(app, hashes[gone])["missing"] == 0
    assert video(app, hashes[other])["path"] == str(paths[other])
    assert len(all_videos(app)) == 2
    assert is_favourite(client, hashes[gone]) and not is_favourite(client, hashes[other])


def test_moved_colliding_video_keeps_its_row(app, library, sample_videos):
    a = copy_sample(sample_videos, "large", library, name="Collide A.mp4")
    b = flip_middle(sample_videos["large"], library / "Collide B.mp4")
    add_folder(app, library)
    scan(app)
    hashes = {video_at(app, a)["hash"], video_at(app, b)["hash"]}
    hash_b = video_at(app, b)["hash"]

    target = library / "moved" / "B elsewhere.mp4"
    target.parent.mkdir()
    b.rename(target)
    stats = scan(app)

    assert stats.moved == 1 and stats.new == 0 and stats.collisions == 0, stats.summary()
    assert {v["hash"] for v in all_videos(app)} == hashes
    assert video(app, hash_b)["path"] == str(target)
    assert len(rows(app, "SELECT * FROM collisions")) == 1


def test_duplicate_in_another_folder_takes_over(app, tmp_path, sample_videos):
    first, second = tmp_path / "lib1", tmp_path / "lib2"
    path = copy_sample(sample_videos, "webm", first)
    copy_sample(sample_videos, "webm", second, name="copy.webm")
    add_folder(app, first)
    second_id = add_folder(app, second)
    scan(app)
    (row,) = all_videos(app)
    assert row["path"] == str(path)

    path.unlink()
    stats = scan(app)

    assert stats.missing == 0 and stats.moved == 1, stats.summary()
    now = video(app, row["hash"])
    assert now["missing"] == 0 and now["path"] == str(second / "copy.webm") and now["folder_id"] == second_id
    assert scan(app).unchanged == 1


# -- content changed in place ----------------------------------------------------------------------------


def test_content_replaced_at_the_same_path(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "mp4", library, name="clip.mp4")
    add_folder(app, library)
    scan(app)
    old_hash = video_at(app, path)["hash"]
    favourite(client, old_hash)

    shutil.copyfile(sample_videos["mkv"], path)  # a different video, same name
    stats = scan(app)

    assert stats.new == 1 and stats.missing == 1 and stats.moved == 0 and stats.updated == 0, stats.summary()
    old = video(app, old_hash)
    assert old["missing"] == 1 and old["missing_since"]
    new = video_at(app, path)
    assert new["hash"] == hashing.oshash(path)[0] != old_hash
    assert new["container"] == "matroska"  # probed from the bytes, not the extension
    assert new["duration"] == pytest.approx(1.5, abs=0.1)
    assert len(all_videos(app)) == 2
    assert client.get(f"/api/get-video-data/{old_hash}").status_code == 404
    assert not is_favourite(client, new["hash"])

    # Putting the old content back swaps them again; the favourite was kept on the old row.
    shutil.copyfile(sample_videos["mp4"], path)
    stats = scan(app)
    assert stats.restored == 1 and stats.new == 0, stats.summary()
    assert video_at(app, path)["hash"] == old_hash
    assert video(app, new["hash"])["missing"] == 1
    assert is_favourite(client, old_hash)
    assert len(all_videos(app)) == 2


def test_content_replaced_by_a_broken_file(app, library, sample_videos):
    path = copy_sample(sample_videos, "mp4", library, name="clip.mp4")
    add_folder(app, library)
    scan(app)
    old_hash = video_at(app, path)["hash"]

    shutil.copyfile(sample_videos["corrupt"], path)
    stats = scan(app)

    assert stats.errors == 1 and stats.new == 0
    assert video(app, old_hash)["missing"] == 1
    assert "clip.mp4" in errors_by_name(app)
    assert video_at(app, path) is None


# -- library folders ------------------------------------------------------------------------------------


def test_remove_folder_marks_its_videos_missing(app, tmp_path, sample_videos, client):
    first, second = tmp_path / "lib1", tmp_path / "lib2"
    a = copy_sample(sample_videos, "mp4", first)
    copy_sample(sample_videos, "mp4", first / "dup", name="copy.mp4")
    b = copy_sample(sample_videos, "mkv", second)
    first_id = add_folder(app, first)
    add_folder(app, second)
    scan(app)
    hash_a, hash_b = video_at(app, a)["hash"], video_at(app, b)["hash"]
    favourite(client, hash_a)
    db = db_of(app)

    folders.remove_folder(db, first_id)

    assert video(app, hash_a)["missing"] == 1 and video(app, hash_a)["missing_since"]
    assert video(app, hash_b)["missing"] == 0
    assert rows(app, "SELECT * FROM duplicates") == []
    assert [f["path"] for f in folders.list_folders(db)] == [str(second)]
    assert client.get(f"/api/get-video-data/{hash_a}").status_code == 404
    assert a.exists()  # nothing on disk is touched
    with pytest.raises(NotFound):
        folders.remove_folder(db, first_id)
    # A rescan of the remaining folders does not bring it back.
    assert scan(app).restored == 0 and video(app, hash_a)["missing"] == 1

    # Adding the folder again brings the same rows back, favourite included.
    add_folder(app, first)
    stats = scan(app)
    assert stats.restored == 1 and stats.new == 0, stats.summary()
    assert video(app, hash_a)["missing"] == 0
    assert is_favourite(client, hash_a)
    assert len(all_videos(app)) == 2


def test_removed_folder_video_with_a_copy_in_another_folder_stays_present(app, tmp_path, sample_videos, client):
    first, second = tmp_path / "lib1", tmp_path / "lib2"
    copy_sample(sample_videos, "mp4", first)
    copy_sample(sample_videos, "mp4", second, name="backup copy.mp4")
    first_id = add_folder(app, first)
    second_id = add_folder(app, second)
    scan(app)
    (row,) = all_videos(app)
    assert row["folder_id"] == first_id
    favourite(client, row["hash"])

    folders.remove_folder(db_of(app), first_id)

    now = video(app, row["hash"])
    assert now["missing"] == 0
    assert now["path"] == str(second / "backup copy.mp4") and now["folder_id"] == second_id
    assert rows(app, "SELECT * FROM duplicates") == []
    assert is_favourite(client, row["hash"])
    quiet = scan(app)
    assert quiet.unchanged == 1 and quiet.missing == 0 and quiet.hashed_bytes == 0, quiet.summary()


def test_add_folder_returns_the_canonical_path(app, library, tmp_path, monkeypatch):
    link = tmp_path / "link-to-library"
    link.symlink_to(library, target_is_directory=True)
    st = app.extensions["vidlib"]

    row = folders.add_folder(st.db, st.config, str(link) + "/")

    assert row["path"] == os.path.realpath(library)
    assert row["video_count"] == 0 and row["reachable"] is True
    # "~" means the user's home.
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "home videos").mkdir()
    assert folders.add_folder(st.db, st.config, "~/home videos")["path"] == str(tmp_path / "home videos")


def test_add_folder_validation_errors(app, library, tmp_path):
    st = app.extensions["vidlib"]
    db, config = st.db, st.config

    def add(path):
        return folders.add_folder(db, config, str(path))

    a_file = tmp_path / "file.mp4"
    a_file.write_bytes(b"x")
    with pytest.raises(VidlibError, match="does not exist"):
        add(tmp_path / "nope")
    with pytest.raises(VidlibError, match="not a folder"):
        add(a_file)
    with pytest.raises(VidlibError, match="absolute"):
        add("relative/library")
    with pytest.raises(VidlibError, match="non-empty"):
        add("   ")
    with pytest.raises(VidlibError, match="NUL"):
        add(str(library) + "\0x")
    data_dir = Path(config["DATA_DIR"])
    (data_dir / "inside").mkdir()
    with pytest.raises(VidlibError, match="data dir"):
        add(data_dir)
    with pytest.raises(VidlibError, match="data dir"):
        add(data_dir / "inside")
    with pytest.raises(VidlibError, match="media dir|data dir"):
        add(config["MEDIA_DIR"])
    with pytest.raises(VidlibError, match="contains vidlib's data dir"):
        add(data_dir.parent)  # tmp_path holds both the library and the data dir
    assert db.execute("SELECT COUNT(*) FROM folders").fetchone()[0] == 0

    add(library)
    (library / "sub").mkdir()
    with pytest.raises(Conflict, match="already in the library"):
        add(library)
    with pytest.raises(Conflict, match="already in the library"):
        add(str(library) + "/")
    link = tmp_path / "same-library"
    link.symlink_to(library, target_is_directory=True)
    with pytest.raises(Conflict, match="already in the library"):
        add(link)
    with pytest.raises(Conflict, match="inside library folder"):
        add(library / "sub")
    sibling = tmp_path / "library-2"  # a name prefix is not nesting
    sibling.mkdir()
    add(sibling)
    assert [f["path"] for f in folders.list_folders(db)] == [str(library), str(sibling)]


def test_add_folder_that_contains_an_existing_folder_is_refused(make_app, tmp_path):
    app = make_app(DATA_DIR=str(tmp_path / "elsewhere" / "data"))
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    add_folder(app, outer / "inner")
    with pytest.raises(Conflict, match="contains library folder"):
        add_folder(app, outer)


def test_two_videos_swapping_names_keep_their_identities(app, library, sample_videos, client):
    """A live candidate whose path now holds other content is not a live copy."""
    one = copy_sample(sample_videos, "mp4", library, name="part 1.mp4")
    two = copy_sample(sample_videos, "mkv", library, name="part 2.mp4")
    add_folder(app, library)
    scan(app)
    hash_one, hash_two = video_at(app, one)["hash"], video_at(app, two)["hash"]
    favourite(client, hash_two)

    tmp = library / "swap.tmp"
    one.rename(tmp)
    two.rename(one)
    tmp.rename(two)
    stats = scan(app)

    assert stats.new == 0 and stats.collisions == 0 and stats.errors == 0, stats.summary()
    assert len(all_videos(app)) == 2
    assert video(app, hash_one)["path"] == str(two) and video(app, hash_one)["missing"] == 0
    assert video(app, hash_two)["path"] == str(one) and video(app, hash_two)["missing"] == 0
    assert rows(app, "SELECT * FROM collisions") == []
    assert is_favourite(client, hash_two) and not is_favourite(client, hash_one)
    assert scan(app).unchanged == 2


def test_renamed_video_with_new_content_at_its_old_path(app, library, sample_videos, client):
    """``sub/clip.mp4`` renamed to ``clip-old.mp4`` and a new download saved as ``sub/clip.mp4``.

    The walk lists a folder's own files before its subfolders, so the renamed file is met
    while its old path still exists (holding other content).
    """
    old_path = copy_sample(sample_videos, "mp4", library / "sub", name="clip.mp4")
    add_folder(app, library)
    scan(app)
    video_hash = video_at(app, old_path)["hash"]
    favourite(client, video_hash)

    old_path.rename(library / "clip-old.mp4")
    shutil.copyfile(sample_videos["webm"], old_path)
    stats = scan(app)

    assert stats.moved == 1 and stats.new == 1 and stats.collisions == 0 and stats.missing == 0, stats.summary()
    row = video(app, video_hash)
    assert row["path"] == str(library / "clip-old.mp4") and row["missing"] == 0
    assert video_at(app, old_path)["hash"] == hashing.oshash(old_path)[0]
    assert len(all_videos(app)) == 2
    assert rows(app, "SELECT * FROM collisions") == []
    assert is_favourite(client, video_hash)


def test_content_replaced_at_the_primary_path_lets_its_duplicate_take_over(app, library, sample_videos, client):
    path = copy_sample(sample_videos, "mp4", library, name="clip.mp4")
    copy = copy_sample(sample_videos, "mp4", library / "backup", name="clip.mp4")
    add_folder(app, library)
    scan(app)
    (old,) = all_videos(app)
    favourite(client, old["hash"])
    primary, spare = (path, copy) if old["path"] == str(path) else (copy, path)

    shutil.copyfile(sample_videos["mkv"], primary)  # overwritten with another video
    stats = scan(app)

    assert stats.new == 1 and stats.missing == 0, stats.summary()
    row = video(app, old["hash"])
    assert row["missing"] == 0 and row["path"] == str(spare)
    assert video_at(app, primary)["hash"] == hashing.oshash(primary)[0]
    assert rows(app, "SELECT * FROM duplicates") == []
    assert is_favourite(client, old["hash"])
    quiet = scan(app)
    assert quiet.unchanged == 2 and quiet.hashed_bytes == 0, quiet.summary()
