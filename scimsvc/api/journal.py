"""Bind the audit context of a SCIM request, and journal its failure or read after the response."""
from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from .. import metrics
from ..services import audit
from ..services.journal_queue import JournalQueue
from ..services.refusals import Refusals

EXTENSION = "scimsvc.refusals"
_QUEUE = "scimsvc.journal_queue"


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
    if resource.lower() == "groups":
        if rest == [".search"]:
            return "group_list" if method == "POST" else "other"
        if not rest:
            return {"GET": "group_list", "POST": "group_create"}.get(method, "other")
        if len(rest) == 1:
            return {"GET": "group_read", "PUT": "group_replace", "PATCH": "group_patch",
                    "DELETE": "group_remove"}.get(method, "other")
    if resource.lower() == "users":
        if rest == [".search"]:
            return "search" if method == "POST" else "other"
        if not rest:
            return {"GET": "list", "POST": "create"}.get(method, "other")
        if len(rest) == 1:
            return {"GET": "read", "PUT": "replace", "PATCH": "patch",
                    "DELETE": "remove"}.get(method, "other")
    return "discovery" if method == "GET" else "other"


def bind_request(operation: str | None = None) -> None:
    """Start the current request's audit context (before authorizing, so refusals are journaled);
    ``operation`` defaults to the SCIM operation its path names."""
    audit.bind(audit.RequestContext(
        request_id=g.request_id, method=request.method, path=request.path,
        operation=operation or operation_for(request.method, request.path),
        user_agent=request.headers.get("User-Agent"),
        target_id=(request.view_args or {}).get("scim_id"),
        client_address=request.remote_addr,
        queue=current_app.extensions[_QUEUE].put,
    ))


def note_refusal(reason: str | None) -> None:
    """Mark the current request as refused (api.auth.REASONS): it will be counted, not written."""
    context = audit.current()
    if context is not None:
        context.refusal = reason


def refusals() -> Refusals:
    """The current app's refusal counts (created by ``init_app``)."""
    return current_app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    """Give ``app`` its in-memory refusal counts, journaled by a background thread, and the
    queue that failures' journal rows wait in while the write lock is busy."""
    app.extensions[EXTENSION] = Refusals(app.app_context,
                                         app.config["SCIMSVC_REFUSAL_FLUSH_SECONDS"])
    app.extensions[_QUEUE] = JournalQueue(audit.write_events, context=app.app_context)


def record_outcome(response: Response) -> Response:
    """Journal a refused or failed request (4xx, 5xx), or a read when the organization asks for it."""
    status = response.status_code
    context = audit.current()
    if context is not None:
        metrics.observe_operation(context.operation, status, context.refusal, context.tenant_id,
                                  context.api_key_name)
    if context is not None and context.refusal is not None:
        refusals().add(context, status)  # no database write on the request path
        return response
    if 400 <= status < 600:
        audit.record_failure(status, g.pop("scim_type", None))
    else:
        audit.record_read(status)
    return response


def unbind(_exc: BaseException | None = None) -> None:
    audit.bind(None)
