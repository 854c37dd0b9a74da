"""The ``media`` blueprint: video bytes (``/video/<hash>``), preview media files and their API."""

from __future__ import annotations

import logging
import os

from flask.views import MethodView

from flask_smorest import abort

from vidlib import state
from vidlib.errors import NotFound, abort_for
from vidlib.filters import visible_sql
from vidlib.library.hashing import is_valid_hash
from vidlib.media import store
from vidlib.routes import Blueprint, check_hash
from vidlib.schemas import MediaInfoSchema
from vidlib.streaming import send_range_file

log = logging.getLogger(__name__)

blp = Blueprint("media", __name__, description="Video bytes and preview media")

_VIDEO_RESPONSES = {
    "200": {"description": "the whole file", "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "the requested byte range", "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}},
    "304": {"description": "not modified (ETag / Last-Modified)"},
    "416": {"description": "range not satisfiable"},
}


def _inside_library(path: str, db) -> bool:
    # Resolve symlinks: a link to a file outside every library folder (or FOLDER_ROOTS) must not be served.
    from vidlib.library.folders import serving_allowed

    return serving_allowed(db, state.current().config, path)


@blp.route("/video/<video_hash>")
class VideoFile(MethodView):
    @blp.doc(responses=_VIDEO_RESPONSES)
    def get(self, video_hash):
        """The video file, with HTTP Range, conditional GET and the right MIME type"""
        check_hash(video_hash)
        db = state.current().db
        row = db.execute(f"SELECT v.path, v.size, v.mtime FROM videos v WHERE v.hash = ? AND {visible_sql('v')}", [video_hash]).fetchone()
        if row is None:
            abort_for(NotFound(f"no video with hash {video_hash}"))
        path = row["path"]
        if not _inside_library(path, db) or not os.path.isfile(path):
            log.warning("video %s: %s is not a file inside a library folder; not served", video_hash, path)
            abort_for(NotFound(f"the file of video {video_hash} is not available"))
        return send_range_file(path, etag=f"{video_hash}-{os.stat(path).st_size:x}-{int(os.stat(path).st_mtime):x}", cache_control="private, max-age=0, must-revalidate")


def _visible(video_hash: str) -> bool:
    db = state.current().db
    return db.execute(f"SELECT 1 FROM videos v WHERE v.hash = ? AND {visible_sql('v')}", [video_hash]).fetchone() is not None


_MEDIA_FILE_NAMES = {"poster.jpg", "sprite.jpg", "sprite.vtt", "teaser_small.mp4", "teaser_large.mp4"}


@blp.route("/media/<shard>/<video_hash>/<path:name>")
class MediaFile(MethodView):
    @blp.doc(responses={"200": {"description": "the file"}, "206": {"description": "a byte range"}, "404": {"description": "no such media file"}})
    def get(self, shard, video_hash, name):
        """A generated preview media file (long-lived cache; URLs carry a version)"""
        # Only names vidlib itself writes are served: no traversal, no temp files.
        parts = name.split("/")
        allowed = name in _MEDIA_FILE_NAMES or (len(parts) == 2 and parts[0] == "preview" and parts[1].endswith(".jpg") and parts[1][:-4].isdigit())
        if not (is_valid_hash(video_hash) and shard == video_hash[:2] and allowed) or not _visible(video_hash):
            abort_for(NotFound("no such media file"))
        media_dir = os.path.realpath(state.current().config["MEDIA_DIR"])
        path = os.path.join(store.video_media_dir(state.current().config, video_hash), *parts)
        if not os.path.isfile(path) or not os.path.realpath(path).startswith(media_dir + os.sep):
            if os.path.isfile(path):
                log.warning("media file %s resolves outside MEDIA_DIR (symlink?); not served", path)
            abort_for(NotFound("no such media file"))
        return send_range_file(path, cache_control="public, max-age=31536000, immutable")


def _media_info(video_hash: str, kind: str) -> dict:
    check_hash(video_hash)
    if not _visible(video_hash):
        abort_for(NotFound(f"no video with hash {video_hash}"))
    st = state.current()
    status = store.get_status(st.db, video_hash, kind)
    if status["status"] != "done" or not store.kind_exists(st.config, video_hash, kind):
        label = kind.replace("_", " ")
        abort(
            404,
            message=f"{label} not generated yet (status: {status['status']})" if status["status"] != "failed" else f"{label} failed: {status['error']}",
            errors={"media": {"status": status["status"] if status["status"] != "done" else "missing", "progress": status["progress"], "error": status["error"]}},
        )
    return {"hash": video_hash, "kind": kind, "status": "done", **store.kind_urls(st.config, video_hash, kind, version=status["updated_at"])}


def _media_route(kind: str, path: str, summary: str):
    class MediaInfo(MethodView):
        @blp.response(200, MediaInfoSchema)
        def get(self, video_hash):
            return _media_info(video_hash, kind)

    MediaInfo.get.__doc__ = summary
    MediaInfo.__name__ = "Media" + "".join(p.title() for p in kind.split("_"))
    blp.route(f"/api/media/{path}/<video_hash>")(MediaInfo)


_media_route("poster", "get-poster", "The poster URL (404 with the status while not generated)")
_media_route("preview_thumbnails", "get-preview-thumbnails", "Preview thumbnail URLs for hover scrubbing (404 with the status while not generated)")
_media_route("seek_thumbnails", "get-seek-thumbnails", "The seek-bar WebVTT and sprite URLs (404 with the status while not generated)")
_media_route("teaser_small", "get-teaser-small", "The small (card hover) teaser URL (404 with the status while not generated)")
_media_route("teaser_large", "get-teaser-large", "The large (spotlight) teaser URL (404 with the status while not generated)")
