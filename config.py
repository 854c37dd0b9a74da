"""Every vidlib setting, declared once: name, type, default and a one-line help.

A setting ``NAME`` is read from the environment variable ``VIDLIB_NAME``, then from a
``.env`` file in the working directory (or the file named by ``VIDLIB_ENV_FILE``), then
falls back to its default. ``docs/configuration.md`` lists every setting; a test fails when
one is missing there.

Nothing here runs at import time beyond declaring the list: call :func:`load_config`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

ENV_PREFIX = "VIDLIB_"


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _parse_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class Setting:
    """One configurable value."""

    name: str
    type: str  # str | int | float | bool | list | path
    default: Any
    help: str

    def parse(self, raw: str) -> Any:
        """Convert the raw string from the environment into this setting's type."""
        parsers: dict[str, Callable[[str], Any]] = {
            "str": str,
            "int": int,
            "float": float,
            "bool": _parse_bool,
            "list": _parse_list,
            "path": lambda v: str(Path(v).expanduser()) if v else "",
        }
        try:
            return parsers[self.type](raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{self.name}: {exc}") from None


def default_data_dir() -> str:
    """The per-user data folder (e.g. ``~/.local/share/vidlib`` on Linux)."""
    from platformdirs import user_data_dir

    return user_data_dir("vidlib", appauthor=False)


SETTINGS: tuple[Setting, ...] = (
    # -- storage
    Setting("DATA_DIR", "path", None, "Folder for the SQLite database, logs, the search index and the embedded Redis socket; default: the per-user data folder."),
    Setting("MEDIA_DIR", "path", None, "Folder for generated preview media; default: DATA_DIR/media. Never inside a video folder."),
    Setting("DB_FILENAME", "str", "vidlib.db", "File name of the SQLite database inside DATA_DIR."),
    Setting("DB_BUSY_TIMEOUT_MS", "int", 10000, "How long a SQLite writer waits for a lock held by another process, in milliseconds."),
    Setting("DOCTOR_MIN_FREE_MB", "int", 1024, "`doctor` fails when MEDIA_DIR or DATA_DIR has less free space than this, in MiB (and warns below five times it)."),
    # -- web
    Setting("HOST", "str", "127.0.0.1", "Address the web server binds to (loopback by default)."),
    Setting("PORT", "int", 8000, "Port the web server listens on."),
    Setting("ADMIN_TOKEN", "str", "", "Token required for dashboard and mutating endpoints; when empty those endpoints only answer loopback clients."),
    Setting("ADMIN_SESSION_DAYS", "int", 30, "How long the dashboard login (an HttpOnly, SameSite=Strict cookie signed with ADMIN_TOKEN) lasts, in days."),
    Setting("ALLOWED_HOSTS", "list", [], "Extra host names (comma-separated) under which a loopback client may use the dashboard without a token; loopback names and this machine's hostname always work."),
    Setting("MAX_PAGE_SIZE", "int", 200, "Largest page size any listing endpoint accepts."),
    Setting("RESPONSE_CACHE_MB", "int", 4, "Memory per web worker for finished listing responses (name lists, pages without search words), kept until the library changes; 0 turns the cache off."),
    Setting("DEFAULT_PAGE_SIZE", "int", 48, "Page size used when a request does not ask for one."),
    Setting("WEB_WORKERS", "int", 2, "gunicorn worker processes (gunicorn.conf.py)."),
    Setting("WEB_THREADS", "int", 8, "Threads per gunicorn worker; a playing video or a live transcode holds one while it streams."),
    Setting("WEB_TIMEOUT", "int", 60, "Seconds a gunicorn worker may stay silent before it is restarted."),
    Setting("WEB_GRACEFUL_TIMEOUT", "int", 4, "Seconds gunicorn gives requests in flight to finish on stop (honcho kills everything 5 s after Ctrl-C)."),
    Setting("ACCESS_LOG", "str", "-", "Where gunicorn writes its access log: '-' for standard output (the run command's console), a file path, or empty for none."),
    Setting("TRUSTED_PROXIES", "int", 0, "Number of reverse proxies in front of vidlib whose X-Forwarded-For/-Proto/-Host/-Prefix headers are trusted (0: none)."),
    Setting("SEND_TIMEOUT", "int", 60, "Seconds a response waits for a client that reads nothing (a stalled or vanished player) before the connection is closed and its web thread freed, like nginx's send_timeout; 0: wait for ever."),
    Setting("HEADER_TIMEOUT", "int", 60, "Seconds a request's headers may take to arrive once a web thread has started on it (a slow or hostile client), like nginx's client_header_timeout; the connection is then closed and the thread freed. 0: no limit."),
    Setting("VIDEO_CHUNK_BYTES", "int", 262144, "Block size for streaming video bytes when sendfile is not available."),
    # -- jobs
    Setting("REDIS_URL", "str", "", "Redis URL of the job queue; when empty, the run command starts a private redis-server on DATA_DIR/redis.sock."),
    Setting("SCAN_ON_START", "bool", True, "Queue a rescan of every folder when the worker starts."),
    Setting("JOB_TIMEOUT_SCAN", "int", 6 * 3600, "Longest a folder scan job may run, in seconds."),
    # -- library
    Setting("FOLDERS", "list", [], "Comma-separated folders added to the library at start-up (the dashboard and `add-folder` add more)."),
    Setting("FOLDER_ROOTS", "list", [], "When set (comma-separated absolute paths), library folders must lie inside one of these roots, and only files inside them are served."),
    Setting("VIDEO_EXTENSIONS", "list", ["mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "mpg", "mpeg", "ts", "m2ts", "mts", "3gp", "ogv", "vob", "divx", "asf"], "File extensions (comma-separated, no dots, case-insensitive) the scanner treats as videos."),
    Setting("SKIP_DIRS", "list", ["@eaDir", "#recycle", "$RECYCLE.BIN", "System Volume Information", "lost+found", ".Trash", "node_modules"], "Folder names the scanner never enters (hidden folders starting with '.' are always skipped)."),
    Setting("FILENAME_PATTERN", "str", "", "Extra regular expression tried first on file names; named groups: studio, date, performers, title."),
    Setting("PERFORMER_SEPARATORS", "str", r",|&| and ", "Regular expression that splits a performer list in a file name."),
    Setting("FULL_HASH_CHUNK_BYTES", "int", 1 << 20, "Read size when a full-content hash is needed to tell a duplicate from a hash collision."),
    Setting("SPOTLIGHT_MIN_HEIGHT", "int", 720, "A video at least this tall counts as high resolution for the spotlight pick."),
    # -- watcher
    Setting("WATCH_QUIET_SECONDS", "float", 3.0, "A new or changed file is scanned once no event arrived and its size and mtime did not change for this long."),
    Setting("WATCH_POLL_INTERVAL", "float", 30.0, "Seconds between scans of a folder watched by polling (network shares, forced polling, failed event watches)."),
    Setting("WATCH_FOLDER_SYNC_SECONDS", "float", 2.0, "How often the watcher checks for folders added or removed on the dashboard and for dead observers."),
    Setting("WATCH_TICK_SECONDS", "float", 0.5, "How often the watcher decides which pending files have settled."),
    # -- preview media
    Setting("WORKERS", "int", 1, "How many RQ worker processes `python worker.py` (and the run command) starts."),
    Setting("MEDIA_AUTO_QUEUE", "bool", True, "Queue preview media for new videos found by a scan."),
    Setting("MEDIA_JOB_TIMEOUT_BASE", "int", 300, "Timeout of a media job in seconds, before adding the per-minute allowance."),
    Setting("MEDIA_JOB_TIMEOUT_PER_MINUTE", "int", 20, "Extra timeout per minute of video, in seconds (teasers get three times this)."),
    Setting("JPEG_QUALITY", "int", 85, "JPEG quality of posters, preview thumbnails and seek sprites."),
    Setting("POSTER_WIDTH", "int", 1280, "Poster width in pixels (never upscaled)."),
    Setting("PREVIEW_COUNT", "int", 10, "Number of preview thumbnails per video (hover scrubbing)."),
    Setting("PREVIEW_WIDTH", "int", 320, "Preview thumbnail width in pixels."),
    Setting("SEEK_THUMBS_MAX", "int", 100, "Most seek-bar thumbnails per video (one every duration/N seconds)."),
    Setting("SEEK_THUMBS_MIN_INTERVAL", "float", 1.0, "Seek-bar thumbnails are never closer together than this, in seconds."),
    Setting("STILLS_EXACT_DECODE_BUDGET", "int", 600, "Frames a preview/seek-thumbnail job may decode to fill gaps between sparse keyframes with exact frames."),
    Setting("SEEK_THUMB_WIDTH", "int", 160, "Seek-bar thumbnail width in pixels."),
    Setting("SEEK_SPRITE_COLUMNS", "int", 10, "Tiles per row in the seek-bar sprite sheet."),
    Setting("TEASER_SMALL_WIDTH", "int", 320, "Small (card hover) teaser width in pixels."),
    Setting("TEASER_SMALL_SEGMENTS", "int", 6, "Number of segments in the small teaser."),
    Setting("TEASER_SMALL_SEGMENT_SECONDS", "float", 1.0, "Length of each small-teaser segment, in seconds."),
    Setting("TEASER_SMALL_CRF", "int", 28, "x264 CRF of the small teaser (higher = smaller file)."),
    Setting("TEASER_LARGE_WIDTH", "int", 854, "Large (spotlight) teaser width in pixels."),
    Setting("TEASER_LARGE_SEGMENTS", "int", 6, "Number of segments in the large teaser."),
    Setting("TEASER_LARGE_SEGMENT_SECONDS", "float", 2.0, "Length of each large-teaser segment, in seconds."),
    Setting("TEASER_LARGE_CRF", "int", 24, "x264 CRF of the large teaser."),
    Setting("TEASER_SKIP_EDGES", "float", 0.05, "Share of the video skipped at the start and at the end when picking teaser segments."),
    Setting("TEASER_PRESET", "str", "veryfast", "x264 preset for teasers."),
    Setting("TEASER_MAX_FPS", "float", 30.0, "Teasers are encoded at the source frame rate, capped at this."),
    Setting("TEASER_THREADS", "int", 2, "Encoder threads per teaser job."),
    # -- playback (docs/playback.md)
    Setting("TRANSCODE_MAX_CONCURRENT", "int", 2, "Live transcodes that may run at once across all web workers; one more gets 503 with Retry-After (0 turns live transcoding off)."),
    Setting("TRANSCODE_MAX_HEIGHT", "int", 720, "Live transcodes are scaled down to this many pixels on the short side (never up)."),
    Setting("TRANSCODE_PRESET", "str", "superfast", "x264 preset of live transcodes (tuned for low latency: no lookahead, no B-frames)."),
    Setting("TRANSCODE_CRF", "int", 23, "x264 CRF of live transcodes."),
    Setting("TRANSCODE_THREADS", "int", 0, "Encoder threads per live transcode (0: ffmpeg decides)."),
    Setting("TRANSCODE_AUDIO_BITRATE", "str", "160k", "AAC bitrate of transcoded and re-encoded audio (stereo)."),
    Setting("TRANSCODE_NICE", "int", 10, "Niceness of live and pre-transcode ffmpeg processes (higher yields more CPU to the web process)."),
    Setting("TRANSCODE_SLOT_WAIT", "float", 2.0, "Seconds a new live transcode waits for a free slot (the stream a seek replaces may still be stopping) before answering 503."),
    Setting("TRANSCODE_RETRY_AFTER", "int", 10, "Retry-After seconds sent with the 503 when every live transcode slot is busy."),
    Setting("PRETRANSCODE_MAX_HEIGHT", "int", 1080, "Pre-transcoded files are scaled down to this many pixels on the short side (never up)."),
    Setting("PRETRANSCODE_PRESET", "str", "fast", "x264 preset of pre-transcoded files (a worker job, so slower and smaller than live)."),
    Setting("PRETRANSCODE_CRF", "int", 22, "x264 CRF of pre-transcoded files."),
    Setting("PRETRANSCODE_THREADS", "int", 0, "Encoder threads per pre-transcode job (0: ffmpeg decides)."),
    # -- search
    Setting("SEARCH_CANDIDATES", "int", 500, "Most full-text matches that are reranked, faceted and paged: the best by bm25, or with more than SEARCH_RANK_ALL_MAX matches the newest (docs/search.md)."),
    Setting("SEARCH_RANK_ALL_MAX", "int", 500, "A search with at most this many visible matches (and at least SEARCH_CANDIDATES) ranks every match by bm25; with more, bm25 is not computed and the candidates are the newest matches, those in titles and names first (docs/search.md)."),
    Setting("SEARCH_RERANK_WEIGHT", "float", 0.5, "Share of the TF-IDF cosine in the relevance score (the rest is normalised bm25)."),
    Setting("SIMILARITY_MAX_DF", "float", 0.5, "Profile tokens found in more than this share of videos are ignored by similarity."),
    Setting("INDEX_DEBOUNCE_SECONDS", "int", 10, "Delay before the similarity index is rebuilt after library changes (a burst gives one rebuild)."),
    # -- logging
    Setting("LOG_LEVEL", "str", "INFO", "Log level for the console and the log files (DEBUG, INFO, WARNING, ERROR)."),
    Setting("LOG_FORMAT", "str", "text", "Log line format: text or json."),
    Setting("LOG_FILE_MAX_BYTES", "int", 10 * 1024 * 1024, "Size at which a process's log file is rotated."),
    Setting("LOG_FILE_BACKUPS", "int", 5, "How many rotated log files to keep per process."),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def _read_env_file(environ: Mapping[str, str]) -> dict[str, str]:
    from dotenv import dotenv_values

    path = environ.get(ENV_PREFIX + "ENV_FILE", ".env")
    if not os.path.isfile(path):
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting: overrides > environment > .env file > default.

    ``overrides`` uses the bare names (``DATA_DIR``), already typed; it is how tests and
    ``create_app(test_config)`` configure an instance.
    """
    environ = os.environ if environ is None else environ
    file_values = _read_env_file(environ)
    overrides = dict(overrides or {})
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        key = ENV_PREFIX + setting.name
        if setting.name in overrides:
            config[setting.name] = overrides.pop(setting.name)
        elif key in environ:
            config[setting.name] = setting.parse(environ[key])
        elif key in file_values:
            config[setting.name] = setting.parse(file_values[key])
        else:
            default = setting.default
            config[setting.name] = list(default) if isinstance(default, list) else default
    config.update(overrides)  # extra keys (e.g. TESTING) pass through untouched
    if not config["DATA_DIR"]:
        config["DATA_DIR"] = default_data_dir()
    config["DATA_DIR"] = os.path.abspath(config["DATA_DIR"])
    if not config["MEDIA_DIR"]:
        config["MEDIA_DIR"] = os.path.join(config["DATA_DIR"], "media")
    config["MEDIA_DIR"] = os.path.abspath(config["MEDIA_DIR"])
    config["VIDEO_EXTENSIONS"] = [e.lower().lstrip(".") for e in config["VIDEO_EXTENSIONS"]]
    return config


def embedded_redis_socket(config: Mapping[str, Any]) -> str:
    """Path of the private redis-server's unix socket used when REDIS_URL is empty."""
    return os.path.join(config["DATA_DIR"], "redis.sock")


def redis_url(config: Mapping[str, Any]) -> str:
    """The Redis URL in effect: the configured one, or the embedded default."""
    return config["REDIS_URL"] or f"unix://{embedded_redis_socket(config)}"
