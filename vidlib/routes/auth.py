"""The ``auth`` blueprint: dashboard login and logout (an HttpOnly, SameSite=Strict session cookie).

``POST /api/login`` with the admin token sets a cookie signed with the token (see
:mod:`vidlib.auth`); the browser then sends it with every same-site request, so the page
never keeps the token itself. ``GET /api/session`` says whether this request may administer.
"""

from __future__ import annotations

import logging

from flask import after_this_request, current_app, request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from vidlib import auth
from vidlib.routes import Blueprint

log = logging.getLogger(__name__)

blp = Blueprint("auth", __name__, url_prefix="/api", description="Dashboard login (admin session cookie)")


class LoginSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={"description": "the admin token (VIDLIB_ADMIN_TOKEN)"})


class SessionSchema(Schema):
    admin = fields.Boolean(required=True, metadata={"description": "whether this request may use the dashboard and change things"})
    via = fields.String(required=True, allow_none=True, metadata={"description": "token (a header), cookie (a login), loopback (no token configured, this machine), or null"})
    token_required = fields.Boolean(required=True, metadata={"description": "whether an admin token is configured (login needed)"})
    expires_at = fields.Integer(allow_none=True, metadata={"description": "when the login cookie expires (Unix seconds)"})


def _session_state() -> dict:
    token = current_app.config["ADMIN_TOKEN"]
    admin = auth.is_admin()
    via = None
    expires = None
    if admin:
        if not token:
            via = "loopback"
        elif auth.request_token():
            via = "token"
        else:
            via = "cookie"
            expires = int(request.cookies[auth.SESSION_COOKIE].partition(".")[0])
    return {"admin": admin, "via": via, "token_required": bool(token), "expires_at": expires}


@blp.route("/session")
class Session(MethodView):
    @blp.response(200, SessionSchema)
    def get(self):
        """Whether this request may use the dashboard, and how"""
        return _session_state()


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, SessionSchema)
    def post(self, body):
        """Log in with the admin token: sets an HttpOnly, SameSite=Strict session cookie"""
        auth.require_same_origin()  # a forged login would be as bad as a forged change
        token = current_app.config["ADMIN_TOKEN"]
        if not token:
            abort(409, message="no admin token is configured (VIDLIB_ADMIN_TOKEN): the dashboard answers this machine without logging in")
        if not auth.token_matches(body["token"], token):
            log.warning("failed dashboard login from %s", request.remote_addr)
            abort(403, message="invalid admin token")
        lifetime = current_app.config["ADMIN_SESSION_DAYS"] * 86400
        value, expires = auth.make_session(token, lifetime)
        log.info("dashboard login from %s (session until %s)", request.remote_addr, expires)
        @after_this_request
        def _set_cookie(response):
            auth.set_session_cookie(response, value, lifetime)
            return response

        return {"admin": True, "via": "cookie", "token_required": True, "expires_at": expires}


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self):
        """Log out: clears the session cookie"""
        auth.require_same_origin()

        @after_this_request
        def _clear_cookie(response):
            auth.clear_session_cookie(response)
            return response
