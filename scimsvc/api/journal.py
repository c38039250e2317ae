"""Bind the audit context of a SCIM request, and journal its failure or read after the response."""
from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from ..services import audit
from ..services.journal_queue import JournalQueue

_QUEUE = "scimsvc.journal_queue"


def init_app(app: Flask) -> None:
    """Give ``app`` the queue that failures' journal rows wait in while the lock is busy."""
    app.extensions[_QUEUE] = JournalQueue(audit.write_events, context=app.app_context)


def journal_queue(app: Flask) -> JournalQueue:
    return app.extensions[_QUEUE]


def operation_for(method: str, path: str) -> str:
    """Name the operation a request asks for, before knowing its outcome (one of audit.OPERATIONS)."""
    parts = [p for p in path.split("/") if p]
    # /scim/v2/Users[/<id>|/.search]
    resource = parts[2] if len(parts) > 2 else ""
    rest = parts[3:]
    if resource == ".search" and not rest:
        return "search" if method == "POST" else "other"
    if resource.lower() == "users":
        if rest == [".search"]:
            return "search" if method == "POST" else "other"
        if not rest:
            return {"GET": "list", "POST": "create"}.get(method, "other")
        if len(rest) == 1:
            return {"GET": "read", "PUT": "replace", "PATCH": "patch",
                    "DELETE": "remove"}.get(method, "other")
    return "discovery" if method == "GET" else "other"


def bind_request() -> None:
    """Start the current request's audit context (before authorizing, so refusals are journaled)."""
    audit.bind(audit.RequestContext(
        request_id=g.request_id, method=request.method, path=request.path,
        operation=operation_for(request.method, request.path),
        user_agent=request.headers.get("User-Agent"),
        target_id=(request.view_args or {}).get("scim_id"),
        queue=current_app.extensions[_QUEUE].put,
    ))


def record_outcome(response: Response) -> Response:
    """Journal a refused or failed request (4xx, 5xx), or a read when the organization asks for it."""
    status = response.status_code
    if 400 <= status < 600:
        audit.record_failure(status, g.pop("scim_type", None))
    else:
        audit.record_read(status)
    return response


def unbind(_exc: BaseException | None = None) -> None:
    audit.bind(None)
