"""The audit journal: one event per SCIM request that writes a user, fails, or is denied.

A SCIM request binds a ``RequestContext`` (who is calling, how) for its
duration. A service that changes a user calls ``record`` before it commits, so
the event is written in the same transaction as the change and vanishes with
it if the change rolls back. A request that fails (4xx or 5xx) is journaled by
``record_failure`` in its own transaction, after the failed one rolled back;
when that transaction cannot take the write lock at once, the row goes to the
request's journal queue (``services.journal_queue``), whose thread writes it
as soon as it can, so the answer is never held up and the row never lost.
Successful reads are journaled only when the organization turned
``journal_reads`` on (``record_read``).

Operations (the ``operation`` column):

- writes: ``create``, ``restore`` (a POST that brought a removed account back),
  ``replace`` (PUT), ``patch`` (PATCH), ``disable`` / ``enable`` (a PUT or
  PATCH that turned ``active`` off / on, whatever else it changed), ``remove``
  (DELETE); from the CLI only: ``protect`` / ``unprotect``, ``purge`` (an erasure;
  ``restore`` also names ``scimsvc user restore``);
- reads: ``read`` (GET one user), ``list`` (GET /Users), ``search``
  (POST /Users/.search), ``discovery`` (GET of the other endpoints);
- groups: ``group_create``, ``group_rename`` (a PUT or PATCH that changed
  displayName), ``group_replace`` (PUT), ``group_patch`` (PATCH), ``group_remove``
  (DELETE); member changes as ``{"members": {"added": [ids], "removed": [ids]}}``;
  reads ``group_read``, ``group_list``;
- the command line (actor ``cli``, method ``CLI``): ``member_add`` /
  ``member_remove`` (``scimsvc team add-member`` / ``remove-member``),
  ``group_link`` / ``group_unlink`` (``scimsvc team link-group`` / ``unlink-group``);
- ``other``: any other request (e.g. POST /Bulk).

A command bound with ``cli_context`` journals like a request whose key is
``cli``: ``api_key_name`` is ``cli`` and ``api_key_id`` empty, ``method`` is
``CLI`` and ``path`` the command (``scimsvc team add-member``, never its
arguments).

Changes are ``{attribute: {"old": ..., "new": ...}}`` over the stored document
(sub-attributes of complex attributes as ``name.givenName``, extension
attributes as ``urn:...:User:department``). Passwords and other ``returned:
never`` attributes never appear; a request that sets a password records
``{"password": "changed"}``, nothing more.
"""
from __future__ import annotations

import contextvars
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from ..database.transactions import write_transaction
from ..errors import Busy
from ..extensions import db
from ..models import utcnow
from ..store import journal as store
from ..store.settings import journal_reads_enabled

log = logging.getLogger(__name__)

WRITES = ("create", "restore", "replace", "patch", "disable", "enable", "remove",
          "protect", "unprotect", "purge")
GROUP_WRITES = ("group_create", "group_rename", "group_replace", "group_patch", "group_remove")
# What admins do from the command line (actor ``cli``).
ADMIN_WRITES = ("member_add", "member_remove", "group_link", "group_unlink")
READS = ("read", "list", "search", "group_read", "group_list")
OPERATIONS = WRITES + GROUP_WRITES + ADMIN_WRITES + READS + ("discovery", "other")

# Attributes whose values never enter the journal: the User schema's only
# returned "never" attribute (RFC 7643 §4.1.1), wherever it appears.
_SECRET_NAMES = frozenset({"password"})
MASK = "changed"
USER_AGENT_MAX = 512
# A path is journaled cut to this many characters, then "...[N more characters]": a request
# line may be 256 KiB, and the journal's queue and the refusals hold thousands of rows in memory.
PATH_MAX = 2048


@dataclass
class RequestContext:
    """What the journal knows about the SCIM request being served."""

    request_id: str
    method: str
    path: str
    operation: str = "other"  # what the request asks for (one of OPERATIONS), before its outcome
    user_agent: str | None = None
    tenant_id: int | None = None
    api_key_id: int | None = None
    api_key_name: str | None = None
    target_id: str | None = None
    target_name: str | None = None
    client_address: str | None = None  # after SCIMSVC_TRUSTED_PROXIES
    # Why the request was refused (api.auth.REASONS), if it was: then it is summarised
    # in memory (services.refusals), never written on its own.
    refusal: str | None = None
    # The event (its column values) this request journaled, if any, and whether it is
    # committed: ``record``'s is "pending" until its transaction commits or rolls back,
    # a failure's is "queued" when it went to ``queue``.
    event: dict[str, Any] | None = field(default=None, repr=False)
    event_state: str | None = None
    # Where a failure's event goes when it cannot be written at once (JournalQueue.put).
    queue: Callable[[dict[str, Any]], bool] | None = field(default=None, repr=False)


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "scimsvc_audit_context", default=None
)


