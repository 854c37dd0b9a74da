"""Maintenance commands: ``flask --app vidlib <command>``."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from vidlib import state
from vidlib.errors import VidlibError
from vidlib.media import MEDIA_KINDS


def _state():
    return state.current()


@click.command("add-folder")
@click.argument("path")
@click.option("--scan/--no-scan", default=False, help="Scan the folder right away (in this process).")
@with_appcontext
def add_folder_command(path: str, scan: bool) -> None:
    """Add PATH to the library folders."""
    from vidlib.library.folders import add_folder

    st = _state()
    try:
        folder = add_folder(st.db, st.config, path)
    except VidlibError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"added folder {folder['id']}: {folder['path']}")
    if scan:
        _run_scan(st, [folder["id"]])


@click.command("remove-folder")
@click.argument("path_or_id")
@with_appcontext
def remove_folder_command(path_or_id: str) -> None:
    """Remove a library folder (by path or id); its videos are marked missing."""
    import os

    from vidlib.library.folders import remove_folder

    st = _state()
    row = st.db.execute("SELECT id FROM folders WHERE path = ? OR CAST(id AS TEXT) = ?", [os.path.realpath(path_or_id), path_or_id]).fetchone()
    if row is None:
        raise click.ClickException(f"no library folder {path_or_id}")
    remove_folder(st.db, row[0])
    click.echo(f"removed folder {row[0]}")


@click.command("folders")
@with_appcontext
def folders_command() -> None:
    """List the library folders."""
    from vidlib.library.folders import list_folders

    for folder in list_folders(_state().db):
        reach = "" if folder["reachable"] else "  (unreachable)"
        click.echo(f"{folder['id']:>4}  {folder['video_count']:>7} videos  {folder['path']}{reach}")


def _run_scan(st, folder_ids: list[int], reindex: bool = True) -> None:
    from vidlib.library.scanner import Scanner, ScanStats

    total = ScanStats()
    for folder_id in folder_ids:
        path = st.db.execute("SELECT path FROM folders WHERE id = ?", [folder_id]).fetchone()[0]
        bar_state: dict = {}

        def progress(done: int, count: int) -> None:
            bar = bar_state.get("bar")
            if bar is None:
                bar = bar_state["bar"] = click.progressbar(length=count, label=f"scanning {path}", show_pos=True, file=sys.stderr)  # read at call time: CliRunner swaps it
                bar.__enter__()
            bar.update(done - bar.pos)

        stats = Scanner(st.db, st.config, progress=progress).scan_folder(folder_id)
        if "bar" in bar_state:
            bar_state["bar"].__exit__(None, None, None)
        total.add(stats)
    click.echo(total.summary())
    if total.changed_hashes or total.missing:
        from vidlib.db import bump_library_version, write_transaction

        with write_transaction(st.db):
            bump_library_version(st.db)
        if reindex:
            _reindex(st)


def _reindex(st) -> None:
    from vidlib.search.index import rebuild

    index = rebuild(st.db, st.config)
    click.echo(f"similarity index: {len(index.hashes)} videos, {index.matrix.shape[1]} terms")


@click.command("scan")
@click.option("--folder", "folder", default=None, help="Only this folder (path or id).")
@click.option("--enqueue", is_flag=True, help="Queue scan jobs for the worker instead of scanning here.")
@click.option("--reindex/--no-reindex", default=True, help="Rebuild the similarity index here when the library changed.")
@with_appcontext
def scan_command(folder: str | None, enqueue: bool, reindex: bool) -> None:
    """Scan the library folders for new, changed, moved and missing videos."""
    import os

    st = _state()
    if folder:
        row = st.db.execute("SELECT id FROM folders WHERE path = ? OR CAST(id AS TEXT) = ?", [os.path.realpath(folder), folder]).fetchone()
        if row is None:
            raise click.ClickException(f"no library folder {folder}")
        ids = [row[0]]
    else:
        ids = [r[0] for r in st.db.execute("SELECT id FROM folders ORDER BY id")]
    if not ids:
        raise click.ClickException("the library has no folders yet: run `flask --app vidlib add-folder PATH` first")
    if enqueue:
        from vidlib import jobs

        for folder_id in ids:
            try:
                job, created = jobs.enqueue_scan(folder_id)
            except jobs.QueueUnavailable as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"{'queued' if created else 'already queued'}: {job.id}")
        return
    _run_scan(st, ids, reindex)


@click.command("import-legacy")
@click.argument("path", type=click.Path(exists=True))
@with_appcontext
def import_legacy_command(path: str) -> None:
    """Import a legacy library JSON file and collection .txt files (a file or a folder of them)."""
    from vidlib.library.legacy import import_legacy

    st = _state()
    try:
        report = import_legacy(st.db, st.config, path)
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot import {path}: {exc}") from None
    click.echo(report.summary())
    if report.videos_matched:
        from vidlib.db import bump_library_version, write_transaction

        with write_transaction(st.db):
            bump_library_version(st.db)
        _reindex(st)
    for line in report.videos_unmatched + report.lines_unmatched:
        click.echo(f"  unmatched: {line}", err=True)


@click.command("export")
@click.argument("target_dir", type=click.Path(file_okay=False))
@with_appcontext
def export_command(target_dir: str) -> None:
    """Write library.json, favourites.txt and one .txt per collection into TARGET_DIR."""
    from vidlib.library.legacy import export_library

    counts = export_library(_state().db, target_dir)
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def stats_command(as_json: bool) -> None:
    """Print library-wide counts."""
    from vidlib.library.stats import library_stats

    stats = library_stats(_state().db)
    if as_json:
        click.echo(json.dumps(stats))
        return
    for key, value in stats.items():
        click.echo(f"{key:>15}: {value}")


@click.command("reindex")
@click.option("--enqueue", is_flag=True, help="Queue the rebuild for the worker instead of building here.")
@with_appcontext
def reindex_command(enqueue: bool) -> None:
    """Rebuild the TF-IDF similarity index (search rerank, similar videos/performers/studios)."""
    st = _state()
    if enqueue:
        from vidlib import jobs

        try:
            job, created = jobs.enqueue_index_rebuild(delay=0)
        except jobs.QueueUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{'queued' if created else 'already queued'}: {job.id}")
        return
    _reindex(st)


@click.command("rebuild-fts")
@with_appcontext
def rebuild_fts_command() -> None:
    """Rebuild the full-text search table from the videos (e.g. after VACUUM)."""
    from vidlib.db import rebuild_fts, write_transaction

    st = _state()
    with write_transaction(st.db):
        rows = rebuild_fts(st.db)
    click.echo(f"full-text index rebuilt: {rows} videos")


@click.command("generate")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(MEDIA_KINDS), help="Only this kind (repeatable); default: every kind.")
@click.option("--all", "regenerate", is_flag=True, help="Regenerate everything, not only what is missing.")
@click.option("--video", "hashes", multiple=True, help="Only this video hash (repeatable).")
@with_appcontext
def generate_command(kinds: tuple[str, ...], regenerate: bool, hashes: tuple[str, ...]) -> None:
    """Queue preview media generation for the worker (missing media by default)."""
    from vidlib import jobs
    from vidlib.media import MEDIA_KINDS
    from vidlib.media.jobs import queue_missing

    st = _state()
    selected = list(hashes) or [r[0] for r in st.db.execute("SELECT hash FROM videos WHERE missing = 0 ORDER BY added_at DESC")]
    with click.progressbar(selected, label="queuing", file=sys.stderr) as bar:
        count = 0
        try:
            for video_hash in bar:
                count += queue_missing([video_hash], list(kinds) or list(MEDIA_KINDS), force=regenerate)
        except jobs.QueueUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"queued {count} jobs for {len(selected)} videos")


@click.command("transcode")
@click.option("--video", "hashes", multiple=True, help="Only this video hash (repeatable); default: every video that does not play directly in browsers.")
@click.option("--all", "regenerate", is_flag=True, help="Pre-transcode again where a file already exists.")
@with_appcontext
def transcode_command(hashes: tuple[str, ...], regenerate: bool) -> None:
    """Queue pre-transcodes: browser-compatible MP4s the player prefers over live conversion."""
    from vidlib import jobs
    from vidlib.media import TRANSCODE_KIND
    from vidlib.media.jobs import queue_missing

    st = _state()
    known = {r[0] for r in st.db.execute("SELECT hash FROM videos WHERE missing = 0")}
    unknown = [h for h in hashes if h not in known]
    if unknown:
        raise click.ClickException(f"no video with hash {unknown[0]}")
    try:
        count = queue_missing(list(hashes) or None, [TRANSCODE_KIND], force=regenerate)
    except jobs.QueueUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"queued {count} pre-transcode jobs")


@click.command("watch")
@with_appcontext
def watch_command() -> None:
    """Watch every library folder and queue scans of what changes (runs until Ctrl-C / SIGTERM)."""
    from vidlib.logs import configure_logging
    from vidlib.watcher import run_watcher

    st = _state()
    configure_logging(st.config, "watcher")
    if not st.wait_for_redis(30):
        raise click.ClickException(f"the job queue (Redis at {st.redis_url}) is not reachable; the watcher needs it")
    run_watcher(st)


@click.command("openapi-spec")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@with_appcontext
def openapi_spec_command(out: str) -> None:
    """Write the API's OpenAPI spec (the /api/openapi.json document) to OUT (default: stdout)."""
    from flask import current_app

    response = current_app.test_client().get("/api/openapi.json")
    text = json.dumps(response.get_json(), indent=2, ensure_ascii=False) + "\n"
    if out == "-":
        click.echo(text, nl=False)
        return
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"OpenAPI spec written to {out}", err=True)


COMMANDS = (add_folder_command, remove_folder_command, folders_command, scan_command, import_legacy_command, export_command, stats_command, reindex_command, rebuild_fts_command, generate_command, transcode_command, watch_command, openapi_spec_command)

from vidlib.cli_maintenance import COMMANDS as _MAINTENANCE_COMMANDS  # noqa: E402  (doctor, prune-media, clean-missing, requeue-failed, vacuum)

COMMANDS += _MAINTENANCE_COMMANDS


def register_cli(app: Flask) -> None:
    """Attach every maintenance command to ``app.cli``."""
    for command in COMMANDS:
        app.cli.add_command(command)
