"""The one ``AppState`` per process: config, database connections, Redis and job queues.

Built by the app factory (web), ``worker.py``, the CLI and the watcher alike. Nothing
connects at import time: the database opens per thread on first use, Redis on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlite_utils

from config import load_config, redis_url
from vidlib import db as dbmod

log = logging.getLogger(__name__)

QUEUE_NAMES = ("scan", "media", "index")  # highest priority first

# -- the cyclic garbage collector in web workers ---------------------------------------------
# A web worker holds ~140,000 container objects that live as long as it does (modules, the app,
# the similarity index's vocabulary, the speller). Each full collection walks all of them with
# the GIL held: ~60 ms in which none of the worker's threads answers, a few times a minute under
# load, and the slowest 1 % of requests waited for it. gunicorn.conf.py turns this on in each
# worker once the app is loaded; the long-lived objects are then moved out of the collector's
# reach (``gc.freeze``), and again whenever the index is (re)loaded.
_freeze_long_lived = False


def freeze_long_lived(enable: bool = False) -> None:
    """Keep the objects alive now out of the cyclic collector's walks (``enable`` turns it on
    for this process; until then this does nothing). Unfreezes and collects once first, so the
    garbage of what was replaced (an older index) is still found."""
    global _freeze_long_lived
    import gc

    _freeze_long_lived = _freeze_long_lived or enable
    if not _freeze_long_lived:
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class AppState:
    """Per-process shared state. Safe to use from several threads."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self._local = threading.local()
        self._lock = threading.Lock()
        self._redis = None
        self._index_holder = None
        self._response_cache = None

    @property
    def response_cache(self):
        """This process's cache of finished listing responses (vidlib.cache), None when off."""
        if self._response_cache is None and self.config.get("RESPONSE_CACHE_MB", 0) > 0:
            from vidlib.cache import ResponseCache

            with self._lock:
                if self._response_cache is None:
                    self._response_cache = ResponseCache(self.config["RESPONSE_CACHE_MB"] << 20)
        return self._response_cache

    @property
    def similarity(self):
        """The loaded similarity index (reloaded when a newer build is stamped), or None."""
        if self._index_holder is None:
            from vidlib.search.index import IndexHolder

            # One holder per process, however many threads ask first: each holder loads its
            # own copy of the index (~170 MB at 100,000 videos), and the first burst of
            # requests of a fresh worker made up to one a thread (a 780 MiB peak).
            with self._lock:
                if self._index_holder is None:
                    self._index_holder = IndexHolder(self.config)
        return self._index_holder.get(self.db)

    # -- database -----------------------------------------------------------------------
    @property
    def db_path(self) -> str:
        import os

        return os.path.join(self.config["DATA_DIR"], self.config["DB_FILENAME"])

    def ensure_dirs(self) -> None:
        """Create the data and media directories if needed."""
        import os

        os.makedirs(self.config["DATA_DIR"], exist_ok=True)
        os.makedirs(self.config["MEDIA_DIR"], exist_ok=True)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (opened and migrated on first use)."""
        conn = getattr(self._local, "db", None)
        if conn is None:
            self.ensure_dirs()
            conn = dbmod.connect(self.db_path, self.config["DB_BUSY_TIMEOUT_MS"])
            self._local.db = conn
        return conn

    def close_db(self) -> None:
        """Close this thread's connection, if open."""
        conn = getattr(self._local, "db", None)
        if conn is not None:
            conn.close()
            self._local.db = None

    # -- redis / rq ----------------------------------------------------------------------
    @property
    def redis_url(self) -> str:
        return redis_url(self.config)

    @property
    def redis(self):
        """The Redis connection (created lazily; it connects on the first command)."""
        with self._lock:
            if self._redis is None:
                from redis import Redis

                self._redis = Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=30)
            return self._redis

    def queue(self, name: str):
        """The RQ queue called ``name`` (one of :data:`QUEUE_NAMES`)."""
        from rq import Queue

        if name not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {name!r}")
        return Queue(name, connection=self.redis)

    def wait_for_redis(self, deadline_s: float = 30.0) -> bool:
        """Wait until Redis answers (the embedded one may still be starting); False on timeout."""
        import time

        deadline = time.monotonic() + deadline_s
        while not self.redis_available():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def redis_available(self) -> bool:
        """True when Redis answers a ping right now."""
        try:
            return bool(self.redis.ping())
        except Exception:
            return False


_process_state: AppState | None = None


def init_process_state(config: dict[str, Any] | None = None) -> AppState:
    """Create this process's state (worker, watcher); returns it."""
    global _process_state
    _process_state = AppState(config if config is not None else load_config())
    return _process_state


def current() -> AppState:
    """The state of the running app (inside a Flask context) or of this process."""
    try:
        from flask import current_app

        return current_app.extensions["vidlib"]
    except (RuntimeError, KeyError):
        pass
    if _process_state is None:
        return init_process_state()
    return _process_state
