"""Render every error as an RFC 7644 §3.12 SCIM error body, in one place (no database writes here)."""
from __future__ import annotations

import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from ..errors import ScimsvcError
from ..scim.schema import ERROR_SCHEMA
from .http import scim_response

log = logging.getLogger(__name__)


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict:
    body = {"schemas": [ERROR_SCHEMA], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return body


def render_scim_error(error: ScimsvcError) -> Response:
    g.scim_type = error.scim_type  # for the journal, written after the response (api.journal)
    return scim_response(error_body(error.status, error.detail, error.scim_type),
                         error.status, error.headers)


def render_http_error(error: HTTPException) -> Response:
    """Routing and protocol errors from werkzeug (404, 405, 413 …) in the SCIM shape."""
    status = error.code or 500
    detail = {
        404: "No such SCIM endpoint or resource.",
        405: "Method not allowed on this endpoint.",
        413: "The request body is larger than the server accepts.",
    }.get(status, error.description or error.name)
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return scim_response(error_body(status, detail), status, headers)


def render_unexpected(error: Exception) -> Response:
    """A bug: log the traceback here, tell the client nothing internal."""
    log.exception("unhandled error while serving a SCIM request")
    return scim_response(error_body(500, "Internal server error."), 500)


def init_app(app: Flask) -> None:
    app.register_error_handler(ScimsvcError, render_scim_error)
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, render_unexpected)
