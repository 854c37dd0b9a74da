"""The ``api`` blueprint: video data, random picks, favourites, names, and dashboard endpoints."""

from __future__ import annotations

import logging

from flask.views import MethodView

from vidlib import jobs, state
from vidlib.auth import admin_required
from vidlib.db import now_iso, write_transaction
from vidlib.errors import NotFound, VidlibError, abort_for
from vidlib.library import folders as folder_lib
from vidlib.library import videos as video_lib
from vidlib.library.stats import library_stats
from vidlib.routes import Blueprint, check_hash, page_size
from vidlib import filters as filter_lib
from vidlib.schemas import (
    CollisionSchema,
    ContentFilterSchema,
    DuplicateSchema,
    FavouriteSchema,
    FolderAddSchema,
    FolderSchema,
    JobsSchema,
    NameListArgsSchema,
    NameListSchema,
    PageArgsSchema,
    RescanArgsSchema,
    ScanErrorSchema,
    SeededPageSchema,
    StatsSchema,
    VideoSchema,
)

log = logging.getLogger(__name__)

blp = Blueprint("api", __name__, url_prefix="/api", description="Videos, favourites, names and the dashboard")


def _db():
    return state.current().db


def _video(video_hash: str) -> dict:
    check_hash(video_hash)
    try:
        return video_lib.get_video(_db(), video_hash)
    except NotFound as exc:
        abort_for(exc)


@blp.route("/get-video-data/<video_hash>")
class VideoData(MethodView):
    @blp.response(200, VideoSchema)
    def get(self, video_hash):
        """Metadata, media status and favourite flag of one video"""
        return _video(video_hash)


@blp.route("/get-random-video")
class RandomVideo(MethodView):
    @blp.response(200, VideoSchema)
    def get(self):
        """A uniformly random video"""
        try:
            return video_lib.get_video(_db(), video_lib.random_hash(_db()))
        except NotFound as exc:
            abort_for(exc)


@blp.route("/get-random-video-seeded/<seed>")
class SeededRandomVideos(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SeededPageSchema)
    def get(self, args, seed):
        """A page of the library in a shuffled order fixed by the seed (same seed, same order)"""
        try:
            seed_value = int(seed)
        except ValueError:
            seed_value = None
        if seed_value is None or not 0 <= seed_value < 2**63:
            abort_for(VidlibError(f"malformed seed {seed[:40]!r}: expected an integer from 0 to 2**63-1"))
        per_page = page_size(args["per_page"])
        order = video_lib.seeded_order(_db(), seed_value)
        start = (args["page"] - 1) * per_page
        return {
            "seed": seed_value,
            "page": args["page"],
            "per_page": per_page,
            "total": len(order),
            "items": video_lib.load_videos(_db(), order[start : start + per_page]),
        }


@blp.route("/get-random-spotlight-video")
class SpotlightVideo(MethodView):
    @blp.response(200, VideoSchema)
    def get(self):
        """A weighted random pick among favourites, videos with a large teaser and HD videos"""
        try:
            return video_lib.get_video(_db(), video_lib.spotlight_hash(_db(), state.current().config))
        except NotFound as exc:
            abort_for(exc)


def _set_favourite(video_hash: str, favourite: bool) -> dict:
    _video(video_hash)
    db = _db()
    with write_transaction(db):
        if favourite:
            db.execute("INSERT OR IGNORE INTO favourites (hash, added_at) VALUES (?, ?)", [video_hash, now_iso()])
        else:
            db.execute("DELETE FROM favourites WHERE hash = ?", [video_hash])
    return {"hash": video_hash, "favourite": favourite}


@blp.route("/add-favourite/<video_hash>")
class AddFavourite(MethodView):
    decorators = [admin_required]

    @blp.response(200, FavouriteSchema)
    def post(self, video_hash):
        """Mark a video as a favourite (idempotent)"""
        return _set_favourite(video_hash, True)


@blp.route("/remove-favourite/<video_hash>")
class RemoveFavourite(MethodView):
    decorators = [admin_required]

    @blp.response(200, FavouriteSchema)
    def post(self, video_hash):
        """Remove a video from the favourites (idempotent)"""
        return _set_favourite(video_hash, False)


@blp.route("/is-favourite/<video_hash>")
class IsFavourite(MethodView):
    @blp.response(200, FavouriteSchema)
    def get(self, video_hash):
        """Whether a video is a favourite"""
        return {"hash": video_hash, "favourite": _video(video_hash)["favourite"]}


def _names(kind: str, args: dict) -> dict:
    per_page = page_size(args["per_page"])
    items, total = video_lib.name_counts(_db(), kind, args["q"], args["sort"], args["page"], per_page)
    return {"items": items, "total": total, "page": args["page"], "per_page": per_page}


@blp.route("/get-performers")
class Performers(MethodView):
    @blp.arguments(NameListArgsSchema, location="query")
    @blp.response(200, NameListSchema)
    def get(self, args):
        """Performers with their video counts"""
        return _names("performers", args)


@blp.route("/get-studios")
class Studios(MethodView):
    @blp.arguments(NameListArgsSchema, location="query")
    @blp.response(200, NameListSchema)
    def get(self, args):
        """Studios with their video counts"""
        return _names("studios", args)


