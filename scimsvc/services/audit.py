"""The audit journal: one event per SCIM request that writes a user, fails, or is denied.

A SCIM request binds a ``RequestContext`` (who is calling, how) for its
duration. A service that changes a user calls ``record`` before it commits, so
the event is written in the same transaction as the change and vanishes with
it if the change rolls back. A request that fails with a 4xx is journaled by
``record_failure`` in its own transaction, after the failed one rolled back.
Successful reads are journaled only when the organization turned
``journal_reads`` on (``record_read``).

Operations (the ``operation`` column):

- writes: ``create``, ``restore`` (a POST that brought a removed account back),
  ``replace`` (PUT), ``patch`` (PATCH), ``disable`` / ``enable`` (a PUT or
  PATCH that turned ``active`` off / on, whatever else it changed), ``remove``
  (DELETE);
- reads: ``read`` (GET one user), ``list`` (GET /Users), ``search``
  (POST /Users/.search), ``discovery`` (GET of the other endpoints);
- ``other``: any other request (e.g. POST /Bulk).

Changes are ``{attribute: {"old": ..., "new": ...}}`` over the stored document
(sub-attributes of complex attributes as ``name.givenName``, extension
attributes as ``urn:...:User:department``). Passwords and other ``returned:
never`` attributes never appear; a request that sets a password records
``{"password": "changed"}``, nothing more.
"""
from __future__ import annotations

import contextvars
import logging
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import Select, delete, event, func, insert, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import dialect
from ..extensions import db
from ..models import ApiKey, AuditEvent, ProvisioningSettings, utcnow
from ..prepared import DriverConnection
from ..prepared_writes import PreparedWrite

log = logging.getLogger(__name__)

WRITES = ("create", "restore", "replace", "patch", "disable", "enable", "remove")
READS = ("read", "list", "search")
OPERATIONS = WRITES + READS + ("discovery", "other")

# Attributes whose values never enter the journal: the User schema's only
# returned "never" attribute (RFC 7643 §4.1.1), wherever it appears.
_SECRET_NAMES = frozenset({"password"})
MASK = "changed"
# The journal_reads setting is read at most this often per organization and process,
# so that reads cost no query (a change made in this process applies at once).
READS_SETTING_TTL = 5.0
USER_AGENT_MAX = 512


@dataclass
class RequestContext:
    """What the journal knows about the SCIM request being served."""

    request_id: str
    method: str
    path: str
    user_agent: str | None = None
    tenant_id: int | None = None
    api_key_id: int | None = None
    api_key_name: str | None = None
    target_id: str | None = None
    target_name: str | None = None
    # The event (its column values) this request journaled, if any, and whether it is
    # committed: ``record``'s is "pending" until its transaction commits or rolls back.
    event: dict[str, Any] | None = field(default=None, repr=False)
    event_state: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "scimsvc_audit_context", default=None
)


def bind(context: RequestContext | None) -> None:
    """Make ``context`` the current request's (None ends it)."""
    if context is not None:
        # Client-chosen values are cut to their columns' sizes (PostgreSQL enforces them).
        context.user_agent = context.user_agent[:USER_AGENT_MAX] if context.user_agent else None
        context.method = context.method[:10]
        if context.target_id is not None:
            context.target_id = context.target_id[:36]
    _current.set(context)


def current() -> RequestContext | None:
    return _current.get()


def identify(key: ApiKey) -> None:
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


def operation_for(method: str, path: str) -> str:
    """Name the operation a request asks for, before knowing its outcome."""
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

_INSERT_EVENT = PreparedWrite(insert(AuditEvent.__table__))


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
        "changes": changes,
    }


