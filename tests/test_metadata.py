"""Descriptive metadata: file names, `.nfo` and `.json` sidecars, and how scans apply them.

The parsing functions are tested directly on names and real sidecar files; the scan tests use
real videos in a temp library and read the result back through the HTTP API.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.conftest import add_folder, copy_sample, scan
from vidlib.library import metadata as md

FULL_NAME = "Acme Studio - 2023-05-01 - Jane Doe, John Roe - Beach Day.mp4"

NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<movie>
  <title>Sunset   Walk</title>
  <originaltitle>ignored</originaltitle>
  <studio>Nfo Studio</studio>
  <studio>Second Studio</studio>
  <actor><name>Alice Example</name><role>Lead</role></actor>
  <actor><name> Bob  Example </name></actor>
  <actor><name>alice example</name></actor>
  <genre>Travel</genre>
  <genre>Outdoor</genre>
  <tag>Beach</tag>
  <tag>travel</tag>
  <premiered>2021-07-04</premiered>
  <year>1999</year>
  <plot>
    A walk along the shore.
Second line.
  </plot>
</movie>
"""


# -- helpers -----------------------------------------------------------------------------------


def api_video(app, path: Path) -> dict:
    """The API record of the present video at ``path``."""
    row = app.extensions["vidlib"].db.execute("SELECT hash FROM videos WHERE path = ? AND missing = 0", [str(path)]).fetchone()
    assert row is not None, f"{path} is not indexed"
    response = app.test_client().get(f"/api/get-video-data/{row[0]}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def described(data: dict) -> dict:
    return {k: data[k] for k in ("title", "studio", "performers", "categories", "date", "description")}


def bump_mtime(path: Path, seconds: float = 5.0) -> None:
    """Move a file's mtime forward so a rewrite is seen even on coarse-mtime filesystems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def write_sidecar(video: Path, ext: str, text: str) -> Path:
    path = video.with_suffix(ext)
    existed = path.exists()
    path.write_text(text, encoding="utf-8")
    if existed:
        bump_mtime(path)
    return path


# -- file names --------------------------------------------------------------------------------


def test_full_name_pattern():
    assert md.from_filename(FULL_NAME) == {
        "title": "Beach Day",
        "studio": "Acme Studio",
        "date": "2023-05-01",
        "performers": ["Jane Doe", "John Roe"],
    }


def test_name_parsed_from_a_full_path():
    assert md.from_filename("/videos/Acme - 2023-05-01 - Beach Day.mkv") == {"title": "Beach Day", "studio": "Acme", "date": "2023-05-01"}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Acme - 2023-05-01 - Beach Day.mp4", {"title": "Beach Day", "studio": "Acme", "date": "2023-05-01"}),
        ("2023-05-01 - Beach Day.mp4", {"title": "Beach Day", "date": "2023-05-01"}),
        ("Acme - 2023.05.01 - Beach Day.mp4", {"title": "Beach Day", "studio": "Acme", "date": "2023-05-01"}),
        ("beach_day.mp4", {"title": "beach day"}),
        ("beach.day.final.mp4", {"title": "beach day final"}),
        ("Dr. Who at the beach.mp4", {"title": "Dr. Who at the beach"}),  # has spaces: dots kept
        ("Beach   Day .mp4", {"title": "Beach Day"}),
        ("Self-Made Man - Director's Cut.mp4", {"title": "Self-Made Man - Director's Cut"}),
        ("Acme - 2023-05-01 - Self-Made Man.mp4", {"title": "Self-Made Man", "studio": "Acme", "date": "2023-05-01"}),
        ("Ünïcødé 日本語 – Vidéo.mp4", {"title": "Ünïcødé 日本語 – Vidéo"}),
        ("noext", {"title": "noext"}),
    ],
)
def test_simpler_names_degrade_gracefully(name, expected):
    assert md.from_filename(name) == expected


def test_performer_separators():
    meta = md.from_filename("Acme - 2023-05-01 - Jane Doe & John Roe and Ann Lee,Bo - Beach Day.mp4")
    assert meta["performers"] == ["Jane Doe", "John Roe", "Ann Lee", "Bo"]
    # " and " needs spaces: a name containing "and" is not split.
    assert md.from_filename("Acme - 2023-05-01 - Sandy Andrews - T.mp4")["performers"] == ["Sandy Andrews"]
    # Repeated names (any case) are kept once, in order.
    assert md.from_filename("Acme - 2023-05-01 - Jane, jane ,John - T.mp4")["performers"] == ["Jane", "John"]


def test_custom_performer_separator():
    meta = md.from_filename("Acme - 2023-05-01 - Jane Doe; John, Jr. - T.mp4", performer_separators=";")
    assert meta["performers"] == ["Jane Doe", "John, Jr."]


@pytest.mark.parametrize(
    "name",
    [
        "Acme - 2023-13-45 - Jane Doe - Beach Day.mp4",
        "Acme - 2023-02-30 - Beach Day.mp4",
        "2023-00-10 - Beach Day.mp4",
    ],
)
def test_invalid_date_falls_back_to_the_name_as_title(name):
    stem = os.path.splitext(name)[0]
    assert md.from_filename(name) == {"title": stem}


def test_extra_pattern_is_tried_first():
    pattern = r"^\[(?P<studio>[^\]]+)\] (?P<title>.+?) \((?P<date>\d{4})\)$"
    assert md.from_filename("[Indie Co] My Holiday (2019).mp4", pattern) == {"title": "My Holiday", "studio": "Indie Co", "date": "2019"}
    # Names it does not match fall through to the default patterns.
    assert md.from_filename(FULL_NAME, pattern)["performers"] == ["Jane Doe", "John Roe"]


def test_extra_pattern_with_an_impossible_date_falls_through():
    pattern = r"^(?P<date>\d{4}-\d{2}-\d{2})_(?P<title>.+)$"
    assert md.from_filename("2023-02-29_leap.mp4", pattern) == {"title": "2023-02-29 leap"}
    assert md.from_filename("2024-02-29_leap.mp4", pattern) == {"title": "leap", "date": "2024-02-29"}


def test_invalid_extra_pattern_is_logged_and_ignored(caplog):
    with caplog.at_level(logging.WARNING, logger="vidlib.library.metadata"):
        meta = md.from_filename(FULL_NAME, "([unclosed")
    assert meta["title"] == "Beach Day" and meta["studio"] == "Acme Studio"
    assert any("FILENAME_PATTERN" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2023-05-01", "2023-05-01"),
        ("2023.5.1", "2023-05-01"),
        ("2023/05/01", "2023-05-01"),
        ("2023-05-01T10:20:30Z", "2023-05-01"),
        (" 2023-05-01 ", "2023-05-01"),
        ("2024-02-29", "2024-02-29"),
        ("2023-02-29", None),
        ("2023-13-01", None),
        ("1999", "1999"),
        (1999, "1999"),
        ("0000", None),
        ("9999", None),
        ("May 2023", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_date(value, expected):
    assert md.normalise_date(value) == expected


# -- sidecar files -------------------------------------------------------------------------------


def test_nfo_fields(tmp_path):
    path = tmp_path / "x.nfo"
    path.write_text(NFO, encoding="utf-8")
    assert md.from_nfo(str(path)) == {
        "title": "Sunset Walk",
        "studio": "Nfo Studio",
        "performers": ["Alice Example", "Bob Example"],
        "categories": ["Travel", "Outdoor", "Beach"],
        "date": "2021-07-04",
        "description": "A walk along the shore.\nSecond line.",
    }


def test_nfo_other_roots_and_date_fallbacks(tmp_path):
    path = tmp_path / "ep.nfo"
    path.write_text(
        "<episodedetails><title>Pilot</title><premiered>not a date</premiered><aired>2010.03.04</aired>"
        "<outline>Short.</outline></episodedetails>",
        encoding="utf-8",
    )
    assert md.from_nfo(str(path)) == {"title": "Pilot", "date": "2010-03-04", "description": "Short."}
    path.write_text("<musicvideo><title>Song</title><year>1987</year><actor><role>no name</role></actor></musicvideo>", encoding="utf-8")
    assert md.from_nfo(str(path)) == {"title": "Song", "date": "1987"}


def test_nfo_entity_expansion_is_refused(tmp_path):
    path = tmp_path / "bomb.nfo"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<movie><title>&lol2;</title></movie>",
        encoding="utf-8",
    )
    with pytest.raises(Exception) as info:
        md.from_nfo(str(path))
    assert "entit" in str(info.value).lower() or "Entities" in type(info.value).__name__


def test_json_fields_and_aliases(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(
        json.dumps(
            {
                "title": "",
                "name": "Json Title",
                "studio": "Json Studio",
                "actors": [{"name": "Carol"}, "Dave", {"role": "nameless"}],
                "tags": "one, two ,one",
                "year": 2020,
                "summary": "  Plot text.  ",
                "unrelated": {"nested": True},
            }
        ),
        encoding="utf-8",
    )
    assert md.from_json(str(path)) == {
        "title": "Json Title",
        "studio": "Json Studio",
        "performers": ["Carol", "Dave"],
        "categories": ["one", "two"],
        "date": "2020",
        "description": "Plot text.",
    }


def test_json_that_is_not_an_object_is_an_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON object"):
        md.from_json(str(path))


def test_merge_later_sources_win_field_by_field_and_empty_never_overrides():
    merged = md.merge(
        {"title": "From name", "studio": "Name Studio", "performers": ["A"]},
        {"title": "From nfo", "studio": "", "categories": ["X"], "description": "nfo plot"},
        {"title": "From json", "performers": [], "date": None, "studio": None},
    )
    assert merged == {
        "title": "From json",
        "studio": "Name Studio",
        "performers": ["A"],
        "categories": ["X"],
        "date": None,
        "description": "nfo plot",
    }


def test_sidecar_paths_use_the_same_base_name():
    assert md.sidecar_paths("/v/Movie Name.mp4") == ["/v/Movie Name.nfo", "/v/Movie Name.json"]
    assert md.sidecar_paths("/v/a.b.mkv") == ["/v/a.b.nfo", "/v/a.b.json"]


def test_read_all_order_name_then_nfo_then_json(tmp_path):
    video = tmp_path / FULL_NAME
    video.write_bytes(b"not probed here")
    write_sidecar(video, ".nfo", NFO)
    write_sidecar(video, ".json", json.dumps({"title": "Json Title", "categories": ["Json Cat"]}))

    meta, problems = md.read_all(str(video))

    assert problems == []
    assert meta == {
        "title": "Json Title",  # json over nfo over name
        "studio": "Nfo Studio",  # nfo over name
        "performers": ["Alice Example", "Bob Example"],
        "categories": ["Json Cat"],
        "date": "2021-07-04",
        "description": "A walk along the shore.\nSecond line.",
    }


def test_read_all_reports_a_broken_sidecar_and_keeps_the_others(tmp_path, caplog):
    video = tmp_path / FULL_NAME
    video.write_bytes(b"x")
    nfo = write_sidecar(video, ".nfo", "<movie><title>oops</movie")
    write_sidecar(video, ".json", json.dumps({"description": "still read"}))

    with caplog.at_level(logging.WARNING, logger="vidlib.library.metadata"):
        meta, problems = md.read_all(str(video))

    assert len(problems) == 1 and problems[0].startswith(nfo.name + ": ")
    assert meta["title"] == "Beach Day" and meta["studio"] == "Acme Studio"
    assert meta["description"] == "still read"
    assert any(str(nfo) in r.getMessage() for r in caplog.records)


# -- metadata through a scan -----------------------------------------------------------------------


def test_scan_stores_metadata_parsed_from_the_name(app, library, sample_videos):
    full = copy_sample(sample_videos, "mp4", library)
    webm = copy_sample(sample_videos, "webm", library)
    plain = copy_sample(sample_videos, "mkv", library)
    add_folder(app, library)
    scan(app)

    assert described(api_video(app, full)) == {
        "title": "Beach Day",
        "studio": "Acme Studio",
        "performers": ["Jane Doe", "John Roe"],
        "categories": [],
        "date": "2023-05-01",
        "description": None,
    }
    assert described(api_video(app, webm))["performers"] == ["Ann Lee"]
    assert described(api_video(app, webm))["studio"] == "Blue Films"
    assert described(api_video(app, plain)) == {
        "title": "plain title video",
        "studio": None,
        "performers": [],
        "categories": [],
        "date": None,
        "description": None,
    }
    performers = app.test_client().get("/api/get-performers").get_json()
    assert {i["name"]: i["count"] for i in performers["items"]} == {"Jane Doe": 1, "John Roe": 1, "Ann Lee": 1}


def test_names_are_shared_case_insensitively(app, library, sample_videos):
    copy_sample(sample_videos, "mp4", library, name="Acme Studio - 2023-05-01 - Jane Doe - One.mp4")
    copy_sample(sample_videos, "mkv", library, name="acme studio - 2023-05-02 - JANE DOE - Two.mkv")
    add_folder(app, library)
    scan(app)
    client = app.test_client()

    studios = client.get("/api/get-studios").get_json()
    performers = client.get("/api/get-performers").get_json()

    # One studio row for both spellings (whichever the scan met first names it).
    assert [(i["name"].casefold(), i["count"]) for i in studios["items"]] == [("acme studio", 2)]
    assert [i["count"] for i in performers["items"]] == [2]


def test_nfo_sidecar_overrides_the_name(app, library, sample_videos):
    video = copy_sample(sample_videos, "mp4", library)
    write_sidecar(video, ".nfo", NFO)
    add_folder(app, library)

    stats = scan(app)

    assert stats.new == 1 and stats.files == 1  # the sidecar is not a video
    assert described(api_video(app, video)) == {
        "title": "Sunset Walk",
        "studio": "Nfo Studio",
        "performers": ["Alice Example", "Bob Example"],
        "categories": ["Travel", "Outdoor", "Beach"],
        "date": "2021-07-04",
        "description": "A walk along the shore.\nSecond line.",
    }


def test_nfo_fills_in_only_what_it_has(app, library, sample_videos):
    video = copy_sample(sample_videos, "mp4", library)
    write_sidecar(video, ".nfo", "<movie><genre>Summer</genre></movie>")
    add_folder(app, library)
    scan(app)

    data = described(api_video(app, video))

    assert data["title"] == "Beach Day" and data["studio"] == "Acme Studio"
    assert data["performers"] == ["Jane Doe", "John Roe"]
    assert data["categories"] == ["Summer"]


def test_json_sidecar_overrides_the_nfo(app, library, sample_videos):
    video = copy_sample(sample_videos, "mp4", library)
    write_sidecar(video, ".nfo", NFO)
    write_sidecar(
        video,
        ".json",
        json.dumps({"title": "Json Title", "performers": ["Carol"], "date": "2020-01-02", "categories": [], "studio": None}),
    )
    add_folder(app, library)
    scan(app)

    assert described(api_video(app, video)) == {
        "title": "Json Title",
        "studio": "Nfo Studio",  # null in the json does not erase it
        "performers": ["Carol"],
        "categories": ["Travel", "Outdoor", "Beach"],  # [] in the json does not erase them
        "date": "2020-01-02",
        "description": "A walk along the shore.\nSecond line.",
    }


def test_broken_nfo_is_logged_and_skipped_and_the_video_still_indexed(app, library, sample_videos, caplog):
    video = copy_sample(sample_videos, "mp4", library)
    nfo = write_sidecar(video, ".nfo", "<movie><title>Unclosed</movie>")
    write_sidecar(video, ".json", json.dumps({"categories": ["From Json"]}))
    add_folder(app, library)

    with caplog.at_level(logging.WARNING):
        stats = scan(app)

    assert stats.new == 1 and stats.errors == 0
    data = described(api_video(app, video))
    assert data["title"] == "Beach Day" and data["studio"] == "Acme Studio"
    assert data["categories"] == ["From Json"]
    assert any(nfo.name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert app.extensions["vidlib"].db.execute("SELECT COUNT(*) FROM scan_errors").fetchone()[0] == 0


def test_broken_json_is_logged_and_skipped(app, library, sample_videos, caplog):
    video = copy_sample(sample_videos, "mp4", library)
    write_sidecar(video, ".nfo", NFO)
    sidecar = write_sidecar(video, ".json", '{"title": "unterminated')
    add_folder(app, library)

    with caplog.at_level(logging.WARNING):
        scan(app)

    assert described(api_video(app, video))["title"] == "Sunset Walk"
    assert any(sidecar.name in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_changing_only_a_sidecar_updates_the_metadata_without_rehashing(app, library, sample_videos):
    video = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = api_video(app, video)["hash"]
    assert api_video(app, video)["title"] == "Beach Day"

    # A new .nfo appears.
    nfo = write_sidecar(video, ".nfo", NFO)
    stats = scan(app)
    assert stats.updated == 1 and stats.new == 0 and stats.hashed_bytes == 0, stats.summary()
    assert stats.changed_hashes == [video_hash]
    assert api_video(app, video)["title"] == "Sunset Walk"
    assert api_video(app, video)["performers"] == ["Alice Example", "Bob Example"]

    # It is edited.
    write_sidecar(video, ".nfo", NFO.replace("Sunset   Walk", "Sunrise Walk").replace("<tag>Beach</tag>", ""))
    stats = scan(app)
    assert stats.updated == 1 and stats.hashed_bytes == 0, stats.summary()
    assert api_video(app, video)["title"] == "Sunrise Walk"
    assert api_video(app, video)["categories"] == ["Travel", "Outdoor"]

    # A .json joins it.
    sidecar = write_sidecar(video, ".json", json.dumps({"performers": "Carol, Dave"}))
    stats = scan(app)
    assert stats.updated == 1 and stats.hashed_bytes == 0
    assert api_video(app, video)["performers"] == ["Carol", "Dave"]

    # Nothing changed: quiet.
    quiet = scan(app)
    assert quiet.unchanged == 1 and quiet.updated == 0

    # Both go away: back to what the name says.
    nfo.unlink()
    sidecar.unlink()
    stats = scan(app)
    assert stats.updated == 1 and stats.hashed_bytes == 0
    assert described(api_video(app, video)) == {
        "title": "Beach Day",
        "studio": "Acme Studio",
        "performers": ["Jane Doe", "John Roe"],
        "categories": [],
        "date": "2023-05-01",
        "description": None,
    }
    assert api_video(app, video)["hash"] == video_hash
    # Names no video uses any more are not listed.
    performers = app.test_client().get("/api/get-performers").get_json()
    assert {i["name"] for i in performers["items"]} == {"Jane Doe", "John Roe"}


def set_mtime(path: Path, seconds_ago: float) -> None:
    when = path.stat().st_mtime - seconds_ago
    os.utime(path, (when, when))


def test_older_sidecar_deleted_next_to_a_newer_one_is_noticed(app, library, sample_videos):
    """Only the deleted .nfo changes; the newest sidecar mtime (the .json's) stays the same."""
    video = copy_sample(sample_videos, "mp4", library)
    nfo = write_sidecar(video, ".nfo", "<movie><studio>Nfo Studio</studio><genre>Old</genre></movie>")
    write_sidecar(video, ".json", json.dumps({"title": "Json Title"}))
    set_mtime(nfo, 3600)  # written an hour before the .json
    add_folder(app, library)
    scan(app)
    assert api_video(app, video)["studio"] == "Nfo Studio"

    nfo.unlink()
    stats = scan(app)

    assert stats.updated == 1, stats.summary()
    data = api_video(app, video)
    assert data["studio"] == "Acme Studio" and data["categories"] == [] and data["title"] == "Json Title"


def test_sidecar_added_with_an_older_mtime_is_noticed(app, library, sample_videos):
    """E.g. a .json copied in with ``cp -p`` next to a newer .nfo."""
    video = copy_sample(sample_videos, "mp4", library)
    write_sidecar(video, ".nfo", "<movie><title>Nfo Title</title></movie>")
    add_folder(app, library)
    scan(app)
    assert api_video(app, video)["title"] == "Nfo Title"

    sidecar = write_sidecar(video, ".json", json.dumps({"title": "Json Title"}))
    set_mtime(sidecar, 86400)  # a day older than the .nfo
    stats = scan(app)

    assert stats.updated == 1, stats.summary()
    assert api_video(app, video)["title"] == "Json Title"
    assert scan(app).unchanged == 1


def test_sidecar_of_another_video_is_not_applied(app, library, sample_videos):
    one = copy_sample(sample_videos, "mp4", library, name="one.mp4")
    two = copy_sample(sample_videos, "mkv", library, name="one.extra.mkv")
    (library / "one.extra.nfo").write_text("<movie><title>Extra</title></movie>", encoding="utf-8")
    (library / "ONE.nfo").write_text("<movie><title>Wrong case</title></movie>", encoding="utf-8")
    add_folder(app, library)
    scan(app)

    assert api_video(app, one)["title"] == "one"
    assert api_video(app, two)["title"] == "Extra"


def test_sidecar_follows_a_moved_video(app, library, sample_videos):
    video = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)
    scan(app)
    video_hash = api_video(app, video)["hash"]

    target = library / "sorted" / "Renamed.mp4"
    target.parent.mkdir()
    video.rename(target)
    (target.parent / "Renamed.nfo").write_text("<movie><title>From New Nfo</title></movie>", encoding="utf-8")
    stats = scan(app)

    assert stats.moved == 1
    data = api_video(app, target)
    assert data["hash"] == video_hash and data["title"] == "From New Nfo"
    assert scan(app).unchanged == 1  # the sidecar mtime was recorded with the move


def test_filename_pattern_setting(make_app, library, sample_videos):
    app = make_app(FILENAME_PATTERN=r"^\[(?P<studio>[^\]]+)\] (?P<title>.+?) \((?P<date>\d{4})\)$")
    custom = copy_sample(sample_videos, "mp4", library, name="[Indie Co] My Holiday (2019).mp4")
    default = copy_sample(sample_videos, "webm", library)
    add_folder(app, library)
    scan(app)

    data = described(api_video(app, custom))
    assert (data["title"], data["studio"], data["date"]) == ("My Holiday", "Indie Co", "2019")
    assert described(api_video(app, default))["title"] == "Mountain Trip"


def test_performer_separators_setting(make_app, library, sample_videos):
    app = make_app(PERFORMER_SEPARATORS=r"\s*\+\s*")
    video = copy_sample(sample_videos, "mp4", library, name="Acme - 2023-05-01 - Jane Doe + Roe, John - T.mp4")
    add_folder(app, library)
    scan(app)

    assert api_video(app, video)["performers"] == ["Jane Doe", "Roe, John"]


def test_invalid_filename_pattern_setting_does_not_stop_a_scan(make_app, library, sample_videos, caplog):
    app = make_app(FILENAME_PATTERN="(?P<title>")
    video = copy_sample(sample_videos, "mp4", library)
    add_folder(app, library)

    with caplog.at_level(logging.WARNING):
        stats = scan(app)

    assert stats.new == 1
    assert api_video(app, video)["studio"] == "Acme Studio"
    assert any("FILENAME_PATTERN" in r.getMessage() for r in caplog.records)
