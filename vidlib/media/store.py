"""Where preview media live and the ``media`` status rows that describe them.

Files go under ``MEDIA_DIR/<hash[:2]>/<hash>/`` — never inside a video folder:

| kind               | files                                  |
| ------------------ | -------------------------------------- |
| poster             | ``poster.jpg``                         |
| preview_thumbnails | ``preview/00.jpg`` ... ``preview/NN.jpg`` |
| seek_thumbnails    | ``sprite.jpg`` + ``sprite.vtt``        |
| teaser_small       | ``teaser_small.mp4``                   |
| teaser_large       | ``teaser_large.mp4``                   |
| transcode          | ``playback.mp4`` (pre-transcode)       |

A status row per (video, kind): missing (no row), queued, running (with progress), done,
failed (with a human-readable reason), cancelled.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import sqlite_utils

from vidlib.db import now_iso, write_transaction
from vidlib.media import JOB_KINDS

STATUSES = ("missing", "queued", "running", "done", "failed", "cancelled")

# The file whose presence means the kind is complete (written last).
MARKER_FILES = {
    "poster": "poster.jpg",
    "preview_thumbnails": "preview",
    "seek_thumbnails": "sprite.vtt",
    "teaser_small": "teaser_small.mp4",
    "teaser_large": "teaser_large.mp4",
    "transcode": "playback.mp4",
}


def video_media_dir(config: dict[str, Any], video_hash: str) -> str:
    """``MEDIA_DIR/<hash[:2]>/<hash>``."""
    return os.path.join(config["MEDIA_DIR"], video_hash[:2], video_hash)


def media_url_base(video_hash: str) -> str:
    return f"/media/{video_hash[:2]}/{video_hash}"


def kind_exists(config: dict[str, Any], video_hash: str, kind: str) -> bool:
    """True when the kind's output is on disk."""
    return os.path.exists(os.path.join(video_media_dir(config, video_hash), MARKER_FILES[kind]))


def _preview_names(directory: str) -> tuple[str, ...]:
    """The preview stills in ``directory``, in time order (none when it cannot be read)."""
    try:
        return tuple(sorted(n for n in os.listdir(directory) if n.endswith(".jpg")))
    except OSError:
        return ()


# Kept per (folder, status row's ``updated_at``): a page of 48 records would otherwise list 48
# folders, and a regenerated set has a new version.
_kept_preview_names = functools.lru_cache(maxsize=4096)(lambda directory, version: _preview_names(directory))


_NOT_ALNUM = {c: None for c in range(128) if not chr(c).isalnum()}


def _version_tag(version: str) -> str:
    """``updated_at`` with only its letters and digits (``2026-12-07T12:59:20+00:00`` ->
    ``20261207T1259200000``)."""
    if version.isascii():
        return version.translate(_NOT_ALNUM)
    return "".join(c for c in version if c.isalnum())


def kind_urls(config: dict[str, Any], video_hash: str, kind: str, version: str | None = None) -> dict[str, Any]:
    """The URLs of a generated kind (``{"url": ...}``, plus ``urls`` / ``vtt_url`` where there are several files).

    ``version`` (the status row's ``updated_at``) is added as ``?v=`` so a regenerated file gets
    a new URL and the files can be cached as immutable.
    """
    base = media_url_base(video_hash)
    suffix = f"?v={_version_tag(version)}" if version else ""
    if kind == "preview_thumbnails":
        directory = os.path.join(video_media_dir(config, video_hash), "preview")
        names = _kept_preview_names(directory, version) if version else _preview_names(directory)
        urls = [f"{base}/preview/{n}{suffix}" for n in names]
        return {"url": urls[0] if urls else None, "urls": urls}
    if kind == "seek_thumbnails":
        return {"url": f"{base}/sprite.vtt{suffix}", "vtt_url": f"{base}/sprite.vtt{suffix}", "sprite_url": f"{base}/sprite.jpg{suffix}"}
    return {"url": f"{base}/{MARKER_FILES[kind]}{suffix}"}


def set_status(db: sqlite_utils.Database, video_hash: str, kind: str, status: str, *, progress: float | None = None, error: str | None = None, job_id: str | None = None) -> None:
    """Write the status row of (video, kind)."""
    assert status in STATUSES and kind in JOB_KINDS
    with write_transaction(db):
        if status == "missing":
            db.execute("DELETE FROM media WHERE hash = ? AND kind = ?", [video_hash, kind])
            return
        db.execute(
            "INSERT INTO media (hash, kind, status, progress, error, job_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(hash, kind) DO UPDATE SET status = excluded.status, progress = excluded.progress, "
            "error = excluded.error, job_id = COALESCE(excluded.job_id, media.job_id), updated_at = excluded.updated_at",
            [video_hash, kind, status, progress, error, job_id, now_iso()],
        )


def set_progress(db: sqlite_utils.Database, video_hash: str, kind: str, progress: float) -> None:
    """Update a running job's progress (0..1)."""
    with write_transaction(db):
        db.execute("UPDATE media SET progress = ?, updated_at = ? WHERE hash = ? AND kind = ? AND status = 'running'", [round(progress, 3), now_iso(), video_hash, kind])


def get_status(db: sqlite_utils.Database, video_hash: str, kind: str) -> dict[str, Any]:
    row = db.execute("SELECT status, progress, error, job_id, updated_at FROM media WHERE hash = ? AND kind = ?", [video_hash, kind]).fetchone()
    if row is None:
        return {"status": "missing", "progress": None, "error": None, "job_id": None, "updated_at": None}
    return dict(row)
