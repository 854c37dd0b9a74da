"""Maintenance commands: ``flask --app vidlib doctor | prune-media | clean-missing | requeue-failed | vacuum``.

Thin click wrappers over :mod:`vidlib.maintenance`: options, progress bars on stderr, one
summary line on stdout, a clear error (exit 1) instead of a traceback.
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from vidlib import maintenance, state
from vidlib.media import JOB_KINDS


def _bar(length: int, label: str):
    # file read at call time: CliRunner swaps sys.stderr
    return click.progressbar(length=length, label=label, show_pos=True, file=sys.stderr)


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check ffmpeg/ffprobe, Redis and workers, the database, free disk, folders and inotify limits.

    Prints one line per check (ok / warn / FAIL); exits with status 1 when any check FAILs.
    """
    st = state.current()
    checks = maintenance.check_ffmpeg()
    checks += maintenance.check_redis(st)
    checks += maintenance.check_database(st.db)
    checks += maintenance.check_disk(st.config)
    folder_count = st.db.execute("SELECT COUNT(*) FROM folders").fetchone()[0]
    with _bar(folder_count, "walking library folders") as bar:
        checks += maintenance.check_folders_and_inotify(st.db, bar.update)
    checks += maintenance.check_exposure(st.config)
    for check in checks:
        click.echo(check.line())
    failed = [c for c in checks if c.status == maintenance.FAIL]
    warned = [c for c in checks if c.status == maintenance.WARN]
    click.echo(f"{len(checks)} checks: {len(checks) - len(failed) - len(warned)} ok, {len(warned)} warn, {len(failed)} FAIL")
    if failed:
        sys.exit(1)


@click.command("prune-media")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--tmp-age", "tmp_age", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Temp files (.tmp-*) older than this many minutes count as left behind by a killed worker.")
@with_appcontext
def prune_media_command(dry_run: bool, tmp_age: float) -> None:
    """Remove preview media of videos no longer in the library, and stale .tmp-* files in MEDIA_DIR.

    Missing videos keep their media: they come back when their file does (see clean-missing).
    """
    st = state.current()
    media_dir = st.config["MEDIA_DIR"]
    with _bar(len(maintenance.media_shards(media_dir)), "pruning media") as bar:
        report = maintenance.prune_media(st.db, media_dir, tmp_age_seconds=tmp_age * 60, dry_run=dry_run, tick=bar.update)
    if dry_run:
        for path in report.dirs + report.tmp_files:
            click.echo(f"  {path}")
    click.echo(report.summary(dry_run))


@click.command("clean-missing")
@click.option("--days", type=click.FloatRange(min=0), required=True, help="Purge videos missing for longer than this many days.")
@click.option("--dry-run", is_flag=True, help="Only list the videos that would be purged.")
@click.option("--reindex/--no-reindex", default=True, help="Rebuild the similarity index here afterwards.")
@with_appcontext
def clean_missing_command(days: float, dry_run: bool, reindex: bool) -> None:
    """Purge videos missing for longer than --days: rows, favourites, links, search rows, media status and files.

    A missing video normally keeps everything so it comes back intact when its file returns;
    this forgets it for good.
    """
    st = state.current()
    victims = maintenance.missing_before(st.db, days)
    if dry_run:
        for row in victims:
            click.echo(f"  {row['hash']}  missing since {row['missing_since']}  {row['path']}")
        click.echo(f"would purge {len(victims)} videos missing for more than {days:g} days")
        return
    with _bar(len(victims), "purging") as bar:
        purged = maintenance.purge_videos(st.db, st.config["MEDIA_DIR"], [r["hash"] for r in victims], tick=bar.update)
    click.echo(f"purged {purged} videos missing for more than {days:g} days")
    if purged and reindex:
        from vidlib.cli import _reindex

        _reindex(st)


@click.command("requeue-failed")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(JOB_KINDS), help="Only this kind (repeatable; `transcode` for pre-transcodes); default: every kind.")
@click.option("--cancelled", is_flag=True, help="Also requeue jobs that were cancelled.")
@with_appcontext
def requeue_failed_command(kinds: tuple[str, ...], cancelled: bool) -> None:
    """Queue preview media jobs that failed (or were cancelled) again for the worker."""
    from vidlib.jobs import QueueUnavailable
    from vidlib.media.jobs import enqueue_media

    st = state.current()
    targets = maintenance.failed_media(st.db, kinds, ("failed", "cancelled") if cancelled else ("failed",))
    count = 0
    with click.progressbar(targets, label="requeuing", file=sys.stderr) as bar:
        try:
            for video_hash, kind in bar:
                _, created = enqueue_media(video_hash, kind, force=True)
                count += int(created)
        except QueueUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"requeued {count} of {len(targets)} failed media jobs")


@click.command("vacuum")
@with_appcontext
def vacuum_command() -> None:
    """Compact the database: WAL checkpoint, VACUUM, PRAGMA optimize; prints the size before and after.

    VACUUM rewrites the whole file and briefly blocks writers: run it when the library is quiet.
    """
    st = state.current()
    db = st.db  # opened (and migrated) before measuring
    before = maintenance.db_files_size(st.db_path)
    with _bar(4, "vacuum") as bar:
        for _step, message in maintenance.vacuum_steps(db):
            click.echo(message, err=True)
            bar.update(1)
    after = maintenance.db_files_size(st.db_path)
    click.echo(f"database: {before} bytes before, {after} bytes after ({before - after} bytes freed)")


COMMANDS = (doctor_command, prune_media_command, clean_missing_command, requeue_failed_command, vacuum_command)
