"""The ``api`` blueprint: video data, random picks, favourites, names, and dashboard endpoints."""

from __future__ import annotations

import logging

from flask.views import MethodView

from vidlib import jobs, state
from vidlib.auth import admin_required
from vidlib.cache import cached_get
from vidlib.db import now_iso, write_transaction
from vidlib.errors import NotFound, VidlibError, abort_for
from vidlib.library import folders as folder_lib
from vidlib.library import videos as video_lib
from vidlib.library.stats import library_stats
from vidlib.routes import Blueprint, check_hash, page_size
from vidlib import filters as filter_lib
from vidlib.schemas import (
    FolderUpdateSchema,
    WatcherHealthSchema,
    CountResultSchema,
    FailedMediaSchema,
    GenerateResultSchema,
    GenerateSchema,
    MediaStatusSummarySchema,
    MediaTargetSchema,
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
        seed_value = int(seed) if seed.isascii() and seed.isdigit() and len(seed) <= 19 else None
        if seed_value is None or not 0 <= seed_value < 2**63:
            abort_for(VidlibError(f"malformed seed {seed[:40]!r}: expected an integer from 0 to 2**63-1"))
        per_page = page_size(args["per_page"])
        page, total = video_lib.seeded_page(_db(), seed_value, (args["page"] - 1) * per_page, per_page)
        return {"seed": seed_value, "page": args["page"], "per_page": per_page, "total": total, "items": video_lib.load_videos(_db(), page)}


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
    @cached_get()
    @blp.arguments(NameListArgsSchema, location="query")
    @blp.response(200, NameListSchema)
    def get(self, args):
        """Performers with their video counts"""
        return _names("performers", args)


@blp.route("/get-studios")
class Studios(MethodView):
    @cached_get()
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

    @blp.arguments(FolderUpdateSchema)
    @blp.response(200, FolderSchema)
    def patch(self, body, folder_id):
        """Change how a folder is watched (force polling for shares that send no events)"""
        db = _db()
        try:
            folder_lib.get_folder(db, folder_id)
        except NotFound as exc:
            abort_for(exc)
        with write_transaction(db):
            db.execute("UPDATE folders SET force_polling = ? WHERE id = ?", [int(body["force_polling"]), folder_id])
        log.info("folder %s: force_polling = %s", folder_id, body["force_polling"])
        return folder_lib.get_folder(db, folder_id)

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


def _window(args: dict) -> tuple[int, int]:
    """LIMIT and OFFSET for a dashboard list (default 100 rows a page, at most MAX_PAGE_SIZE)."""
    per_page = page_size(args["per_page"] or 100)
    return per_page, (args["page"] - 1) * per_page


def _set_total(total: int) -> None:
    from flask import g

    g.vidlib_total = total


@blp.after_request
def _total_header(response):
    from flask import g

    total = g.pop("vidlib_total", None)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    return response


_PAGED = {"headers": {"X-Total-Count": {"description": "rows in all pages", "schema": {"type": "integer"}}}}


@blp.route("/duplicates")
class Duplicates(MethodView):
    decorators = [admin_required]

    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, DuplicateSchema(many=True), **_PAGED)
    def get(self, args):
        """Videos found at more than one path with identical content (paged; X-Total-Count)"""
        db = _db()
        limit, offset = _window(args)
        _set_total(db.execute("SELECT COUNT(DISTINCT hash) FROM duplicates").fetchone()[0])
        rows = db.execute(
            "SELECT d.hash, v.path, d.path AS copy FROM duplicates d JOIN videos v ON v.hash = d.hash "
            "WHERE d.hash IN (SELECT d2.hash FROM duplicates d2 JOIN videos v2 ON v2.hash = d2.hash GROUP BY d2.hash ORDER BY MIN(v2.path) LIMIT ? OFFSET ?) "
            "ORDER BY v.path, d.path",
            [limit, offset],
        )
        grouped: dict[str, dict] = {}
        for row in rows:
            grouped.setdefault(row["hash"], {"hash": row["hash"], "path": row["path"], "copies": []})["copies"].append(row["copy"])
        return list(grouped.values())


