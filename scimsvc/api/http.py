"""HTTP plumbing of the SCIM API: media types, JSON bodies, URLs, conditional headers, responses."""
from __future__ import annotations

import json
import re
import sys
import uuid
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import InvalidSyntax, InvalidValue, PayloadTooLarge
from ..scim.versions import parse_tags

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

    Raises InvalidSyntax (400) for an empty body or malformed JSON (RFC 7644 §3.12),
    PayloadTooLarge (413) for a body over MAX_CONTENT_LENGTH.
    """
    try:
        raw = request.get_data(cache=True)
        limit = request.max_content_length
        # A chunked body is cut at the limit by werkzeug without a word: look for more.
        if request.content_length is None and limit is not None and len(raw) >= limit \
                and _unread_input(1):
            raise RequestEntityTooLarge()
    except RequestEntityTooLarge:
        _unread_input(_DRAIN_LIMIT)
        raise PayloadTooLarge(f"The request body is larger than the {request.max_content_length} bytes "
                              "this server accepts.", headers={"Connection": "close"}) from None
    if not raw.strip():
        raise InvalidSyntax("The request body is empty; a JSON object was expected.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}.") from None
    except ValueError:
        # Python converts integers of at most sys.get_int_max_str_digits() (4,300) digits.
        raise InvalidSyntax("The request body holds a number of more than "
                            f"{sys.get_int_max_str_digits():,} digits.") from None
    if _SUSPECT_ESCAPE.search(raw):
        _refuse_unstorable_strings(body)
    return body


# JSON escapes can produce strings no database stores: an unpaired UTF-16 surrogate
# ("\ud800") is not Unicode text (RFC 8259 §8.2), and PostgreSQL refuses NUL in text.
# Only bodies containing such an escape are walked, so ordinary requests pay one regex.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def _refuse_unstorable_strings(body: Any) -> None:
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise InvalidValue("Strings may not contain the NUL character (\\u0000).")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidSyntax("The request body contains an unpaired UTF-16 surrogate escape; "
                                    "it is not valid Unicode text (RFC 8259 §8.2).") from None


# Bodies refused with 413 are read and discarded up to this size: closing the socket while
# the client is still sending makes the kernel reset the connection, and the client
# would see "connection reset" or "broken pipe" instead of the 413.
_DRAIN_LIMIT = 64 * 1024 * 1024


def _unread_input(limit: int) -> int:
    """Read and discard up to ``limit`` bytes of the raw request body; return how many."""
    stream = request.environ.get("wsgi.input")
    if request.content_length is not None:
        limit = min(limit, request.content_length)
    elif not request.environ.get("wsgi.input_terminated"):
        return 0  # no length and no terminated stream: reading could block forever
    read = 0
    try:
        while stream is not None and read < limit:
            chunk = stream.read(min(64 * 1024, limit - read))
            if not chunk:
                break
            read += len(chunk)
    except (OSError, ValueError):
        pass  # the client went away
    return read


# A client's X-Request-Id is kept if it is a plain token that fits the journal's column.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=@-]{1,64}$")


def request_id() -> str:
    """The request's id: the client's X-Request-Id if it is a plain token, else a new one."""
    presented = request.headers.get("X-Request-Id", "")
    return presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as ``application/json`` (the product's APIs)."""
    response = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                        status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def base_url() -> str:
    """The public URL of the service: SCIMSVC_BASE_URL, else the request's host URL."""
    configured = current_app.config.get("SCIMSVC_BASE_URL")
    if configured:
        return configured
    # werkzeug rebuilds host_url on every request; it depends only on these environ values.
    environ = request.environ
    key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
           environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME"))
    url = _host_urls.get(key)
    if url is None:
        url = request.host_url.rstrip("/")
        if len(_host_urls) >= 64:  # Host is client-chosen: keep the cache small
            _host_urls.clear()
        _host_urls[key] = url
    return url


_host_urls: dict[tuple, str] = {}


def scim_root() -> str:
    return base_url() + "/scim/v2"


def user_location(scim_id: str) -> str:
    return f"{scim_root()}/Users/{scim_id}"


def group_location(scim_id: str) -> str:
    return f"{scim_root()}/Groups/{scim_id}"


def if_match() -> frozenset[str] | None:
    """The entity tags of the request's If-Match header (None without one)."""
    return parse_tags(request.headers.get("If-Match"))


def if_none_match() -> frozenset[str] | None:
    """The entity tags of the request's If-None-Match header (None without one, or empty)."""
    return parse_tags(request.headers.get("If-None-Match") or None)


class TolerantPaths:
    """Collapse repeated slashes and drop a trailing one before routing.

    Admins paste base URLs ending in '/' into IdPs, which then call
    ``/scim/v2//Users`` or ``/scim/v2/Users/``; both name the same SCIM resource.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path or (len(path) > 1 and path.endswith("/")):
            while "//" in path:
                path = path.replace("//", "/")
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.wsgi_app(environ, start_response)

