"""The ``media`` blueprint: video bytes (``/video/<hash>``), live streams, preview media files and their API."""

from __future__ import annotations

import logging
import os

from flask import Response, request
from flask.views import MethodView

from flask_smorest import abort

from vidlib import state
from vidlib.errors import NotFound, VidlibError, abort_for
from vidlib.filters import visible_sql
from vidlib.library.folders import servable_file
from vidlib.library.hashing import is_valid_hash
from vidlib.media import store
from vidlib.routes import Blueprint, check_hash
from vidlib.playback import live, slots
from vidlib.playback.sources import stream_url
from vidlib.schemas import MediaInfoSchema, StreamArgsSchema, StreamStartArgsSchema, StreamStartSchema
from vidlib.streaming import send_range_file
from vidlib.video_fast import CACHE_CONTROL, video_etag

log = logging.getLogger(__name__)

blp = Blueprint("media", __name__, description="Video bytes and preview media")

_VIDEO_RESPONSES = {
    "200": {"description": "the whole file", "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "the requested byte range", "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}},
    "304": {"description": "not modified (ETag / Last-Modified)"},
    "416": {"description": "range not satisfiable"},
}


def _servable_video(video_hash: str) -> dict:
    """The videos row of a visible video whose file is inside a library folder; 400/404 otherwise."""
    check_hash(video_hash)
    db = state.current().db
    row = db.execute(
        f"SELECT v.hash, v.path, v.size, v.mtime, v.duration, v.fps, v.container, v.video_codec, v.audio_codec, v.pix_fmt FROM videos v WHERE v.hash = ? AND {visible_sql('v')}",
        [video_hash],
    ).fetchone()
    if row is None:
        abort_for(NotFound(f"no video with hash {video_hash}"))
    path = row["path"]
    # Symlinks resolved: a link to a file outside every library folder (or FOLDER_ROOTS) is not served.
    st = servable_file(db, state.current().config, path)
    if st is None:
        log.warning("video %s: %s is not a file inside a library folder; not served", video_hash, path)
        abort_for(NotFound(f"the file of video {video_hash} is not available"))
    video = dict(row)
    video["stat"] = st
    return video


@blp.route("/video/<video_hash>")
class VideoFile(MethodView):
    @blp.doc(responses=_VIDEO_RESPONSES)
    def get(self, video_hash):
        """The video file, with HTTP Range, conditional GET and the right MIME type"""
        video = _servable_video(video_hash)
        st = video["stat"]
        # (vidlib/video_fast.py answers the plain and single-range GETs of this route under gunicorn, alike)
        return send_range_file(video["path"], etag=video_etag(video_hash, st), cache_control=CACHE_CONTROL, st=st)


def _check_start(video: dict, start: float) -> None:
    if video["duration"] and start >= video["duration"]:
        abort_for(VidlibError(f"start {start:g} s is not before the end of the video ({video['duration']:g} s)"))


_STREAM_RESPONSES = {
    "200": {"description": "fragmented MP4, streamed as ffmpeg writes it (no Content-Length, no ranges)", "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
    "422": {"description": "ffmpeg cannot convert the file (the message has its reason)"},
    "503": {"description": "every live transcode slot is busy (Retry-After says when to try again)"},
}


@blp.route("/video/<video_hash>/<any(remux, transcode):mode>")
class VideoStream(MethodView):
    @blp.arguments(StreamArgsSchema, location="query")
    @blp.doc(responses=_STREAM_RESPONSES)
    def get(self, args, video_hash, mode):
        """A live remux or transcode to fragmented MP4 from ?start= seconds (a seek is a new request)"""
        video = _servable_video(video_hash)
        start = args["start"]
        _check_start(video, start)
        if request.method == "HEAD":
            return Response(status=200, mimetype="video/mp4", headers={"Cache-Control": "no-store", "Accept-Ranges": "none"})
        config = state.current().config
        slot = None
        if mode == "transcode":
            slot = slots.acquire(os.path.join(config["DATA_DIR"], "transcode-slots"), config["TRANSCODE_MAX_CONCURRENT"], config["TRANSCODE_SLOT_WAIT"], args["session"])
            if slot is None:
                log.warning("live transcode of %s refused: all %d slots busy", video_hash, config["TRANSCODE_MAX_CONCURRENT"])
                abort(
                    503,
                    message=f"all {config['TRANSCODE_MAX_CONCURRENT']} live transcode slots are busy; try again shortly (or pre-transcode this video)",
                    headers={"Retry-After": str(config["TRANSCODE_RETRY_AFTER"])},
                )
        label = f"{mode} of {video_hash} from {start:.3f} s"
        try:
            stream = live.LiveStream(live.stream_command(video, mode, start, config), label, slot=slot, session=args["session"])
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        log.info("%s started (ffmpeg %s)", label, stream.proc.pid)
        try:
            stream.wait_first_bytes(timeout=30)
        except live.StreamError as exc:
            # The file is the problem (ffmpeg cannot read it), not the server: say why.
            log.warning("%s failed: %s (%s)", label, exc, video["path"])
            abort(422, message=f"cannot {mode} this video: {exc}")
        response = Response(stream, mimetype="video/mp4", direct_passthrough=True)
        response.headers.update({"Cache-Control": "no-store", "Accept-Ranges": "none", "X-Stream-Start": f"{start:.6f}"})
        response.call_on_close(stream.close)
        return response


@blp.route("/api/playback/stream-start/<video_hash>")
class StreamStart(MethodView):
    @blp.arguments(StreamStartArgsSchema, location="query")
    @blp.response(200, StreamStartSchema)
    def get(self, args, video_hash):
        """Where a live stream asked to start at t will start, and its URL (the player calls it on every seek)"""
        video = _servable_video(video_hash)
        t = args["t"]
        _check_start(video, t)
        start = t
        if args["mode"] == "remux":
            try:
                start = live.keyframe_at_or_before(video["path"], t)
            except Exception as exc:  # an unreadable index: ffmpeg still seeks; the time shown may be early
                log.warning("keyframe lookup in %s at %.3f s failed: %s", video["path"], t, exc)
        return {"hash": video_hash, "mode": args["mode"], "requested": t, "start": start, "url": stream_url(video_hash, args["mode"], start)}


def _visible(video_hash: str) -> bool:
    db = state.current().db
    return db.execute(f"SELECT 1 FROM videos v WHERE v.hash = ? AND {visible_sql('v')}", [video_hash]).fetchone() is not None


_MEDIA_FILE_NAMES = {"poster.jpg", "sprite.jpg", "sprite.vtt", "teaser_small.mp4", "teaser_large.mp4", "playback.mp4"}


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
