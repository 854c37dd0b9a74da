"""Who may use dashboard and mutating endpoints.

With ``ADMIN_TOKEN`` set, a request must carry it (``Authorization: Bearer <token>`` or the
``X-Admin-Token`` header). Without one, only loopback clients are allowed.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from typing import Any, Callable

from flask import current_app, request
from flask_smorest import abort


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
    """The admin token the client sent, or ''."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Admin-Token", "").strip()


def check_admin() -> None:
    """Abort with 401/403 unless the current request may administer the library."""
    token = current_app.config["ADMIN_TOKEN"]
    if token:
        sent = request_token()
        if not sent:
            abort(401, message="admin token required", headers={"WWW-Authenticate": 'Bearer realm="vidlib"'})
        if not hmac.compare_digest(sent.encode(), token.encode()):
            abort(403, message="invalid admin token")
        return
    if not is_loopback(request.remote_addr):
        abort(403, message="dashboard and changes are only allowed from this machine unless VIDLIB_ADMIN_TOKEN is set")


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for views that change state or belong to the dashboard."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapper
