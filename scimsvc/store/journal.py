"""The audit journal's INSERT, run on the connection of the transaction it belongs to, and the
reads and rewrites of an erasure (``scimsvc user purge``)."""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import and_, func, insert, null, or_, select, update
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
