"""vidlib: a self-hosted library for a personal video collection.

``create_app`` is the Flask application factory (also what ``flask --app vidlib`` finds).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

__version__ = "0.1.0"

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None, configure_logs: bool = True) -> Flask:
    """Build the web app: config, state, blueprints, OpenAPI, CLI commands."""
    from config import load_config
    from vidlib.cli import register_cli
    from vidlib.logs import configure_logging
    from vidlib.routes import Api
    from vidlib import security
    from vidlib.routes import api as api_routes
    from vidlib.routes import auth as auth_routes
    from vidlib.routes import media as media_routes
    from vidlib.routes import pages as page_routes
    from vidlib.routes import search as search_routes
    from vidlib.json_provider import OrjsonProvider
    from vidlib.state import AppState

    config = load_config(test_config)
    if configure_logs and not config.get("TESTING"):
        import sys

        configure_logging(config, "cli" if os.path.basename(sys.argv[0]) == "flask" else "web")
    app = Flask(__name__, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config.update(config)
    if config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config["TRUSTED_PROXIES"]  # client address, scheme, host and prefix from the proxy's headers
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)  # type: ignore[method-assign]
    app.config.update(
        API_TITLE="vidlib",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    )
    app_state = AppState(config)
    app_state.ensure_dirs()
    app.extensions["vidlib"] = app_state
    from vidlib.stalled import SendTimeout
    from vidlib.video_fast import VideoFastPath

    app.wsgi_app = VideoFastPath(app.wsgi_app, app_state)  # type: ignore[method-assign]  # a player's byte ranges, before Flask
    app.wsgi_app = SendTimeout(app.wsgi_app, config["SEND_TIMEOUT"])  # type: ignore[method-assign]  # no thread held by a client that stopped reading
    security.init_app(app)  # before the blueprints: bounded <int:...> ids
    api = Api(app)
    api.register_blueprint(api_routes.blp)
    api.register_blueprint(media_routes.blp)
    api.register_blueprint(search_routes.blp)
    api.register_blueprint(auth_routes.blp)
    security.document_parameters(api, config)
    app.register_blueprint(page_routes.blp)  # the web UI: plain Flask, not in the OpenAPI spec
    register_cli(app)
    _mount_rq_dashboard(app, app_state)

    @app.teardown_appcontext
    def _noop(_exc):  # connections are per thread and reused across requests
        return None

    _add_configured_folders(app_state)
    return app


def _mount_rq_dashboard(app: Flask, app_state) -> None:
    """rq-dashboard (the job inspector) at /rq, behind the same admin rule as the dashboard."""
    import rq_dashboard

    from vidlib.auth import check_admin

    app.config["RQ_DASHBOARD_REDIS_URL"] = app_state.redis_url
    rq_dashboard.web.setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")

    # Every job inspector request needs the admin: a hook of that blueprint kept by this app,
    # first, before rq-dashboard's own (which connects to the Redis a URL names).
    app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, []).insert(0, check_admin)

    def _rq_dashboard_favicon(error, endpoint, values):
        # rq-dashboard's pages link url_for("static", filename="favicon.ico") of the host app,
        # which has no static folder: point that link at the dashboard's own favicon.
        if endpoint == "static" and values.get("filename") == "favicon.ico":
            from flask import url_for

            return url_for("rq_dashboard.favicon")
        return None

    app.url_build_error_handlers.append(_rq_dashboard_favicon)


def _add_configured_folders(app_state) -> None:
    """Add the folders listed in VIDLIB_FOLDERS that are not in the library yet."""
    from vidlib.errors import VidlibError
    from vidlib.library.folders import add_folder

    for path in app_state.config["FOLDERS"]:
        real = os.path.realpath(os.path.expanduser(path))
        if app_state.db.execute("SELECT 1 FROM folders WHERE path = ?", [real]).fetchone():
            continue
        try:
            add_folder(app_state.db, app_state.config, path)
            log.info("library folder added from VIDLIB_FOLDERS: %s", real)
        except VidlibError as exc:
            log.warning("VIDLIB_FOLDERS entry %s not added: %s", path, exc.message)
