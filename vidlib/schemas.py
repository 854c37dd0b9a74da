"""marshmallow schemas of the API's requests and responses (the OpenAPI spec is built from them)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from vidlib.media import JOB_KINDS, MEDIA_KINDS

HASH_PATTERN = r"^[0-9a-f]{16}$"  # a video id: oshash, 16 lowercase hex digits


class MediaStatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "missing, queued, running, done, failed or cancelled"})
    progress = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    url = fields.String(allow_none=True, metadata={"description": "when done: the file (seek thumbnails: the WebVTT)"})
    urls = fields.List(fields.String(), metadata={"description": "preview thumbnails when done"})
    vtt_url = fields.String()
    sprite_url = fields.String()


class MediaMapSchema(Schema):
    poster = fields.Nested(MediaStatusSchema)
    preview_thumbnails = fields.Nested(MediaStatusSchema)
    seek_thumbnails = fields.Nested(MediaStatusSchema)
    teaser_small = fields.Nested(MediaStatusSchema)
    teaser_large = fields.Nested(MediaStatusSchema)


class PlaybackSourceSchema(Schema):
    url = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "MIME type of what the URL serves"})
    mode = fields.String(required=True, validate=validate.OneOf(["direct", "remux", "transcode", "pretranscoded"]), metadata={"description": "direct: the file; remux / transcode: a live fragmented-MP4 stream (add ?start=<s> to start elsewhere; see /api/playback/stream-start); pretranscoded: a compatible MP4 made ahead of time"})


class PlaybackSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(["direct", "remux", "transcode"]), metadata={"description": "how the file reaches a browser, decided from the probe"})
    reason = fields.String(required=True)
    pretranscode = fields.Nested(MediaStatusSchema, required=True, metadata={"description": "status of the optional pre-transcoded MP4"})


class VideoSchema(Schema):
    hash = fields.String(required=True, metadata={"description": "content id (oshash, 16 hex digits)"})
    title = fields.String(required=True)
    filename = fields.String(required=True)
    studio = fields.String(allow_none=True)
    performers = fields.List(fields.String(), required=True)
    categories = fields.List(fields.String(), required=True)
    date = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD or YYYY"})
    description = fields.String(allow_none=True)
    duration = fields.Float(allow_none=True, metadata={"description": "seconds"})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    fps = fields.Float(allow_none=True)
    video_codec = fields.String(allow_none=True)
    audio_codec = fields.String(allow_none=True)
    bitrate = fields.Integer(allow_none=True, metadata={"description": "bits per second"})
    container = fields.String(allow_none=True)
    pix_fmt = fields.String(allow_none=True, metadata={"description": "pixel format of the video stream (e.g. yuv420p)"})
    rotation = fields.Integer(required=True, metadata={"description": "display rotation in degrees"})
    size = fields.Integer(required=True, metadata={"description": "bytes"})
    added_at = fields.String(required=True)
    favourite = fields.Boolean(required=True)
    url = fields.String(required=True, metadata={"description": "where the video bytes are served (HTTP Range)"})
    media = fields.Nested(MediaMapSchema, required=True)
    sources = fields.List(fields.Nested(PlaybackSourceSchema), required=True, metadata={"description": "what the player plays, in preference order"})
    playback = fields.Nested(PlaybackSchema, required=True)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={"description": "at most MAX_PAGE_SIZE"})


class NameListArgsSchema(PageArgsSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=200), metadata={"description": "substring filter"})
    sort = fields.String(load_default="name", validate=validate.OneOf(["name", "count"]))


class NameCountSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


class NameListSchema(Schema):
    items = fields.List(fields.Nested(NameCountSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class VideoPageSchema(Schema):
    items = fields.List(fields.Nested(VideoSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class SeededPageSchema(VideoPageSchema):
    seed = fields.Integer(required=True)


class FavouriteSchema(Schema):
    hash = fields.String(required=True)
    favourite = fields.Boolean(required=True)


class FolderSchema(Schema):
    id = fields.Integer(required=True)
    path = fields.String(required=True)
    added_at = fields.String(required=True)
    last_scan_at = fields.String(allow_none=True)
    force_polling = fields.Boolean(required=True)
    video_count = fields.Integer(required=True)
    reachable = fields.Boolean(required=True)
    scan_job = fields.String(allow_none=True, metadata={"description": "id of the queued scan job, if one was queued"})


class FolderAddSchema(Schema):
    path = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=4096), validate.Regexp(r"^(/|~/|~$)[^\x00]*$", error="must be an absolute path (or start with ~/), without NUL bytes")],
        metadata={"description": "an existing, readable folder; not the data or media dir, not nested in another library folder, inside VIDLIB_FOLDER_ROOTS when set"},
    )


class RescanArgsSchema(Schema):
    folder_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "one folder; all folders when absent"})


class JobsSchema(Schema):
    jobs = fields.List(fields.String(), required=True)


class DuplicateSchema(Schema):
    hash = fields.String(required=True)
    path = fields.String(required=True, metadata={"description": "the video's primary path"})
    copies = fields.List(fields.String(), required=True, metadata={"description": "other paths with identical content"})


class CollisionSchema(Schema):
    oshash = fields.String(required=True)
    hash_a = fields.String(required=True)
    path_a = fields.String(required=True)
    hash_b = fields.String(required=True)
    path_b = fields.String(required=True)
    found_at = fields.String(required=True)


class ScanErrorSchema(Schema):
    path = fields.String(required=True)
    reason = fields.String(required=True)
    size = fields.Integer(allow_none=True)
    at = fields.String(required=True)


class StatsSchema(Schema):
    videos = fields.Integer(required=True)
    missing = fields.Integer(required=True)
    folders = fields.Integer(required=True)
    performers = fields.Integer(required=True)
    studios = fields.Integer(required=True)
    categories = fields.Integer(required=True)
    favourites = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    collisions = fields.Integer(required=True)
    scan_errors = fields.Integer(required=True)
    total_bytes = fields.Integer(required=True)
    total_duration = fields.Float(required=True)


# -- search -----------------------------------------------------------------------------


class SearchArgsSchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=20000), metadata={"description": "free text; every word must match (typos forgiven)"})
    raw = fields.Boolean(load_default=False, metadata={"description": "treat q as raw FTS5 query syntax"})
    studio = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list, metadata={"description": "repeatable; any of them"})
    performer = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list, metadata={"description": "repeatable; all of them"})
    category = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list, metadata={"description": "repeatable; all of them"})
    favourites = fields.Boolean(load_default=False, metadata={"description": "only favourites"})
    min_duration = fields.Float(load_default=None, validate=validate.Range(min=0, max=1e7), metadata={"description": "seconds"})
    max_duration = fields.Float(load_default=None, validate=validate.Range(min=0, max=1e7), metadata={"description": "seconds"})
    min_height = fields.Integer(load_default=None, validate=validate.Range(min=0, max=100000))
    added_since = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD"})
    sort = fields.String(load_default=None, validate=validate.OneOf(["relevance", "newest", "oldest", "longest", "shortest", "title", "random"]), metadata={"description": "default: relevance with q, newest without"})
    seed = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**63 - 1), metadata={"description": "seed of sort=random"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=None, validate=validate.Range(min=1))
    facets = fields.Boolean(load_default=False, metadata={"description": "include studio/performer/category counts among the matches"})


class ScoredVideoSchema(VideoSchema):
    score = fields.Float(allow_none=True, metadata={"description": "relevance or similarity score"})


class FacetsSchema(Schema):
    studios = fields.List(fields.Nested(NameCountSchema))
    performers = fields.List(fields.Nested(NameCountSchema))
    categories = fields.List(fields.Nested(NameCountSchema))


class SearchResultSchema(Schema):
    items = fields.List(fields.Nested(ScoredVideoSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    sort = fields.String(required=True)
    corrected = fields.String(allow_none=True, metadata={"description": "the query as typo-corrected, when a correction was used"})
    facets = fields.Nested(FacetsSchema, allow_none=True)


class AutocompleteArgsSchema(Schema):
    q = fields.String(required=True, validate=validate.Length(max=500))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class SuggestionSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "performer, studio, category or title"})
    value = fields.String(required=True)
    count = fields.Integer(allow_none=True)
    hash = fields.String(allow_none=True)


class SimilarVideosSchema(Schema):
    items = fields.List(fields.Nested(ScoredVideoSchema), required=True)
    start_from = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    has_more = fields.Boolean(required=True)


class SimilarNameSchema(Schema):
    name = fields.String(required=True)
    score = fields.Float(required=True)
    count = fields.Integer(required=True)


class SimilarNamesSchema(Schema):
    name = fields.String(required=True)
    items = fields.List(fields.Nested(SimilarNameSchema), required=True)


class SimilarNamesArgsSchema(Schema):
    limit = fields.Integer(load_default=24, validate=validate.Range(min=1, max=200))


class ContentFilterSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(["studio", "category", "performer"]))
    value = fields.String(required=True, validate=validate.Length(min=1, max=500))
    added_at = fields.String(dump_only=True)


# -- preview media ----------------------------------------------------------------------


class MediaInfoSchema(Schema):
    hash = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    url = fields.String(allow_none=True, metadata={"description": "main file (for seek thumbnails: the WebVTT index)"})
    urls = fields.List(fields.String(), metadata={"description": "preview thumbnails, in time order"})
    vtt_url = fields.String(metadata={"description": "seek thumbnails: WebVTT cues pointing at sprite.jpg#xywh=x,y,w,h"})
    sprite_url = fields.String()


class GenerateSchema(Schema):
    kinds = fields.List(fields.String(validate=validate.OneOf(JOB_KINDS)), load_default=None, metadata={"description": "default: every preview kind (transcode, the optional pre-transcode, only when named; for the whole library it covers the videos that do not play directly)"})
    scope = fields.String(load_default="missing", validate=validate.OneOf(["missing", "all"]), metadata={"description": "missing: only what is not generated; all: regenerate"})
    hashes = fields.List(fields.String(validate=validate.Regexp(HASH_PATTERN, error="expected 16 lowercase hex digits")), load_default=None, validate=validate.Length(max=1000), metadata={"description": "only these videos (default: the whole library)"})


class GenerateResultSchema(Schema):
    queued = fields.Integer(allow_none=True, metadata={"description": "jobs queued now (None when a background job does the queuing)"})
    job = fields.String(allow_none=True, metadata={"description": "id of the background job queuing the whole library"})


class MediaTargetSchema(Schema):
    hash = fields.String(load_default=None, validate=validate.Regexp(HASH_PATTERN, error="expected 16 lowercase hex digits"))
    kind = fields.String(load_default=None, validate=validate.OneOf(JOB_KINDS))


class CountResultSchema(Schema):
    count = fields.Integer(required=True)


class RunningJobSchema(Schema):
    hash = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(allow_none=True)
    progress = fields.Float(allow_none=True)
    started_at = fields.String(allow_none=True)
    eta_seconds = fields.Float(allow_none=True)


class MediaStatusSummarySchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()), required=True, metadata={"description": "kind -> status -> videos"})
    running = fields.List(fields.Nested(RunningJobSchema), required=True)
    queued_jobs = fields.Integer(required=True)
    workers = fields.Integer(required=True)
    queue_available = fields.Boolean(required=True)


class FailedMediaSchema(Schema):
    hash = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    updated_at = fields.String(required=True)


class FolderUpdateSchema(Schema):
    force_polling = fields.Boolean(required=True, metadata={"description": "watch this folder by polling instead of file system events"})


class WatchedFolderSchema(Schema):
    folder_id = fields.Integer(required=True)
    path = fields.String(required=True)
    mode = fields.String(required=True, metadata={"description": "events, polling, unreachable or starting"})
    reason = fields.String(required=True)
    watches = fields.Integer(required=True, metadata={"description": "inotify watches used (one per directory)"})
    watch_limit = fields.Integer(allow_none=True, metadata={"description": "the system's inotify watch limit"})
    last_event_at = fields.String(allow_none=True)
    events = fields.Integer(required=True)
    pending = fields.Integer(required=True, metadata={"description": "files still being copied or settling"})
    restarts = fields.Integer(required=True)
    errors = fields.List(fields.String(), required=True)


class WatcherHealthSchema(Schema):
    running = fields.Boolean(required=True)
    pid = fields.Integer()
    host = fields.String()
    started_at = fields.String()
    updated_at = fields.String()
    inotify_watch_limit = fields.Integer(allow_none=True)
    jobs_queued = fields.Integer()
    folders = fields.List(fields.Nested(WatchedFolderSchema), required=True)


class StreamArgsSchema(Schema):
    start = fields.Float(load_default=0.0, validate=validate.Range(min=0), metadata={"description": "seconds from the start of the video"})
    session = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$"), metadata={"description": "the player's id: a new stream of the same session stops the one it replaces"})


class StreamStartArgsSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(["remux", "transcode"]))
    t = fields.Float(required=True, validate=validate.Range(min=0), metadata={"description": "wanted time in seconds"})


class StreamStartSchema(Schema):
    hash = fields.String(required=True)
    mode = fields.String(required=True)
    requested = fields.Float(required=True)
    start = fields.Float(required=True, metadata={"description": "where the stream will start: the requested time (transcode) or the keyframe at or before it (remux); stream time 0 is this"})
    url = fields.String(required=True, metadata={"description": "the stream URL starting there"})
