"""Domain errors carrying an HTTP status, rendered by flask-smorest's one JSON error envelope.

Every JSON error looks like ``{"code": 404, "status": "Not Found", "message": "..."}``;
validation errors add ``"errors": {location: {field: [messages]}}``.
"""

from __future__ import annotations

from flask_smorest import abort


class VidlibError(Exception):
    """An error a user can fix, with the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(VidlibError):
    status = 404


class Conflict(VidlibError):
    status = 409


def abort_for(error: VidlibError):
    """Raise the HTTP error matching ``error``."""
    abort(error.status, message=error.message)