@blp.route("/collisions")
class Collisions(MethodView):
    decorators = [admin_required]

    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, CollisionSchema(many=True), **_PAGED)
    def get(self, args):
        """Pairs of different files that share an oshash, kept as separate videos (paged; X-Total-Count)"""
        db = _db()
        limit, offset = _window(args)
        _set_total(db.execute("SELECT COUNT(*) FROM collisions").fetchone()[0])
        return [dict(r) for r in db.execute("SELECT oshash, hash_a, path_a, hash_b, path_b, found_at FROM collisions ORDER BY id LIMIT ? OFFSET ?", [limit, offset])]


@blp.route("/scan-errors")
class ScanErrors(MethodView):
    decorators = [admin_required]

    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, ScanErrorSchema(many=True), **_PAGED)
    def get(self, args):
        """Files the scanner could not index, with the reason (paged; X-Total-Count)"""
        db = _db()
        limit, offset = _window(args)
        _set_total(db.execute("SELECT COUNT(*) FROM scan_errors").fetchone()[0])
        return [dict(r) for r in db.execute("SELECT path, reason, size, at FROM scan_errors ORDER BY path LIMIT ? OFFSET ?", [limit, offset])]


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


# -- preview media generation (dashboard) -------------------------------------------------


def _media_jobs():
    from vidlib.media import jobs as media_jobs

    return media_jobs


def _queue_or_503(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except jobs.QueueUnavailable as exc:
        abort_for(VidlibError(str(exc), status=503))


@blp.route("/generation/start")
class GenerationStart(MethodView):
    decorators = [admin_required]

    @blp.arguments(GenerateSchema)
    @blp.response(202, GenerateResultSchema)
    def post(self, body):
        """Queue preview media: missing or all (regenerate), per kind, for chosen videos or all"""
        from vidlib.media import MEDIA_KINDS

        kinds = body["kinds"] or list(MEDIA_KINDS)
        force = body["scope"] == "all"
        if body["hashes"]:
            known = {r[0] for r in _db().execute("SELECT hash FROM videos WHERE missing = 0 AND hash IN (SELECT value FROM json_each(?))", [__import__("json").dumps(body["hashes"])])}
            unknown = [h for h in body["hashes"] if h not in known]
            if unknown:
                abort_for(NotFound(f"no video with hash {unknown[0]}"))
            count = _queue_or_503(_media_jobs().queue_missing, body["hashes"], kinds, force=force)
            return {"queued": count, "job": None}
        # The whole library can be 100,000 videos: a background job does the queuing.
        job, _ = _queue_or_503(jobs.enqueue, "scan", jobs.queue_all_media, kinds, force, job_id=f"media-queue-{'all' if force else 'missing'}-{'-'.join(sorted(kinds))}", result_ttl=60)
        return {"queued": None, "job": job.id}


@blp.route("/generation/status")
class GenerationStatus(MethodView):
    decorators = [admin_required]

    @blp.response(200, MediaStatusSummarySchema)
    def get(self):
        """Counts per kind and state, running jobs with progress and ETA"""
        from vidlib.media import JOB_KINDS, TRANSCODE_KIND

        db = _db()
        present = db.execute("SELECT COUNT(*) FROM videos WHERE missing = 0").fetchone()[0]
        # Only videos that do not play directly lack a pre-transcode.
        incompatible = db.execute("SELECT COUNT(*) FROM videos WHERE missing = 0 AND playback != 'direct'").fetchone()[0]
        counts = {kind: {} for kind in JOB_KINDS}
        for row in db.execute("SELECT m.kind, m.status, COUNT(*) AS n FROM media m JOIN videos v ON v.hash = m.hash AND v.missing = 0 GROUP BY m.kind, m.status"):
            counts[row["kind"]][row["status"]] = row["n"]
        for kind in JOB_KINDS:
            counts[kind]["missing"] = max(0, (incompatible if kind == TRANSCODE_KIND else present) - sum(counts[kind].values()))
        running = []
        for row in db.execute("SELECT m.hash, m.kind, m.progress, m.job_id, v.title FROM media m JOIN videos v ON v.hash = m.hash WHERE m.status = 'running' ORDER BY m.updated_at"):
            running.append({"hash": row["hash"], "kind": row["kind"], "title": row["title"], "progress": row["progress"], "started_at": None, "eta_seconds": None})
        st = state.current()
        queued_jobs, workers, available = 0, 0, st.redis_available()
        if available:
            from rq import Worker
            from rq.job import Job

            queued_jobs = st.queue("media").count
            workers = len(Worker.all(connection=st.redis))
            for item in running:
                try:
                    job = Job.fetch(_media_jobs().job_id(item["hash"], item["kind"]), connection=st.redis)
                except Exception:
                    continue
                if job.started_at:
                    import datetime

                    started = job.started_at.replace(tzinfo=datetime.timezone.utc)
                    item["started_at"] = started.isoformat()
                    elapsed = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
                    progress = item["progress"] or 0
                    if progress > 0.02:
                        item["eta_seconds"] = round(elapsed * (1 - progress) / progress, 1)
        return {"counts": counts, "running": running, "queued_jobs": queued_jobs, "workers": workers, "queue_available": available}


@blp.route("/generation/failed")
class GenerationFailed(MethodView):
    decorators = [admin_required]

    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, FailedMediaSchema(many=True), **_PAGED)
    def get(self, args):
        """Failed preview media with the reason (paged; X-Total-Count)"""
        db = _db()
        limit, offset = _window(args)
        where = "FROM media m JOIN videos v ON v.hash = m.hash WHERE m.status = 'failed' AND v.missing = 0"
        _set_total(db.execute(f"SELECT COUNT(*) {where}").fetchone()[0])
        rows = db.execute(f"SELECT m.hash, m.kind, v.title, m.error, m.updated_at {where} ORDER BY m.updated_at DESC, m.hash LIMIT ? OFFSET ?", [limit, offset])
        return [dict(r) for r in rows]


