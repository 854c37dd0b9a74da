"""HTTP hardening (docs/security.md): security headers, bounded ids, exact path parameters in
the OpenAPI spec, and no state change on GET in rq-dashboard.

``init_app`` runs before the blueprints are registered (it swaps the ``int`` URL converter);
``document_parameters`` after (it tightens the spec the blueprints produced).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # SQLite INTEGER

# The web UI (Vite build: module scripts and stylesheets from /assets, one inline <style> per
# page, style="" attributes in Svelte templates, blob: URLs for streamed video).
APP_CSP = (
    "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; style-src-elem 'self'{style_hashes}; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (/api/docs) comes from a CDN and starts with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# rq-dashboard (admin only) has inline scripts and compiles underscore templates (new Function).
RQ_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that stops at SQLite's largest integer: a bigger id is a 404, not an overflow."""

    def __init__(self, map, *args: Any, **kwargs: Any):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.S | re.I)
_style_cache: dict[str, tuple[float, str]] = {}


def inline_style_hashes(build_dir: str) -> str:
    """`` 'sha256-...'`` for every inline <style> of the built pages (cached per build)."""
    try:
        pages = [os.path.join(build_dir, d, "index.html") for d in sorted(os.listdir(build_dir))]
        pages = [p for p in pages if os.path.isfile(p)]
        stamp = max((os.path.getmtime(p) for p in pages), default=0.0)
    except OSError:
        return ""
    cached = _style_cache.get(build_dir)
    if cached and cached[0] == stamp:
        return cached[1]
    digests = set()
    for page in pages:
        with open(page, "rb") as fh:
            for body in _STYLE.findall(fh.read()):
                digests.add(base64.b64encode(hashlib.sha256(body).digest()).decode())
    value = "".join(f" 'sha256-{d}'" for d in sorted(digests))
    _style_cache[build_dir] = (stamp, value)
    return value


def _csp_for(path: str) -> str:
    from vidlib.routes.pages import build_dir

    if path.startswith("/api/docs"):
        return DOCS_CSP
    if path.startswith("/rq/") or path == "/rq":
        return RQ_CSP
    return APP_CSP.format(style_hashes=inline_style_hashes(build_dir()))


def init_app(app: Flask) -> None:
    """Bounded ``int`` ids, no slash merging, security headers on every response, no GET that changes rq state."""
    app.url_map.converters["int"] = BoundedIntConverter
    # "//etc/passwd" is refused (404), not redirected to a merged path.
    app.url_map.merge_slashes = False

    common = [(name.lower(), name, value) for name, value in COMMON_HEADERS.items()]

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        present = {key.lower() for key in headers.keys()}  # one pass, not one per header set
        for lowered, name, value in common:
            if lowered not in present:
                headers.add(name, value)
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", _csp_for(request.path))
        return response

    def _no_state_change_on_get():
        # rq-dashboard's "requeue all failed jobs" also answers GET: a link or an <img> must not do it.
        if request.endpoint == "rq_dashboard.requeue_all" and request.method != "POST":
            from flask_smorest import abort

            log.warning("refused %s %s: it changes state and needs POST", request.method, request.path)
            abort(405, message="this action changes state: use POST", headers={"Allow": "POST"})

    # Run for the job inspector's requests only (the hooks of the blueprint named
    # "rq_dashboard", kept by this app): no other request pays for the check.
    app.before_request_funcs.setdefault("rq_dashboard", []).append(_no_state_change_on_get)


# -- OpenAPI: what the path and page parameters really accept ------------------------------

_PATH_PARAMS = {
    "video_hash": {"type": "string", "pattern": "^[0-9a-f]{16}$", "minLength": 16, "maxLength": 16},
    "seed": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "start_from": {"type": "integer", "minimum": 0, "maximum": 100_000},
}


def document_parameters(api, config: dict[str, Any]) -> None:
    """Tighten the generated spec to what the views enforce (so generated clients and fuzzers agree).

    The views take these as strings and answer a malformed value with a 400 that says why;
    the spec says what a valid value is: a video hash is 16 lowercase hex digits, a seed an
    integer, ``per_page`` and the similar-videos ``limit`` at most ``MAX_PAGE_SIZE``, ids at
    most SQLite's largest integer.
    """
    limits = {**_PATH_PARAMS, "limit": {"type": "integer", "minimum": 1, "maximum": config["MAX_PAGE_SIZE"]}}
    for path, item in api.spec._paths.items():  # apispec keeps the generated paths here
        for param in item.get("parameters", []):
            if param.get("in") == "path" and param["name"] in limits and "{" + param["name"] + "}" in path:
                if param["name"] == "limit" and not path.startswith("/search/get-similar-videos/"):
                    continue
                param["schema"] = dict(limits[param["name"]])
            elif param.get("in") == "path" and param.get("schema", {}).get("type") == "integer":
                param["schema"]["maximum"] = MAX_ID
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            for param in operation.get("parameters", []):
                if param.get("in") == "query" and param["name"] == "per_page":
                    param["schema"]["maximum"] = config["MAX_PAGE_SIZE"]