def bind(context: RequestContext | None) -> None:
    """Make ``context`` the current request's (None ends it)."""
    if context is not None:
        # Client-chosen values are cut to their columns' sizes and lose any NUL
        # (PostgreSQL enforces the sizes and stores no NUL in text: /Users/%00 was never journaled).
        context.user_agent = _storable(context.user_agent[:USER_AGENT_MAX]) \
            if context.user_agent else None
        context.method = _storable(context.method[:10])
        context.path = _storable(_shortened(context.path))
        if context.target_id is not None:
            context.target_id = _storable(context.target_id[:36])
        if context.client_address is not None:
            context.client_address = _storable(context.client_address[:64])
    _current.set(context)


CLI_ACTOR = "cli"
CLI_METHOD = "CLI"


def cli_context(command: str, user_agent: str | None = None) -> RequestContext:
    """The context a command-line write is journaled under (actor ``cli``)."""
    return RequestContext(request_id=uuid.uuid4().hex, method=CLI_METHOD, path=command,
                          user_agent=user_agent, api_key_name=CLI_ACTOR)


def _shortened(path: str) -> str:
    if len(path) <= PATH_MAX:
        return path
    return f"{path[:PATH_MAX]}...[{len(path) - PATH_MAX} more characters]"


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def current() -> RequestContext | None:
    return _current.get()


def identify(key: Any) -> None:
    """Note the (valid) API key making the request, and so its organization."""
    context = _current.get()
    if context is not None:
        context.tenant_id = key.tenant_id
        context.api_key_id = key.id
        context.api_key_name = key.name


def note_target(user: Any) -> None:
    """Note the user the request acts on, so a later failure names it (any object with
    scim_id and user_name: a row, a users.UserRecord)."""
    context = _current.get()
    if context is not None:
        context.target_id = user.scim_id
        context.target_name = user.user_name


def note_target_name(user_name: str) -> None:
    """Note the userName a create asks for, so a failure before the user exists names it."""
    context = _current.get()
    if context is not None and context.target_name is None:
        context.target_name = user_name


# --- what changed --------------------------------------------------------------

def snapshot(user: Any) -> dict[str, Any]:
    """Return the user's document as the journal compares it (``active`` as in effect)."""
    return {**(user.data or {}), "active": user.active}


def diff(before: dict[str, Any], after: dict[str, Any], *,
         password_changed: bool = False) -> dict[str, Any]:
    """Return ``{attribute: {"old": ..., "new": ...}}`` for what differs; secrets never appear."""
    changes = _diff(before, after, "")
    if password_changed:
        changes["password"] = MASK
    return changes


def _diff(before: dict[str, Any], after: dict[str, Any], prefix: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in list(before) + [k for k in after if k not in before]:
        if key.lower() in _SECRET_NAMES:
            continue
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        name = prefix + key
        if isinstance(old, (dict, type(None))) and isinstance(new, (dict, type(None))):
            # Singular complex attribute or extension: journal its sub-attributes.
            sub = name + (":" if key.lower().startswith("urn:") else ".")
            changes.update(_diff(old or {}, new or {}, sub))
        else:
            changes[name] = {"old": scrub(old), "new": scrub(new)}
    return changes


def scrub(value: Any) -> Any:
    """Return ``value`` without any secret attribute inside it."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()
                if not (isinstance(k, str) and k.lower() in _SECRET_NAMES)}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def update_operation(default: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Name a PUT/PATCH: ``disable``/``enable`` when it flipped ``active``, else ``default``."""
    if bool(before.get("active", True)) != bool(after.get("active", True)):
        return "enable" if after.get("active", True) else "disable"
    return default


# --- writing events ----------------------------------------------------------------

def _event(context: RequestContext, operation: str, status: int, *,
           scim_type: str | None = None, changes: dict[str, Any] | None = None,
           tenant_id: int | None = None) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id if tenant_id is not None else context.tenant_id,
        "at": utcnow(), "request_id": context.request_id,
        "api_key_id": context.api_key_id, "api_key_name": context.api_key_name,
        "user_agent": context.user_agent, "method": context.method, "path": context.path,
        "operation": operation, "target_user_id": context.target_id,
        "target_user_name": context.target_name, "status": status, "scim_type": scim_type,
        "changes": changes, "client_address": context.client_address,
        "reason": None, "repeats": None,
    }


