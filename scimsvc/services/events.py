"""Change events: every change to a user or to what they may do, in the change's transaction.

Types: ``user.created``, ``user.updated``, ``user.disabled``, ``user.enabled``,
``user.removed``, ``user.restored`` and ``user.access_changed``. An event is
``{"id", "sequence", "type", "occurredAt", "organization", "source", "actor",
"requestId", "changes", "user"}``: ``sequence`` increases across the
organization, ``changes`` names what changed (attribute names for the user
events, never a value; ``teams``/``roles``/``permissions`` for access changes)
and ``user`` is the access-API object as it stood after the change.

Who acted: a SCIM request (source ``scim``, actor the API key's name, its
request id), or what ``acting_as`` bound (the CLI binds ``cli``/``cli``).
"""
from __future__ import annotations

import contextlib
import contextvars
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy.engine import Connection

from ..database.transactions import release_read_connection, write_transaction
from ..errors import Busy, InvalidValue, ScimsvcError
from ..extensions import db
from ..models import utcnow
from ..store import access as access_store
from ..store import events as store
from . import access, audit, cursors, webhooks

CREATED, UPDATED = "user.created", "user.updated"
DISABLED, ENABLED = "user.disabled", "user.enabled"
REMOVED, RESTORED = "user.removed", "user.restored"
ACCESS_CHANGED = "user.access_changed"
TYPES = (CREATED, UPDATED, DISABLED, ENABLED, REMOVED, RESTORED, ACCESS_CHANGED)
ACCESS_FIELDS = ("teams", "roles", "permissions")
# The audit journal's write operations, as events.
_BY_OPERATION = {"create": CREATED, "restore": RESTORED, "replace": UPDATED, "patch": UPDATED,
                 "disable": DISABLED, "enable": ENABLED, "remove": REMOVED}
MAX_WAIT = 30.0
POLL_INTERVAL = 0.2
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SEQUENCE = cursors.MAX_NUMBER  # sequences are signed 64-bit in the database
DEFAULT_RETENTION_DAYS = 30


class CursorExpired(ScimsvcError):
    status = 410
    default_detail = ("The cursor is older than the event retention: resynchronise from "
                      "/api/v1/users, then read the feed from its 'next' cursor.")


@dataclass(frozen=True)
class Origin:
    source: str
    actor: str | None
    request_id: str | None


_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "scimsvc_event_origin", default=None)


@contextlib.contextmanager
def acting_as(source: str, actor: str | None, request_id: str | None = None) -> Iterator[Origin]:
    """Attribute the events written in the block to ``source``/``actor`` (e.g. "cli", "cli")."""
    origin = Origin(source, actor, request_id or uuid.uuid4().hex)
    token = _origin.set(origin)
    try:
        yield origin
    finally:
        _origin.reset(token)


def current_origin() -> Origin:
    """Who is acting: what ``acting_as`` bound, else the SCIM request being served."""
    bound = _origin.get()
    if bound is not None:
        return bound
    context = audit.current()
    if context is not None:
        return Origin("scim", context.api_key_name, context.request_id)
    return Origin("system", None, None)


def type_for_operation(operation: str) -> str:
    """The event type of an audit journal write operation (create, patch, disable…)."""
    return _BY_OPERATION[operation]


def changed_names(changes: Mapping[str, Any]) -> list[str]:
    """The attribute names of an audit diff (``{name: {"old", "new"}}`` or a mask), sorted."""
    return sorted(changes)


