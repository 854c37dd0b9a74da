"""Who may use dashboard and mutating endpoints (docs/security.md).

With ``ADMIN_TOKEN`` set, a request must prove it knows the token: by a header
(``Authorization: Bearer <token>`` or ``X-Admin-Token``), or by the session cookie that
``POST /api/login`` sets (HttpOnly, SameSite=Strict, signed with the token, so changing the
token ends every session). Without a token, only loopback clients are allowed, and only
under a loopback host name (so a DNS-rebinding page cannot drive the dashboard).

A state-changing request authenticated by the cookie or by being on this machine must also
come from this origin (``Sec-Fetch-Site`` / ``Origin``): a browser adds those headers itself,
so another site cannot forge them. A header token needs no such check: browsers never send
it on their own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from typing import Any, Callable

from flask import current_app, request
from flask_smorest import abort

log = logging.getLogger(__name__)

SESSION_COOKIE = "vidlib_admin"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and unix-socket peers (no address)."""
    if not address:
        return True
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """True for a bind address only this machine can reach (loopback IP, ``localhost``, a unix socket)."""
    host = (host or "").strip()
    if host.startswith("unix:") or host.lower() in ("localhost", "ip6-localhost"):
        return True
    return bool(host) and is_loopback(host.strip("[]"))


def request_token() -> str:
    """The admin token the client sent in a header, or ''."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Admin-Token", "").strip()


def token_matches(sent: str, token: str) -> bool:
    """Constant-time comparison of a sent token with the configured one."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape"))


# -- session cookie -------------------------------------------------------------------------


def _signature(token: str, expires: int) -> str:
    return hmac.new(token.encode("utf-8", "surrogateescape"), f"vidlib-admin-session:{expires}".encode(), hashlib.sha256).hexdigest()


def make_session(token: str, lifetime_seconds: int, now: float | None = None) -> tuple[str, int]:
    """A session cookie value for ``token``: ``<expiry>.<HMAC-SHA256(token, expiry)>``; returns (value, expiry)."""
    expires = int((now if now is not None else time.time()) + lifetime_seconds)
    return f"{expires}.{_signature(token, expires)}", expires


def session_valid(value: str, token: str, now: float | None = None) -> bool:
    """True when ``value`` was made with ``token`` and has not expired."""
    expires_text, _, signature = value.partition(".")
    if not (expires_text.isascii() and expires_text.isdigit() and len(expires_text) <= 12):
        return False
    expires = int(expires_text)
    if expires <= (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), _signature(token, expires).encode())


def set_session_cookie(response, value: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


def clear_session_cookie(response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)


# -- request checks -------------------------------------------------------------------------


def cross_origin_reason() -> str | None:
    """Why the current request looks like it came from another site, or None.

    ``Sec-Fetch-Site`` (every current browser) must be ``same-origin`` (or ``none``: typed by
    the user); without it, ``Origin`` must be this server's. A request with neither comes from
    a non-browser client (curl, scripts), which no other site can drive.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site is {site[:40]!r}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin.rstrip("/") != request.host_url.rstrip("/"):
        return f"Origin {origin[:100]!r} is not {request.host_url.rstrip('/')}"
    return None


def require_same_origin() -> None:
    """Abort 403 when a state-changing request comes from another site (CSRF)."""
    if request.method not in UNSAFE_METHODS:
        return
    reason = cross_origin_reason()
    if reason:
        log.warning("refused cross-site %s %s from %s: %s", request.method, request.path, request.remote_addr, reason)
        abort(403, message=f"cross-site request refused ({reason})")


def _host_allowed(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if is_loopback_host(name):
        return True
    allowed = {h.lower() for h in current_app.config["ALLOWED_HOSTS"]}
    return name in allowed or name == socket.gethostname().lower()


def check_admin() -> None:
    """Abort with 401/403 unless the current request may administer the library."""
    token = current_app.config["ADMIN_TOKEN"]
    if token:
        sent = request_token()
        if sent:
            if not token_matches(sent, token):
                log.warning("wrong admin token from %s for %s %s", request.remote_addr, request.method, request.path)
                abort(403, message="invalid admin token")
            return
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is None:
            abort(401, message="admin token required: log in on the dashboard or send it as a header", headers={"WWW-Authenticate": 'Bearer realm="vidlib"'})
        if not session_valid(cookie, token):
            abort(401, message="admin session expired or invalid: log in again", headers={"WWW-Authenticate": 'Bearer realm="vidlib"'})
        require_same_origin()
        return
    if not is_loopback(request.remote_addr):
        abort(403, message="dashboard and changes are only allowed from this machine unless VIDLIB_ADMIN_TOKEN is set")
    if not current_app.config["TRUSTED_PROXIES"] and (request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")):
        # A reverse proxy on this machine makes every client look like loopback.
        log.warning("refused admin request forwarded by a proxy for %s %s", request.method, request.path)
        abort(403, message="dashboard and changes through a reverse proxy need VIDLIB_ADMIN_TOKEN (see docs/deployment.md)")
    if not _host_allowed(request.host):
        log.warning("refused admin request for host %r from %s (DNS rebinding?)", request.host[:100], request.remote_addr)
        abort(403, message=f"host {request.host[:100]!r} is not this machine; open vidlib as http://127.0.0.1 or add the name to VIDLIB_ALLOWED_HOSTS")
    require_same_origin()


def is_admin() -> bool:
    """Whether the current request passes :func:`check_admin` (without aborting)."""
    from werkzeug.exceptions import HTTPException

    try:
        check_admin()
    except HTTPException:
        return False
    return True


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for views that change state or belong to the dashboard."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapper
