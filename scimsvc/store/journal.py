"""The audit journal's INSERT and the refusal summaries' merge, run in the caller's transaction,
and the reads and rewrites of an erasure (``scimsvc user purge``)."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import and_, func, insert, null, or_, select, text, update
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedWrite
from ..models import AuditEvent

_INSERT_EVENT = PreparedWrite(insert(AuditEvent.__table__))


def insert_event(connection: Connection, entry: dict[str, Any]) -> None:
    """Write one audit event (every column but ``id``) in ``connection``'s transaction."""
    _INSERT_EVENT.execute(DriverConnection.of(connection), entry)


_events = AuditEvent.__table__.c


def restores_into(connection: Connection, tenant_id: int, scim_ids: Sequence[str]) -> list[Any]:
    """The diffs of the tenant's ``restore`` events whose target is one of ``scim_ids``
    (each names the SCIM id the account had before, in ``changes["id"]["old"]``)."""
    return list(connection.execute(
        select(_events.changes).where(_events.tenant_id == tenant_id,
                                      _events.operation == "restore",
                                      _events.target_user_id.in_(list(scim_ids)))).scalars())


def events_about(connection: Connection, tenant_id: int, scim_ids: Sequence[str],
                 user_names: Sequence[str]) -> list[Any]:
    """(id, target_user_name, changes) of the tenant's events about an account: those whose
    target is one of its ``scim_ids``, and those with no target id naming one of its
    ``user_names`` (in any case: a create refused before the account had an id)."""
    about = _events.target_user_id.in_(list(scim_ids))
    if user_names:
        about = or_(about, and_(_events.target_user_id.is_(None),
                                func.lower(_events.target_user_name).in_(
                                    sorted({name.lower() for name in user_names}))))
    return list(connection.execute(
        select(_events.id, _events.target_user_name, _events.changes)
        .where(_events.tenant_id == tenant_id, about).order_by(_events.id)))


def rewrite_event(connection: Connection, event_id: int, target_user_name: str | None,
                  changes: dict[str, Any] | None) -> None:
    """Replace an event's target userName and diff (an erasure redacting them)."""
    connection.execute(update(AuditEvent.__table__).where(_events.id == event_id)
                       .values(target_user_name=target_user_name,
                               changes=null() if changes is None else changes))


_EVENTS = AuditEvent.__table__
# Serialises refusal flushes across processes and servers on PostgreSQL, so two flushing
# the same minute add to one row (SQLite's writers are serialised by BEGIN IMMEDIATE).
_REFUSAL_LOCK = 0x5C1A_0010


def merge_refusal(connection: Connection, entry: dict[str, Any]) -> None:
    """Add ``entry['repeats']`` refusals to the summary row of their minute, or write that row.

    A summary is one row per (minute ``at``, organization, key, client address, reason);
    ``entry`` holds every column of it.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFUSAL_LOCK})
    c = _EVENTS.c
    result = connection.execute(
        update(_EVENTS)
        .where(c.reason == entry["reason"], c.at == entry["at"],
               c.client_address.is_not_distinct_from(entry["client_address"]),
               c.tenant_id.is_not_distinct_from(entry["tenant_id"]),
               c.api_key_id.is_not_distinct_from(entry["api_key_id"]))
        .values(repeats=c.repeats + entry["repeats"], status=entry["status"]))
    if not result.rowcount:
        connection.execute(insert(_EVENTS), [entry])
