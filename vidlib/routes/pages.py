"""The ``pages`` blueprint: the built web UI (``templates_static/``) under clean URLs.

A plain Flask blueprint, not part of the OpenAPI spec. Each page is one HTML file of the
multi-page Vite build (``frontend/``), served uncached so a new build shows at once; the
hashed assets it loads (``/assets/<name>-<hash>.js``) never change and are cached for a year.
Without a build every page answers 503 with the command that makes one.

Paths never clash with the API: ``/search`` is exactly the search page, while the search API
lives below it (``/search/search-videos``); ``/api``, ``/media``, ``/video`` and ``/rq`` are
left alone.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, send_from_directory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

blp = Blueprint("pages", __name__)

# URL rule -> page folder of the build (templates_static/<page>/index.html)
PAGES = {
    "/": "home",
    "/watch/<video_hash>": "watch",
    "/search": "search",
    "/performers": "performers",
    "/performer/<path:name>": "performer",
    "/studios": "studios",
    "/studio/<path:name>": "studio",
    "/favourites": "favourites",
    "/random": "random",
    "/dashboard": "dashboard",
}

NO_BUILD = (
    "The web UI has not been built yet.\n\n"
    "Build it with `./vidlib.sh install` (or `cd frontend && npm ci && npm run build`), then reload.\n"
    "The API works without it: see /api/docs.\n"
)


def build_dir() -> str:
    """Where the built UI lives (``UI_BUILD_DIR`` overrides it, e.g. in tests)."""
    return current_app.config.get("UI_BUILD_DIR") or os.path.join(ROOT, "templates_static")


def _no_build() -> Response:
    return Response(NO_BUILD, status=503, mimetype="text/plain", headers={"Cache-Control": "no-store", "Retry-After": "30"})


def _page_view(page: str):
    def view(**_params) -> Response:
        directory = os.path.join(build_dir(), page)
        if not os.path.isfile(os.path.join(directory, "index.html")):
            return _no_build()
        response = send_from_directory(directory, "index.html", mimetype="text/html", max_age=0, conditional=True)
        response.headers["Cache-Control"] = "no-cache"
        return response

    view.__name__ = f"page_{page}"
    view.__doc__ = f"The {page} page of the web UI."
    return view


for _rule, _page in PAGES.items():
    blp.add_url_rule(_rule, endpoint=_page, view_func=_page_view(_page), methods=["GET"])


@blp.route("/assets/<path:filename>")
def asset(filename: str) -> Response:
    """A hashed build asset: its name changes with its content, so it is cached for good."""
    directory = os.path.join(build_dir(), "assets")
    if not os.path.isdir(directory):
        return _no_build()
    # send_from_directory joins safely (werkzeug's safe_join): ``..`` and absolute names are 404.
    response = send_from_directory(directory, filename, max_age=31536000, conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