def record(user: Any, operation: str, status: int, changes: dict[str, Any], *,
           connection: Connection | None = None) -> dict[str, Any] | None:
    """Write the event for a change to ``user`` in the current transaction (the caller commits).

    ``user`` is anything with tenant_id, scim_id and user_name. One prepared INSERT
    on ``connection`` (the session's, where the change was written): an AuditEvent
    entity cost more to build and flush than the statement (in-process profile of
    POST /Users). Does nothing outside a SCIM request (no context bound).
    """
    context = _current.get()
    if context is None:
        return None
    entry = _event(context, operation, status, changes=changes, tenant_id=user.tenant_id)
    entry["target_user_id"], entry["target_user_name"] = user.scim_id, user.user_name
    connection = connection if connection is not None else db.session.connection()
    _INSERT_EVENT.execute(DriverConnection.of(connection), entry)
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
    """Journal the current request's 4xx outcome in its own transaction.

    Whatever the failed request had pending is rolled back first, so the event
    is the only thing written. Journaling never turns the failure into a 500:
    if the event cannot be written, a warning is logged.
    """
    context = _current.get()
    if context is None or not 400 <= status < 500:
        return
    db.session.rollback()
    if context.event_state == "committed":
        return  # the request's change (and its event) committed before it failed
    entry = _event(context, operation_for(context.method, context.path), status,
                   scim_type=scim_type)
    if context.event is not None and context.target_name is None:
        # A write whose event was written, then rolled back: name the user it acted on.
        entry["target_user_name"] = context.event["target_user_name"]
    _write_alone(entry)
    context.event, context.event_state = entry, "committed"


def record_read(status: int) -> None:
    """Journal a successful read of users if the organization asked for it (journal_reads)."""
    context = _current.get()
    if context is None or context.tenant_id is None or context.event is not None:
        return
    if not (200 <= status < 300 or status == 304):
        return
    operation = operation_for(context.method, context.path)
    if operation not in READS or not journal_reads_enabled(context.tenant_id):
        return
    db.session.rollback()  # end the read transaction; the event gets a writer of its own
    entry = _event(context, operation, status)
    _write_alone(entry)
    context.event, context.event_state = entry, "committed"


def _write_alone(entry: dict[str, Any]) -> None:
    try:
        with dialect.writing():
            connection = db.session.connection()
            _INSERT_EVENT.execute(DriverConnection.of(connection), entry)
            db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not journal request %s (%s %s -> %s)", entry["request_id"],
                    entry["method"], entry["path"], entry["status"], exc_info=True)


_reads_setting: "weakref.WeakKeyDictionary[Engine, dict[int, tuple[float, bool]]]" = \
    weakref.WeakKeyDictionary()


def journal_reads_enabled(tenant_id: int) -> bool:
    """Tell whether the organization journals successful reads (cached READS_SETTING_TTL s)."""
    cache = _reads_setting.setdefault(db.engine, {})
    now = time.monotonic()
    hit = cache.get(tenant_id)
    if hit is not None and now - hit[0] < READS_SETTING_TTL:
        return hit[1]
    value = bool(db.session.scalar(
        select(ProvisioningSettings.journal_reads).where(ProvisioningSettings.tenant_id == tenant_id)
    ))
    cache[tenant_id] = (now, value)
    return value


@event.listens_for(ProvisioningSettings, "after_update")
@event.listens_for(ProvisioningSettings, "after_insert")
def _forget_reads_setting(_mapper, connection, target) -> None:
    _reads_setting.get(connection.engine, {}).pop(target.tenant_id, None)


# --- reading the journal ------------------------------------------------------------

@dataclass(frozen=True)
class EventFilter:
    """Which events to list, export or count (every field optional)."""

    since: datetime | None = None
    user: str | None = None  # target userName (any case) or SCIM id
    key: str | None = None  # API key name
    operation: str | None = None
    status: str | None = None  # "409", or a class: "4xx"


def parse_status(value: str) -> tuple[int, int]:
    """Read ``409`` or ``4xx`` as an inclusive range of statuses; ValueError otherwise."""
    text = value.strip().lower()
    if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        low = int(text[0]) * 100
        return low, low + 99
    number = int(text)
    if not 100 <= number <= 599:
        raise ValueError(value)
    return number, number


