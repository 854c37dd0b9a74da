"""Per-process caches kept until the library changes.

Migration 7 keeps an ``index_state`` row ``data`` that triggers bump on every change to what
the read API shows (videos, favourites, preview media, names and their links, content
filters). :func:`data_version` reads it (one row), and :func:`kept` keeps anything computed
from the library while it stays the same (the visible videos' arrays, per-name counts, the
spotlight's candidates).

:class:`ResponseCache` keeps finished responses of the listings every visitor asks for alike
(performers and studios with their counts, the newest, A–Z and favourites pages, a
performer's or studio's page): the view decorated with :func:`cached_get` runs once per
library state and URL, later requests get the same bytes with an ``ETag`` (and a 304 when
the browser already has them). Searches with words, similar videos and single records are
not cached: their URLs rarely repeat.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

import sqlite_utils
from flask import Response, request

from vidlib import state


def data_version(db: sqlite_utils.Database, counter: str = "data") -> int:
    """An ``index_state`` counter: ``data`` moves whenever something the read API shows changes,
    ``rows`` whenever the set of visible videos or their duration or height may have changed
    (migration 10)."""
    return db.execute("SELECT version FROM index_state WHERE name = ?", [counter]).fetchone()[0]


_kept: dict[tuple[str, Hashable], tuple[int, Any]] = {}
_kept_lock = threading.Lock()
_computed: dict[tuple[str, Hashable], tuple[float, float]] = {}  # (monotonic end, seconds) of the last compute


def kept(db: sqlite_utils.Database, key: Hashable, compute: Callable[[], Any], counter: str = "data", throttle: float = 0.0) -> Any:
    """``compute()``, kept per process and database file until ``counter`` moves; the same object
    until then. Computed once even when several threads ask at the same moment.

    ``throttle`` > 0: when the kept value is stale, compute again only once ``throttle`` times
    the last compute's duration has passed since it ended, and return None until then or while
    another thread computes (the caller answers without it). A library that keeps changing (a
    scan adding videos) then costs at most 1 / ``throttle`` of a core in recomputes, not one
    per request, and no request waits for one.
    """
    place = (db.execute("PRAGMA database_list").fetchone()[2], key)
    version = data_version(db, counter)  # before computing: a change meanwhile makes it stale
    entry = _kept.get(place)
    if entry is not None and entry[0] == version:
        return entry[1]
    if throttle and entry is not None:
        ended, seconds = _computed.get(place, (0.0, 0.0))
        if time.monotonic() - ended < throttle * seconds:
            return None
        if not _kept_lock.acquire(blocking=False):
            return None  # another thread is computing: answer without it rather than wait
    else:
        _kept_lock.acquire()
    try:
        entry = _kept.get(place)
        if entry is not None and entry[0] == version:
            return entry[1]
        started = time.monotonic()
        value = compute()
        if len(_kept) >= 64:  # a few values per library; tests open many libraries
            _kept.clear()
            _computed.clear()
        _kept[place] = (version, value)
        _computed[place] = (time.monotonic(), time.monotonic() - started)
        return value
    finally:
        _kept_lock.release()


class ResponseCache:
    """Finished responses by URL, each stamped with the ``data`` counter it was made at; least
    recently used first out beyond ``max_bytes`` (of bodies)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[int, bytes, list[tuple[str, str]], str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: bytes, version: int) -> tuple[bytes, list[tuple[str, str]], str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1], entry[2], entry[3]

    def put(self, key: bytes, version: int, body: bytes, headers: list[tuple[str, str]]) -> str:
        # From the bytes alone: a listing that an unrelated change left as it was still gets a 304.
        etag = hashlib.blake2b(body, digest_size=16).hexdigest()
        if len(body) > self.max_bytes // 4:
            return etag
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (version, body, headers, etag)
            self._bytes += len(body)
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped, _, _) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)
        return etag


_KEEP_HEADERS = ("Content-Type",)


def _respond(body: bytes, headers: list[tuple[str, str]], etag: str) -> Response:
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
    else:
        response = Response(body, status=200, headers=headers)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"  # the browser may keep it but asks (cheaply) each time
    return response


def cached_get(when: Callable[[], bool] | None = None) -> Callable:
    """Decorator for a GET view (outside flask-smorest's decorators): the response is kept in
    the app's :class:`ResponseCache` until the library changes. ``when``: a test of the request
    saying whether this one is cacheable (default: always)."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            app_state = state.current()
            cache = app_state.response_cache
            if cache is None or (when is not None and not when()):
                return func(*args, **kwargs)
            version = data_version(app_state.db)  # before the view runs: a change meanwhile makes the entry stale
            key = request.path.encode() + b"?" + request.query_string
            hit = cache.get(key, version)
            if hit is not None:
                return _respond(*hit)
            response = func(*args, **kwargs)
            if not isinstance(response, Response) or response.status_code != 200 or response.direct_passthrough:
                return response
            headers = [(k, v) for k, v in response.headers.items() if k in _KEEP_HEADERS]
            body = response.get_data()
            return _respond(body, headers, cache.put(key, version, body, headers))

        return wrapper

    return decorator
