"""The structured request log: one JSON line per request on the ``scimsvc.requests`` logger.

Every request gets a line, reads included: this is where an IdP's lookups
are recorded (the audit journal takes writes and failures); load-balancer
probes (/healthz, /readyz) are written at DEBUG. A line holds the
request id (also sent as ``X-Request-Id`` and stored in the journal), time,
method, path, the query string with filter values and e-mail addresses
redacted (as sent only at DEBUG), status, duration, API key name and id,
organization id, user agent and client address. It never holds a header
other than the user agent, or a body, so neither a bearer key
nor a password can reach it. Logging it costs no query.

If nothing else configured logging, lines go to stderr; configure the
``scimsvc.requests`` logger (or the root logger) to send them elsewhere.
"""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, Response, g, request

from .. import metrics
from ..logs import redact_query, shorten_query
from ..services import audit
from . import health

log = logging.getLogger("scimsvc.requests")

_STARTED = "scimsvc.started"


def init_app(app: Flask) -> None:
    """Log every request ``app`` serves."""
    _default_handler()
    app.before_request(_start)
    app.after_request(_finish)


def _default_handler() -> None:
    # Under a bare gunicorn nothing handles INFO records: give the log somewhere to go,
    # unless the application (or pytest) configured logging itself.
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        # Not also through the root logger: gunicorn gives it a handler after the app loads,
        # and every request would be written twice.
        log.propagate = False


def _start() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _finish(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    context = audit.current()
    if not g.get("request_id"):
        # A request the SCIM blueprint did not route (unknown path) still gets an id.
        g.request_id = uuid.uuid4().hex
        response.headers.setdefault("X-Request-Id", g.request_id)
    seconds = time.perf_counter() - started if started else None
    rule = request.url_rule
    metrics.observe_request(rule.rule if rule is not None else "unmatched", request.method,
                            response.status_code, seconds)
    line = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": g.request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 2) if seconds is not None else None,
        "key": context.api_key_name if context else None,
        "key_id": context.api_key_id if context else None,
        "tenant": context.tenant_id if context else None,
        "user_agent": request.headers.get("User-Agent"),
        "remote_addr": request.remote_addr,
    }
    # Load-balancer probes come every few seconds: at INFO they would drown the requests.
    level = logging.DEBUG if request.path in health.PATHS else logging.INFO
    if log.isEnabledFor(level):
        query = request.query_string.decode("latin-1")
        if query:
            # Filter values and e-mail addresses are not written at INFO, nor more than 2 KB of
            # the query (scimsvc.logs).
            line["query"] = redact_query(query)
            if log.isEnabledFor(logging.DEBUG):
                line["query_as_sent"] = shorten_query(query)
        # Made here rather than by log.info, which walks the stack to name the caller.
        log.handle(log.makeRecord(log.name, level, __file__, 0,
                                  json.dumps(line, ensure_ascii=False, separators=(",", ":")),
                                  (), None, "_finish", {"scimsvc_request": line}))
    return response
