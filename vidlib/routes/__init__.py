"""HTTP routes: one flask-smorest blueprint per module (api, media, later search)."""

from __future__ import annotations

import flask_smorest
from flask_smorest.utils import resolve_schema_instance
from webargs.flaskparser import FlaskParser

from vidlib.errors import VidlibError, abort_for
from vidlib.library.hashing import is_valid_hash


class Api(flask_smorest.Api):
    """flask-smorest Api whose JSON errors always carry a ``message`` (vidlib.errors)."""

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            if payload.get("errors"):
                payload["message"] = "invalid request: " + "; ".join(_flatten_errors(payload["errors"]))
            else:
                payload["message"] = error.description or error.name
        return payload, code, headers


def _flatten_errors(errors, prefix: str = "") -> list[str]:
    """``{"query": {"page": ["Not a valid integer."]}}`` -> ``["query.page: Not a valid integer."]``."""
    if isinstance(errors, dict):
        return [line for key, value in errors.items() for line in _flatten_errors(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(errors, (list, tuple)):
        return [line for value in errors for line in _flatten_errors(value, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


class _Parser(FlaskParser):
    # Bad query strings and bodies are client errors: 400, not webargs' default 422.
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest Blueprint whose argument validation answers 400 and whose response
    schemas dump through compiled functions (vidlib.routes.dumping)."""

    ARGUMENTS_PARSER = _Parser()

    def response(self, status_code, schema=None, **kwargs):
        if schema is not None:
            from vidlib.routes.dumping import compile_dump

            schema = resolve_schema_instance(schema)
            compile_dump(schema)
        return super().response(status_code, schema, **kwargs)


def check_hash(value: str) -> str:
    """Abort 400 unless ``value`` looks like a video hash."""
    if not is_valid_hash(value):
        abort_for(VidlibError(f"malformed video hash {value[:40]!r}: expected 16 hex digits"))
    return value


def page_size(requested: int | None) -> int:
    """The per_page to use: the default when absent, 400 above MAX_PAGE_SIZE."""
    from flask import current_app

    if requested is None:
        return current_app.config["DEFAULT_PAGE_SIZE"]
    maximum = current_app.config["MAX_PAGE_SIZE"]
    if requested > maximum:
        abort_for(VidlibError(f"per_page must be at most {maximum}"))
    return requested
