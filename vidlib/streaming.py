"""Serving a file's bytes with HTTP Range, conditional GET and sendfile from an offset.

werkzeug's own Range support reads and discards every byte before the range start, so
seeking near the end of a long film would cost a read of the whole film. Here the file is
positioned at the range start and handed to the server: under gunicorn as its
``wsgi.file_wrapper`` (sendfile from the current offset, capped at Content-Length), elsewhere
as a generator that reads only the requested bytes.
"""

from __future__ import annotations

import os
from typing import IO, Iterator

from flask import Response, current_app, request
from werkzeug.http import http_date

MIME_TYPES = {
    "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska",
    "webm": "video/webm", "avi": "video/x-msvideo", "wmv": "video/x-ms-wmv", "asf": "video/x-ms-asf",
    "flv": "video/x-flv", "mpg": "video/mpeg", "mpeg": "video/mpeg", "vob": "video/mpeg",
    "ts": "video/mp2t", "m2ts": "video/mp2t", "mts": "video/mp2t", "3gp": "video/3gpp",
    "ogv": "video/ogg", "divx": "video/x-msvideo",
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png", "vtt": "text/vtt",
}


def mime_type(path: str) -> str:
    """The MIME type for a file name (by extension)."""
    return MIME_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def _read_range(fh: IO[bytes], length: int, chunk: int) -> Iterator[bytes]:
    try:
        remaining = length
        while remaining > 0:
            data = fh.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        fh.close()


def range_bounds(spec: tuple[int, int | None], size: int) -> tuple[int, int] | None:
    """``(start, stop)`` of one parsed range (stop exclusive) within ``size`` bytes; None if unsatisfiable.

    Unlike werkzeug's ``Range.range_for_length``, a suffix longer than the file selects the
    whole file (RFC 9110 14.1.3) instead of being refused with 416.
    """
    start, stop = spec
    if start < 0:  # suffix range "bytes=-N": the last N bytes
        start, stop = max(size + start, 0), size
    else:
        stop = size if stop is None else min(stop, size)
    if start >= stop:
        return None
    return start, stop


def file_headers(st: os.stat_result, etag: str, cache_control: str) -> dict[str, str]:
    """The validator and caching headers of every answer about a file (200, 206, 304, 416)."""
    return {"Accept-Ranges": "bytes", "ETag": f'"{etag}"', "Last-Modified": http_date(st.st_mtime), "Cache-Control": cache_control}


def send_range_file(path: str, etag: str | None = None, cache_control: str = "no-cache", st: os.stat_result | None = None) -> Response:
    """Answer the current request with the file at ``path`` (200, 206, 304 or 416); ``st``: its
    ``os.stat`` when the caller has it already."""
    st = st or os.stat(path)
    req = request._get_current_object()  # type: ignore[attr-defined]  # (each proxy access costs a lookup)
    size = st.st_size
    etag = etag or f"{st.st_size:x}-{int(st.st_mtime * 1000):x}"
    headers = file_headers(st, etag, cache_control)
    mimetype = mime_type(path)

    # Conditional GET: If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    if req.if_none_match:
        if req.if_none_match.contains_weak(etag):
            return Response(status=304, headers=headers)
    elif req.if_modified_since and int(st.st_mtime) <= req.if_modified_since.timestamp():
        return Response(status=304, headers=headers)

    start, length, status = 0, size, 200
    byte_range = req.range
    if byte_range is not None and req.if_range:
        if_range = req.if_range
        if (if_range.etag and if_range.etag != etag) or (if_range.date and int(st.st_mtime) > if_range.date.timestamp()):
            byte_range = None  # the client's copy is stale: send the whole file
    if byte_range is not None and byte_range.units == "bytes" and len(byte_range.ranges) == 1:
        bounds = range_bounds(byte_range.ranges[0], size)
        if bounds is None:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status=416, headers=headers)
        start, stop = bounds
        length = stop - start
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"

    if req.method == "HEAD":
        response = Response(status=status, headers=headers, mimetype=mimetype)
        response.content_length = length
        return response

    chunk = current_app.config["VIDEO_CHUNK_BYTES"]
    fh = open(path, "rb")
    fh.seek(start)
    file_wrapper = req.environ.get("wsgi.file_wrapper")
    if file_wrapper is not None and req.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
        # gunicorn sendfile()s from the file's current offset and stops at Content-Length.
        body = file_wrapper(fh, chunk)
    else:
        body = _read_range(fh, length, chunk)
    response = Response(body, status=status, headers=headers, mimetype=mimetype, direct_passthrough=True)
    response.content_length = length
    return response