# -- dashboard ------------------------------------------------------------------------


def _queue_scan(folder_id: int) -> str | None:
    try:
        job, _ = jobs.enqueue_scan(folder_id)
        return job.id
    except jobs.QueueUnavailable as exc:
        log.warning("folder %s not queued for scanning: %s", folder_id, exc)
        return None


@blp.route("/folders")
class Folders(MethodView):
    decorators = [admin_required]

    @blp.response(200, FolderSchema(many=True))
    def get(self):
        """Library folders with their video counts"""
        return folder_lib.list_folders(_db())

    @blp.arguments(FolderAddSchema)
    @blp.response(201, FolderSchema)
    def post(self, body):
        """Add a library folder and queue its first scan"""
        st = state.current()
        try:
            folder = folder_lib.add_folder(st.db, st.config, body["path"])
        except VidlibError as exc:
            abort_for(exc)
        log.info("library folder added: %s", folder["path"])
        folder["scan_job"] = _queue_scan(folder["id"])
        return folder


@blp.route("/folders/<int:folder_id>")
class Folder(MethodView):
    decorators = [admin_required]

    @blp.response(200, FolderSchema)
    def get(self, folder_id):
        """One library folder"""
        try:
            return folder_lib.get_folder(_db(), folder_id)
        except NotFound as exc:
            abort_for(exc)

    @blp.response(204)
    def delete(self, folder_id):
        """Remove a library folder; its videos are marked missing, nothing is deleted"""
        try:
            folder_lib.remove_folder(_db(), folder_id)
        except NotFound as exc:
            abort_for(exc)
        jobs.library_changed()
        log.info("library folder %s removed", folder_id)


@blp.route("/rescan")
class Rescan(MethodView):
    decorators = [admin_required]

    @blp.arguments(RescanArgsSchema, location="json")
    @blp.response(202, JobsSchema)
    def post(self, args):
        """Queue a rescan of one folder or of every folder"""
        db = _db()
        if args["folder_id"] is not None:
            try:
                ids = [folder_lib.get_folder(db, args["folder_id"])["id"]]
            except NotFound as exc:
                abort_for(exc)
        else:
            ids = [r[0] for r in db.execute("SELECT id FROM folders ORDER BY id")]
        queued = []
        for folder_id in ids:
            try:
                job, _ = jobs.enqueue_scan(folder_id)
            except jobs.QueueUnavailable as exc:
                abort_for(VidlibError(str(exc), status=503))
            queued.append(job.id)
        return {"jobs": queued}


@blp.route("/duplicates")
class Duplicates(MethodView):
    decorators = [admin_required]

    @blp.response(200, DuplicateSchema(many=True))
    def get(self):
        """Videos found at more than one path with identical content"""
        db = _db()
        rows = db.execute("SELECT d.hash, v.path, d.path AS copy FROM duplicates d JOIN videos v ON v.hash = d.hash ORDER BY v.path, d.path")
        grouped: dict[str, dict] = {}
        for row in rows:
            grouped.setdefault(row["hash"], {"hash": row["hash"], "path": row["path"], "copies": []})["copies"].append(row["copy"])
        return list(grouped.values())


@blp.route("/collisions")
class Collisions(MethodView):
    decorators = [admin_required]

    @blp.response(200, CollisionSchema(many=True))
    def get(self):
        """Pairs of different files that share an oshash (kept as separate videos)"""
        return [dict(r) for r in _db().execute("SELECT oshash, hash_a, path_a, hash_b, path_b, found_at FROM collisions ORDER BY id")]


@blp.route("/scan-errors")
class ScanErrors(MethodView):
    decorators = [admin_required]

    @blp.response(200, ScanErrorSchema(many=True))
    def get(self):
        """Files the scanner could not index, with the reason"""
        return [dict(r) for r in _db().execute("SELECT path, reason, size, at FROM scan_errors ORDER BY path")]


@blp.route("/stats")
class Stats(MethodView):
    @blp.response(200, StatsSchema)
    def get(self):
        """Library-wide counts"""
        return library_stats(_db())


@blp.route("/content-filters")
class ContentFilters(MethodView):
    decorators = [admin_required]

    @blp.response(200, ContentFilterSchema(many=True))
    def get(self):
        """Site-wide content filters (each hides a studio, category or performer everywhere)"""
        return filter_lib.list_filters(_db())

    @blp.arguments(ContentFilterSchema)
    @blp.response(201, ContentFilterSchema)
    def post(self, body):
        """Add a content filter (idempotent: adding an existing one returns it)"""
        try:
            row = filter_lib.add_filter(_db(), body["kind"], body["value"])
        except ValueError as exc:
            abort_for(VidlibError(str(exc)))
        log.info("content filter added: %s = %s", row["kind"], row["value"])
        return row


@blp.route("/content-filters/<int:filter_id>")
class ContentFilter(MethodView):
    decorators = [admin_required]

    @blp.response(204)
    def delete(self, filter_id):
        """Remove a content filter"""
        if not filter_lib.remove_filter(_db(), filter_id):
            abort_for(NotFound(f"no content filter with id {filter_id}"))
        log.info("content filter %s removed", filter_id)
