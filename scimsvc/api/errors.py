"""Render every error in one place (no database writes here): an RFC 7644 §3.12 SCIM error
body, or on the product's APIs (/api/v1, /access/v1, AuthZEN metadata) the JSON
``{"error": {"code", "message"}}``."""
from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
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


PRODUCT_PREFIXES = ("/api/", "/access/", "/.well-known/authzen-configuration")
# The ``code`` of a product API error, by HTTP status.
_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 410: "cursor_expired",
          413: "payload_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
          501: "not_implemented",
          503: "busy"}


def is_product_path(path: str) -> bool:
    return path.startswith(PRODUCT_PREFIXES)


def product_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": _CODES.get(status, "error" if status < 500 else "internal"),
                                  "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_scim_error(error: ScimsvcError) -> Response:
    if is_product_path(request.path):
        return product_error(error.status, error.detail, error.headers)
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
    if is_product_path(request.path):
        if status == 404:
            detail = "No such endpoint."
        return product_error(status, detail, headers)
    return scim_response(error_body(status, detail), status, headers)


def render_unexpected(error: Exception) -> Response:
    """A bug: log the traceback here, tell the client nothing internal."""
    log.exception("unhandled error while serving a request")
    if is_product_path(request.path):
        return product_error(500, "Internal server error.")
    return scim_response(error_body(500, "Internal server error."), 500)


def init_app(app: Flask) -> None:
    app.register_error_handler(ScimsvcError, render_scim_error)
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, render_unexpected)
