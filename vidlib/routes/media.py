"""The ``media`` blueprint: video bytes (``/video/<hash>``) and, later, preview media."""

from __future__ import annotations

import logging
import os

from flask.views import MethodView

from vidlib import state
from vidlib.errors import NotFound, abort_for
from vidlib.filters import visible_sql
from vidlib.routes import Blueprint, check_hash
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
    # Resolve symlinks: a link to a file outside every library folder must not be served.
    real = os.path.realpath(path)
    for (folder,) in db.execute("SELECT path FROM folders"):
        if real.startswith(os.path.realpath(folder).rstrip(os.sep) + os.sep):
            return True
    return False


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
