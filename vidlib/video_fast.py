"""The common case of ``GET /video/<hash>`` answered before Flask: a plain or single-range
request for a visible video's file, handed to gunicorn's ``sendfile``.

A player's byte-range request costs Flask's whole request cycle (context, URL matching, hooks,
response object) for a handful of headers around a ``sendfile``: about half of the ~160 µs a
request spends in Python. This middleware answers exactly the requests whose answer needs none
of it, with the same status and headers as the route in ``vidlib/routes/media.py`` (checked by
``tests/test_streaming.py``); anything else (HEAD, conditional requests, several ranges, an
unsatisfiable range, an unknown, hidden or unservable video, another server than gunicorn)
goes on to Flask, which answers it, errors and log lines included.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable

from vidlib.filters import visible_sql
from vidlib.library.folders import servable_file
from vidlib.security import COMMON_HEADERS
from vidlib.streaming import file_headers, mime_type, range_bounds

_PATH = re.compile(r"/video/([0-9a-f]{16})")
_RANGE = re.compile(r"bytes=(\d{1,18})-(\d{0,18})")
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_RANGE")
_COMMON = list(COMMON_HEADERS.items())
CACHE_CONTROL = "private, max-age=0, must-revalidate"


def video_etag(video_hash: str, st: os.stat_result) -> str:
    """The ETag of a video file: its hash, size and whole-second mtime."""
    return f"{video_hash}-{st.st_size:x}-{int(st.st_mtime):x}"


class VideoFastPath:
    """WSGI middleware in front of the Flask app (``app.wsgi_app``)."""

    def __init__(self, wsgi_app: Callable, app_state: Any):
        self.wsgi_app, self.state = wsgi_app, app_state
        self._sql = f"SELECT v.path FROM videos v WHERE v.hash = ? AND {visible_sql('v')}"

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        answer = self._answer(environ, start_response)
        return answer if answer is not None else self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict, start_response: Callable) -> Iterable[bytes] | None:
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        file_wrapper = environ.get("wsgi.file_wrapper")
        if match is None or file_wrapper is None or not environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            return None
        if any(name in environ for name in _CONDITIONAL):
            return None
        spec = environ.get("HTTP_RANGE")
        wanted = None
        if spec is not None:
            wanted = _RANGE.fullmatch(spec.strip())
            if wanted is None:
                return None
        video_hash = match.group(1)
        db, config = self.state.db, self.state.config
        row = db.execute(self._sql, [video_hash]).fetchone()
        st = servable_file(db, config, row[0]) if row is not None else None
        if st is None:
            return None
        path, size = row[0], st.st_size
        start, length, status = 0, size, "200 OK"
        headers = list(file_headers(st, video_etag(video_hash, st), CACHE_CONTROL).items())
        headers.append(("Content-Type", mime_type(path)))
        if wanted is not None:
            first, last = int(wanted.group(1)), wanted.group(2)
            if last and int(last) < first:
                return None  # not a valid range: Flask answers with the whole file
            bounds = range_bounds((first, int(last) + 1 if last else None), size)
            if bounds is None:
                return None  # unsatisfiable: Flask answers 416
            start, stop = bounds
            length, status = stop - start, "206 PARTIAL CONTENT"
            headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
        headers.append(("Content-Length", str(length)))
        headers += _COMMON
        fh = open(path, "rb")
        fh.seek(start)  # gunicorn sendfile()s from the file's offset and stops at Content-Length
        start_response(status, headers)
        return file_wrapper(fh, config["VIDEO_CHUNK_BYTES"])