def _targets(body: dict, statuses: tuple[str, ...]) -> list[tuple[str, str]]:
    sql = f"SELECT hash, kind FROM media WHERE status IN ({','.join('?' * len(statuses))})"
    params: list = list(statuses)
    if body["hash"]:
        sql += " AND hash = ?"
        params.append(check_hash(body["hash"]))
    if body["kind"]:
        sql += " AND kind = ?"
        params.append(body["kind"])
    return [(r[0], r[1]) for r in _db().execute(sql, params)]


@blp.route("/generation/retry")
class GenerationRetry(MethodView):
    decorators = [admin_required]

    @blp.arguments(MediaTargetSchema)
    @blp.response(202, CountResultSchema)
    def post(self, body):
        """Queue failed (or cancelled) preview media again (all, one video, or one kind)"""
        count = 0
        for video_hash, kind in _targets(body, ("failed", "cancelled")):
            _, created = _queue_or_503(_media_jobs().enqueue_media, video_hash, kind, force=True)
            count += int(created)
        return {"count": count}


@blp.route("/generation/cancel")
class GenerationCancel(MethodView):
    decorators = [admin_required]

    @blp.arguments(MediaTargetSchema)
    @blp.response(200, CountResultSchema)
    def post(self, body):
        """Cancel queued and running preview media jobs (all, one video, or one kind)"""
        count = 0
        for video_hash, kind in _targets(body, ("queued", "running")):
            count += int(_queue_or_503(_media_jobs().cancel, video_hash, kind))
        return {"count": count}


@blp.route("/generation/prioritize/<video_hash>")
class GenerationPrioritize(MethodView):
    decorators = [admin_required]

    @blp.response(202, CountResultSchema)
    def post(self, video_hash):
        """Move a video's missing preview media to the front of the queue (called when it is opened)"""
        _video(video_hash)
        count = _queue_or_503(_media_jobs().queue_missing, [video_hash], at_front=True)
        return {"count": count}


@blp.route("/watcher/health")
class WatcherHealth(MethodView):
    decorators = [admin_required]

    @blp.response(200, WatcherHealthSchema)
    def get(self):
        """The folder watcher's health per folder (mode, watches, last event, pending files, errors)"""
        from vidlib.watcher import read_health

        try:
            return read_health(state.current())
        except Exception as exc:  # Redis down: the watcher cannot report either
            log.debug("watcher health unavailable: %s", exc)
            return {"running": False, "folders": []}