def record(connection: Connection, user: Any, operation: str, status: int,
           changes: dict[str, Any]) -> dict[str, Any] | None:
    """Write the event for a change to ``user`` in ``connection``'s write transaction.

    ``user`` is anything with tenant_id, scim_id and user_name. Does nothing
    outside a SCIM request (no context bound).
    """
    context = _current.get()
    if context is None:
        return None
    entry = _event(context, operation, status, changes=changes, tenant_id=user.tenant_id)
    entry["target_user_id"], entry["target_user_name"] = user.scim_id, user.user_name
    store.insert_event(connection, entry)
    context.event, context.event_state = entry, "pending"
    return entry


@event.listens_for(db.session, "after_commit")
def _pending_event_committed(_session) -> None:
    context = _current.get()
    if context is not None and context.event_state == "pending":
        context.event_state = "committed"


@event.listens_for(db.session, "after_rollback")
def _pending_event_rolled_back(_session) -> None:
    context = _current.get()
    if context is not None and context.event_state == "pending":
        context.event_state = "rolled back"


def record_failure(status: int, scim_type: str | None = None) -> None:
    """Journal the current request's 4xx or 5xx outcome in its own transaction.

    Whatever the failed request had pending is rolled back first, so the event
    is the only thing written. Journaling never turns the failure into a 500
    nor makes it wait for the write lock: an event that cannot be written at
    once is queued (``RequestContext.queue``).
    """
    context = _current.get()
    if context is None or not 400 <= status < 600 or context.refusal is not None:
        return  # a refusal is summarised by services.refusals, not written here
    try:
        db.session.rollback()
    except SQLAlchemyError:  # a 5xx may come from a connection that is gone
        log.warning("rollback before journaling request %s failed", context.request_id,
                    exc_info=True)
    if context.event_state == "committed":
        return  # the request's change (and its event) committed before it failed
    entry = _event(context, context.operation, status, scim_type=scim_type)
    if context.event is not None and context.target_name is None:
        # A write whose event was written, then rolled back: name the user it acted on.
        entry["target_user_name"] = context.event["target_user_name"]
    context.event, context.event_state = entry, _write_alone(entry, context.queue)


def record_read(status: int) -> None:
    """Journal a successful read of users if the organization asked for it (journal_reads)."""
    context = _current.get()
    if (context is None or context.tenant_id is None or context.event is not None
            or context.refusal is not None):
        return
    if not (200 <= status < 300 or status == 304):
        return
    operation = context.operation
    if operation not in READS or not journal_reads_enabled(context.tenant_id):
        return
    db.session.rollback()  # end the read transaction; the event gets a writer of its own
    entry = _event(context, operation, status)
    context.event, context.event_state = entry, _write_alone(entry, context.queue)


def _write_alone(entry: dict[str, Any], queue: Callable[[dict[str, Any]], bool] | None) -> str:
    """Write ``entry`` now if the write lock is free, else queue it; return its state."""
    try:
        with write_transaction(wait=queue is None) as connection:
            store.insert_event(connection, entry)
        return "committed"
    except (SQLAlchemyError, Busy):
        if queue is not None and queue(entry):
            return "queued"
        log.warning("could not journal request %s (%s %s -> %s)", entry["request_id"],
                    entry["method"], entry["path"], entry["status"], exc_info=True)
        return "lost"


def write_events(entries: list[dict[str, Any]]) -> None:
    """Write queued events in one write transaction (the journal queue's writer, in an app
    context); raises what the transaction raises, and the queue retries."""
    with write_transaction() as connection:
        for entry in entries:
            store.insert_event(connection, entry)


__all__ = ["RequestContext", "bind", "cli_context", "current", "identify", "note_target",
           "note_target_name", "record", "record_failure", "record_read", "write_events", "diff",
           "snapshot", "update_operation", "OPERATIONS"]
