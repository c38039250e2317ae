"""HTTP plumbing shared by the SCIM views: media types, JSON bodies, URLs, responses."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request

from ..errors import InvalidSyntax

MEDIA_TYPE = "application/scim+json"


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return ``body`` as ``application/scim+json`` (RFC 7644 §3.1)."""
    payload = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = Response(payload, status=status, mimetype=MEDIA_TYPE)
    if body is None:
        response.headers.pop("Content-Type", None)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def read_json() -> Any:
    """Parse the request body as JSON, whatever SCIM or JSON media type it declares.

    Raises InvalidSyntax (400) for an empty body or malformed JSON (RFC 7644 §3.12).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidSyntax("The request body is empty; a JSON object was expected.")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}.") from None


def base_url() -> str:
    """The public URL of the service: SCIMSVC_BASE_URL, else the request's host URL."""
    return current_app.config.get("SCIMSVC_BASE_URL") or request.host_url.rstrip("/")


def scim_root() -> str:
    return base_url() + "/scim/v2"


def user_location(scim_id: str) -> str:
    return f"{scim_root()}/Users/{scim_id}"