def record(connection: Connection, tenant_id: int, type: str, user_record_or_id: Any,
           changes: Sequence[str] = (), source: str | None = None, actor: str | None = None,
           request_id: str | None = None, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one event in ``connection``'s transaction and return its public form.

    ``user_record_or_id`` is the user's account id (``users.id``) or a
    ``store.users.UserRecord`` as the change left it; ``user`` is its access-API object if the caller has it (else it
    is read here, after the change). ``source``/``actor``/``request_id`` default
    to ``current_origin()``.
    """
    if type not in TYPES:
        raise ValueError(f"unknown event type {type!r}")
    user_id = user_record_or_id if isinstance(user_record_or_id, int) else user_record_or_id.id
    if user is None and hasattr(user_record_or_id, "scim_id"):
        # A users.UserRecord as the write left it: only its teams need reading.
        standing = access_store.standings([user_id], connection)[user_id]
        user = access.user_object(user_record_or_id, standing)
    elif user is None:
        user = access.snapshot(connection, [user_id])[user_id]
    origin = current_origin()
    row = {
        "public_id": f"evt_{uuid.uuid4().hex}",
        "tenant_id": tenant_id,
        "sequence": store.next_sequence(connection, tenant_id),
        "type": type, "occurred_at": utcnow(),
        "source": source or origin.source,
        "actor": actor if actor is not None else origin.actor,
        "request_id": request_id if request_id is not None else origin.request_id,
        "user_id": user_id, "user_scim_id": user["id"],
        "changes": list(changes), "user": user,
    }
    store.insert_event(connection, row)
    event = public_event({**row, "organization": store.organization_slug(connection, tenant_id)})
    # Webhook deliveries are queued here, in the same transaction, from the public form.
    webhooks.enqueue(connection, tenant_id, event)
    return event


def public_event(row: Any) -> dict[str, Any]:
    """The event JSON of an events row (a mapping or a row with the feed's columns)."""
    get = row.get if isinstance(row, Mapping) else (lambda key: getattr(row, key))
    return {
        "id": get("public_id"), "sequence": int(get("sequence")), "type": get("type"),
        "occurredAt": access.iso(get("occurred_at")), "organization": get("organization"),
        "source": get("source"), "actor": get("actor"), "requestId": get("request_id"),
        "changes": list(get("changes") or []), "user": get("user"),
    }


def standing_before(connection: Connection, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The users' access-API objects before an access change (pass to ``access_changed``)."""
    db.session.flush()
    return access.snapshot(connection, user_ids)


def access_changed(connection: Connection, tenant_id: int, user_ids: Iterable[int], *,
                   before: Mapping[int, dict[str, Any]] | None = None,
                   changes: Sequence[str] = ACCESS_FIELDS, source: str | None = None,
                   actor: str | None = None, request_id: str | None = None) -> list[dict[str, Any]]:
    """Write ``user.access_changed`` for the users (ids) whose teams, roles or permissions changed.

    With ``before`` (``standing_before`` taken before the change) only the users
    whose teams, roles or permissions now differ get an event, naming those that
    changed; without it each user gets one naming ``changes``. Removed users get
    none. Returns the events written, in user id order.
    """
    db.session.flush()  # ORM changes of the admin services reach the connection first
    after = access.snapshot(connection, user_ids)
    written = []
    for user_id in sorted(after):
        user = after[user_id]
        if user["status"] == "removed":
            continue
        if before is not None:
            old = before.get(user_id)
            changed = [name for name in ACCESS_FIELDS if old is None or old[name] != user[name]]
            if not changed:
                continue
        else:
            changed = list(changes)
        written.append(record(connection, tenant_id, ACCESS_CHANGED, user_id, changed, source,
                              actor, request_id, user=user))
    return written


def members_of_teams(connection: Connection, team_ids: Iterable[int]) -> list[int]:
    """The live users who are members of any of the teams (whose access a team change moves)."""
    db.session.flush()
    return access_store.member_ids(connection, team_ids)


def members_holding_role(connection: Connection, role_id: int) -> list[int]:
    """The live users whose teams hold the role."""
    db.session.flush()
    return access_store.member_ids(connection, access_store.teams_holding(connection, role_id))


# --- reading: the feed and the CLI ---------------------------------------------------

def parse_wait(raw: str | None) -> float:
    if raw is None or raw == "":
        return 0.0
    try:
        wait = float(raw) if raw.isascii() else -1.0  # float() also reads other scripts' digits
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT:
        raise InvalidValue(f"wait is a number of seconds from 0 to {MAX_WAIT:g}.")
    return wait


def feed(tenant_id: int, after: str | None, limit: int = DEFAULT_LIMIT, wait: float = 0.0, *,
         retention_days: int = DEFAULT_RETENTION_DAYS) -> tuple[list[dict[str, Any]], str]:
    """The organization's events after the cursor ``after`` (from the oldest retained one
    without it), in sequence order: (events, the cursor to pass next).

    When there are none, waits up to ``wait`` seconds for one. Raises
    CursorExpired (410) when events after the cursor are past retention, and
    InvalidValue for a malformed cursor.
    """
    position = cursors.decode("e", after, "events") if after else None
    _purge_now_and_then(tenant_id, retention_days)
    oldest = utcnow() - timedelta(days=retention_days)
    deadline = time.monotonic() + wait
    while True:
        last, purged = store.counter(tenant_id)
        if position is not None and position > last:
            raise InvalidValue("The cursor is ahead of this organization's feed: pass the "
                                      "'next' value of a previous page.")
        if position is None:
            start = (store.first_retained(tenant_id, oldest) or last + 1) - 1
        else:
            if position < purged:
                raise CursorExpired()
            start = position
            following = store.first_after(tenant_id, position)
            if following is not None and following.occurred_at < oldest:
                raise CursorExpired()
        rows = store.read_events(tenant_id, start, limit)
        if rows or time.monotonic() >= deadline:
            break
        release_read_connection()  # a new snapshot, and no connection held while waiting
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        if position is None:
            position = start
    events = [public_event(row) for row in rows]
    end = events[-1]["sequence"] if events else start
    return events, cursors.encode("e", end)


def list_events(tenant_id: int, after: int = 0, types: Sequence[str] | None = None,
                limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """The organization's events above sequence ``after`` (for people: the CLI)."""
    for name in types or ():
        if name not in TYPES:
            raise InvalidValue(f"Unknown event type '{name}': one of {', '.join(TYPES)}.")
    return [public_event(row) for row in store.read_events(tenant_id, after, limit, types=types)]


# The feed deletes expired events at most this often per organization and process.
PURGE_INTERVAL = 3600.0
_last_purge: dict[int, float] = {}


def _purge_now_and_then(tenant_id: int, retention_days: int) -> None:
    now, last = time.monotonic(), _last_purge.get(tenant_id)
    if last is not None and now - last < PURGE_INTERVAL:
        return
    _last_purge[tenant_id] = now
    try:
        purge_expired(tenant_id, retention_days)
    except Busy:
        _last_purge.pop(tenant_id, None)  # another writer held the lock: try on a later read


def purge_expired(tenant_id: int, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Delete the organization's events past retention; return how many went."""
    with write_transaction() as connection:
        return store.purge(connection, tenant_id, utcnow() - timedelta(days=retention_days))
