"""Legacy library data: import-legacy and export through the Flask CLI, over a real scanned library."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import add_folder, copy_sample, scan

KEYS = ("mp4", "webm", "mkv", "noaudio", "unicode", "hostile")


@pytest.fixture()
def lib(app, library, sample_videos):
    """A scanned library; returns {sample key: (hash, path)}."""
    paths = {key: copy_sample(sample_videos, key, library) for key in KEYS}
    add_folder(app, library)
    scan(app)
    db = app.extensions["vidlib"].db
    by_path = {r["path"]: r["hash"] for r in db.execute("SELECT path, hash FROM videos")}
    return {key: (by_path[str(path)], path) for key, path in paths.items()}


def video(client, h) -> dict:
    r = client.get(f"/api/get-video-data/{h}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def invoke_ok(runner, *args):
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def collection(app, name) -> list[str]:
    db = app.extensions["vidlib"].db
    return [r[0] for r in db.execute(
        "SELECT ci.hash FROM collection_items ci JOIN collections c ON c.id = ci.collection_id WHERE c.name = ? ORDER BY ci.position", [name]
    )]


def favourites(app) -> set[str]:
    return {r[0] for r in app.extensions["vidlib"].db.execute("SELECT hash FROM favourites")}


def write_json(path, data) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_import_library_json_by_hash_path_and_filename(app, client, runner, lib, tmp_path):
    mp4, webm, mkv = lib["mp4"], lib["webm"], lib["mkv"]
    source = write_json(tmp_path / "old-library.json", [
        {"hash": mp4[0], "title": "Sunny Beach", "actors": ["Alice Able", {"name": "Bob Baker"}], "tags": "summer, sea",
         "studio": "Old Studio", "premiered": "2020.07.04", "plot": "  A long day.  ", "favourite": True, "added_at": "2019-01-02T03:04:05+00:00"},
        {"path": str(webm[1]), "name": "Hills", "cast": "Carol, Dan", "genres": ["Nature"], "year": 2011},
        {"filename": mkv[1].name, "performers": ["Eve"], "categories": ["Misc"], "favorite": True},
        {"file": "no such video.mp4", "title": "ghost"},
        {"hash": "0123456789abcdef", "title": "unknown hash"},
    ])
    result = invoke_ok(runner, "import-legacy", source)
    assert "3 videos matched, 2 unmatched" in result.output
    assert "2 favourites" in result.output
    assert "unmatched: no such video.mp4" in result.output
    assert "unmatched: 0123456789abcdef" in result.output

    v = video(client, mp4[0])
    assert v["title"] == "Sunny Beach"
    assert v["studio"] == "Old Studio"  # overrides "Acme Studio" from the file name
    assert v["performers"] == ["Alice Able", "Bob Baker"]
    assert v["categories"] == ["summer", "sea"]
    assert v["date"] == "2020-07-04"
    assert v["description"] == "A long day."
    assert v["favourite"] is True
    assert v["added_at"] == "2019-01-02T03:04:05+00:00"

    w = video(client, webm[0])
    assert w["title"] == "Hills" and w["performers"] == ["Carol", "Dan"] and w["categories"] == ["Nature"] and w["date"] == "2011"
    assert w["studio"] == "Blue Films"  # not in the legacy data: the file name still counts
    assert w["favourite"] is False

    k = video(client, mkv[0])
    assert k["title"] == "plain title video" and k["performers"] == ["Eve"] and k["favourite"] is True
    assert favourites(app) == {mp4[0], mkv[0]}


def test_import_wrapped_format_and_ambiguous_file_name(app, client, runner, lib, library, sample_videos, tmp_path):
    # the same file name in two folders (different content) is ambiguous by name, fine by path
    other = copy_sample(sample_videos, "short", library / "sub", name=lib["noaudio"][1].name)
    scan(app)
    other_hash = app.extensions["vidlib"].db.execute("SELECT hash FROM videos WHERE path = ?", [str(other)]).fetchone()[0]
    source = write_json(tmp_path / "lib.json", {"format": "vidlib-library", "version": 1, "videos": [
        {"filename": other.name, "title": "ambiguous"},
        {"path": str(other), "title": "By Path"},
    ]})
    result = invoke_ok(runner, "import-legacy", source)
    assert "1 videos matched, 1 unmatched" in result.output
    assert video(client, other_hash)["title"] == "By Path"
    assert video(client, lib["noaudio"][0])["title"] == "Silent Clip"


def test_legacy_data_survives_rescans_touches_moves_and_sidecars(app, client, runner, lib, library, tmp_path):
    h, path = lib["mp4"]
    source = write_json(tmp_path / "lib.json", [{"hash": h, "title": "Legacy Title", "performers": ["Legacy Person"]}])
    invoke_ok(runner, "import-legacy", source)
    scan(app)  # unchanged
    assert video(client, h)["title"] == "Legacy Title"
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 60))  # touched: metadata is re-read
    stats = scan(app)
    assert stats.updated == 1
    v = video(client, h)
    assert v["title"] == "Legacy Title" and v["performers"] == ["Legacy Person"] and v["studio"] == "Acme Studio"
    # a sidecar does not override legacy data (legacy is the top-priority source)
    path.with_suffix(".json").write_text(json.dumps({"title": "Sidecar Title", "studio": "Sidecar Studio"}), encoding="utf-8")
    scan(app)
    v = video(client, h)
    assert v["title"] == "Legacy Title" and v["studio"] == "Sidecar Studio"
    # a move keeps the identity and the legacy data
    moved = library / "moved" / "renamed.mp4"
    moved.parent.mkdir()
    os.replace(path, moved)
    stats = scan(app)
    assert stats.moved == 1
    v = video(client, h)
    assert v["filename"] == "renamed.mp4" and v["title"] == "Legacy Title" and v["performers"] == ["Legacy Person"]


def test_collection_txt_files(app, runner, lib, tmp_path):
    mp4, webm, mkv, hostile, uni = lib["mp4"], lib["webm"], lib["mkv"], lib["hostile"], lib["unicode"]
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "Road Trip.txt").write_text(
        "# my road trip videos\n"
        "\n"
        f"{webm[1].name}\n"
        f"   {str(mp4[1])}   \n"
        f"{mkv[0].upper()}\n"
        "    # an indented comment\n"
        f"{hostile[1].name}\n"
        f"{webm[0]}\n"  # repeated: kept once, at its first place
        "not in the library.mp4\n",
        encoding="utf-8",
    )
    (folder / "favourites.txt").write_text(f"{uni[1].name}\n{mkv[0]}\n", encoding="utf-8")
    result = invoke_ok(runner, "import-legacy", str(folder))
    assert "collections: Road Trip: 4" in result.output
    assert "2 favourites" in result.output
    assert "1 collection lines unmatched" in result.output
    assert "unmatched: Road Trip.txt: not in the library.mp4" in result.output
    assert collection(app, "Road Trip") == [webm[0], mp4[0], mkv[0], hostile[0]]
    assert favourites(app) == {uni[0], mkv[0]}
    assert collection(app, "favourites") == []  # favourites are not a collection

    # Re-importing replaces the collection's contents, in line order.
    (folder / "Road Trip.txt").write_text(f"{hostile[0]}\n{mp4[0]}\n", encoding="utf-8")
    invoke_ok(runner, "import-legacy", str(folder / "Road Trip.txt"))
    assert collection(app, "Road Trip") == [hostile[0], mp4[0]]
    # favorites.txt (US spelling) feeds the favourites too
    (tmp_path / "favorites.txt").write_text(f"{mp4[0]}\n", encoding="utf-8")
    invoke_ok(runner, "import-legacy", str(tmp_path / "favorites.txt"))
    assert favourites(app) == {uni[0], mkv[0], mp4[0]}


def test_files_with_a_byte_order_mark(app, client, runner, lib, tmp_path):
    # Windows editors often save UTF-8 with a BOM; it must not break the JSON or the first line.
    mp4, webm = lib["mp4"], lib["webm"]
    folder = tmp_path / "bom"
    folder.mkdir()
    (folder / "lib.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([{"hash": mp4[0], "title": "With BOM"}]).encode())
    (folder / "favourites.txt").write_bytes(b"\xef\xbb\xbf" + f"{webm[1].name}\n".encode())
    result = invoke_ok(runner, "import-legacy", str(folder))
    assert "0 collection lines unmatched" in result.output
    assert video(client, mp4[0])["title"] == "With BOM"
    assert favourites(app) == {webm[0]}


@pytest.mark.parametrize("name,content,words", [
    ("broken.json", '{"videos": [ {"hash": ', "cannot import"),
    ("scalar.json", "42", "expected a list of video objects"),
    ("strings.json", '["a", "b"]', "expected a list of video objects"),
    ("videos-not-list.json", '{"videos": {"a": 1}}', "expected a list of video objects"),
    ("latin1.txt", b"caf\xe9.mp4\n", "cannot import"),
    ("latin1.json", b'[{"title": "caf\xe9"}]', "cannot import"),
    ("notes.csv", "a,b\n", "expected a folder, a .json library file or a .txt collection file"),
])
def test_bad_input_is_a_clear_cli_error(app, runner, lib, tmp_path, name, content, words):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = runner.invoke(args=["import-legacy", str(path)])
    assert result.exit_code != 0
    assert "Error:" in result.output and words in result.output, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert favourites(app) == set()


def test_import_nonexistent_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(args=["import-legacy", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_export_formats(app, client, runner, lib, tmp_path):
    mp4, webm = lib["mp4"], lib["webm"]
    client.post(f"/api/add-favourite/{webm[0]}")
    (tmp_path / "Best.txt").write_text(f"{webm[0]}\n{mp4[0]}\n", encoding="utf-8")
    invoke_ok(runner, "import-legacy", str(tmp_path / "Best.txt"))
    out = tmp_path / "export"
    result = invoke_ok(runner, "export", str(out))
    assert "videos: 6" in result.output and "favourites: 1" in result.output and "Best: 2" in result.output
    assert sorted(os.listdir(out)) == ["Best.txt", "favourites.txt", "library.json"]
    data = json.loads((out / "library.json").read_text(encoding="utf-8"))
    assert data["format"] == "vidlib-library" and data["version"] == 1
    paths = [v["path"] for v in data["videos"]]
    assert paths == sorted(paths)
    entry = next(v for v in data["videos"] if v["hash"] == mp4[0])
    assert entry == {
        "hash": mp4[0], "path": str(mp4[1]), "filename": mp4[1].name, "title": "Beach Day", "studio": "Acme Studio",
        "performers": ["Jane Doe", "John Roe"], "categories": [], "date": "2023-05-01", "description": None,
        "favourite": False, "added_at": entry["added_at"], "missing": False,
    }
    assert (out / "favourites.txt").read_text(encoding="utf-8").splitlines()[1:] == [webm[0]]
    best = (out / "Best.txt").read_text(encoding="utf-8").splitlines()
    assert best[0].startswith("#") and best[1:] == [webm[0], mp4[0]]


def test_export_import_export_round_trip_is_lossless(app, client, runner, make_app, lib, library, tmp_path):
    mp4, webm, mkv, hostile, uni = lib["mp4"], lib["webm"], lib["mkv"], lib["hostile"], lib["unicode"]
    # Give the first library everything an export carries: legacy metadata, favourites, collections.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    write_json(legacy / "old.json", [
        {"hash": mp4[0], "title": "Beach Day (director's cut)", "performers": ["Jane Doe", "Zoë Ünïcode"], "categories": ["Outdoor", "Summer"],
         "description": "Line one.\nLine two \u2014 with \"quotes\".", "date": "2023-05-02", "favourite": True, "added_at": "2018-06-01T12:00:00+00:00"},
        {"filename": hostile[1].name, "studio": "Hostile & Co", "tags": ["odd;name", "$(x)"]},
        {"path": str(uni[1]), "title": "日本語のタイトル", "added_at": "2017-01-01T00:00:00+00:00"},
    ])
    (legacy / "Mixed Bag.txt").write_text(f"{hostile[1].name}\n{mkv[0]}\n{uni[0]}\n", encoding="utf-8")
    (legacy / "Empty One.txt").write_text("# nothing here yet\n", encoding="utf-8")
    (legacy / "favourites.txt").write_text(f"{webm[1].name}\n", encoding="utf-8")
    invoke_ok(runner, "import-legacy", str(legacy))

    first = tmp_path / "export1"
    invoke_ok(runner, "export", str(first))

    # A fresh data dir over the same folder.
    app2 = make_app(DATA_DIR=str(tmp_path / "data2"))
    runner2 = app2.test_cli_runner()
    result = invoke_ok(runner2, "add-folder", str(library), "--scan")
    assert "6 new" in result.output
    result = invoke_ok(runner2, "import-legacy", str(first))
    assert "6 videos matched, 0 unmatched" in result.output
    second = tmp_path / "export2"
    invoke_ok(runner2, "export", str(second))

    names = sorted(os.listdir(first))
    assert names == ["Empty One.txt", "Mixed Bag.txt", "favourites.txt", "library.json"]
    assert sorted(os.listdir(second)) == names
    for name in names:
        assert (second / name).read_bytes() == (first / name).read_bytes(), name

    # and the data itself made it across
    client2 = app2.test_client()
    v = video(client2, mp4[0])
    assert v["title"] == "Beach Day (director's cut)" and v["performers"] == ["Jane Doe", "Zoë Ünïcode"]
    assert v["favourite"] is True and v["added_at"] == "2018-06-01T12:00:00+00:00"
    assert video(client2, webm[0])["favourite"] is True
    assert collection(app2, "Mixed Bag") == [hostile[0], mkv[0], uni[0]]