def events_query(tenant_id: int, where: EventFilter = EventFilter()) -> Select:
    """Select the organization's events matching ``where``, oldest first.

    Events of requests whose organization could not be known (401: no valid
    key) belong to none and are included for every organization.
    """
    query = select(AuditEvent).where(
        or_(AuditEvent.tenant_id == tenant_id, AuditEvent.tenant_id.is_(None))
    )
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.user:
        query = query.where(or_(func.lower(AuditEvent.target_user_name) == where.user.lower(),
                                AuditEvent.target_user_id == where.user))
    if where.key:
        query = query.where(AuditEvent.api_key_name == where.key)
    if where.operation:
        query = query.where(AuditEvent.operation == where.operation)
    if where.status:
        low, high = parse_status(where.status)
        query = query.where(AuditEvent.status.between(low, high))
    return query.order_by(AuditEvent.at, AuditEvent.id)


def list_events(tenant_id: int, where: EventFilter = EventFilter(),
                limit: int | None = None) -> list[AuditEvent]:
    """Return the newest ``limit`` matching events (all if None), oldest first."""
    query = events_query(tenant_id, where)
    if limit is not None:
        newest = query.order_by(None).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        return list(reversed(db.session.scalars(newest.limit(limit)).all()))
    return list(db.session.scalars(query))


def count_events(tenant_id: int, where: EventFilter = EventFilter()) -> int:
    subquery = events_query(tenant_id, where).order_by(None).subquery()
    return db.session.scalar(select(func.count()).select_from(subquery)) or 0


def iter_events(tenant_id: int, where: EventFilter = EventFilter(),
                batch: int = 1000) -> Iterator[AuditEvent]:
    """Stream matching events oldest first, ``batch`` rows at a time (never the whole table)."""
    query = events_query(tenant_id, where).execution_options(yield_per=batch)
    for entry in db.session.scalars(query):
        yield entry
        # Export reads each event once: keep the session from holding them all.
        db.session.expunge(entry)


def prune_events(tenant_id: int, older_than_days: int, batch: int = 5000) -> int:
    """Delete events older than ``older_than_days`` days; return how many.

    Deletes in batches, each its own short write transaction, so SCIM writes
    waiting for the lock are not held up by a large prune.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    scope = or_(AuditEvent.tenant_id == tenant_id, AuditEvent.tenant_id.is_(None))
    deleted = 0
    db.session.rollback()
    while True:
        with dialect.writing():
            ids = select(AuditEvent.id).where(scope, AuditEvent.at < cutoff).limit(batch)
            result = db.session.execute(
                delete(AuditEvent).where(AuditEvent.id.in_(ids.scalar_subquery()))
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
        deleted += result.rowcount or 0
        if (result.rowcount or 0) < batch:
            return deleted


def count_older(tenant_id: int, older_than_days: int) -> int:
    cutoff = utcnow() - timedelta(days=older_than_days)
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            or_(AuditEvent.tenant_id == tenant_id, AuditEvent.tenant_id.is_(None)),
            AuditEvent.at < cutoff,
        )
    ) or 0


def event_json(entry: AuditEvent) -> dict[str, Any]:
    """Render an event as the JSON the CLI lists and exports."""
    return {
        "id": entry.id,
        "time": entry.at.isoformat(timespec="milliseconds") + "Z",
        "requestId": entry.request_id,
        "organization": entry.tenant_id,
        "apiKey": None if entry.api_key_id is None else {"id": entry.api_key_id,
                                                         "name": entry.api_key_name},
        "userAgent": entry.user_agent,
        "method": entry.method,
        "path": entry.path,
        "operation": entry.operation,
        "target": None if entry.target_user_id is None and entry.target_user_name is None
        else {"id": entry.target_user_id, "userName": entry.target_user_name},
        "outcome": {"status": entry.status, "scimType": entry.scim_type},
        "changes": entry.changes,
    }


__all__ = ["RequestContext", "bind", "current", "identify", "note_target", "note_target_name",
           "record", "record_failure", "record_read", "diff", "snapshot", "update_operation",
           "EventFilter", "events_query", "list_events", "count_events", "iter_events",
           "prune_events", "count_older", "event_json", "OPERATIONS"]
