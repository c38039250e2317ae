"""The change events: sequence allocation, the insert, the feed's reads and retention.

``next_sequence`` increments the organization's row of ``event_counters`` in the
writer's transaction. On SQLite writers are serialised by BEGIN IMMEDIATE; on
PostgreSQL the row lock makes a second writer of the same organization wait
until the first commits, so an organization's events become visible in
sequence order and a reader that has seen sequence N never later sees a
smaller one appear.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedWrite
from ..database.transactions import read_connection
from ..models import Event, EventCounter, Organization

_events = Event.__table__.c
_counters = EventCounter.__table__.c
_orgs = Organization.__table__.c
_INSERT_EVENT = PreparedWrite(insert(Event.__table__))
# The columns a feed row carries: the event's and its organization's slug.
FEED_COLUMNS = (_events.public_id, _events.sequence, _events.type, _events.occurred_at,
                _events.source, _events.actor, _events.request_id, _events.changes, _events.user,
                _orgs.slug.label("organization"))
_slugs: dict[int, str] = {}  # organization slugs never change


def next_sequence(connection: Connection, tenant_id: int) -> int:
    """Allocate the organization's next event sequence in ``connection``'s transaction."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(EventCounter.__table__).values(
        tenant_id=tenant_id, last_sequence=1, purged_through=0)
    statement = statement.on_conflict_do_update(
        index_elements=[_counters.tenant_id],
        set_={"last_sequence": EventCounter.__table__.c.last_sequence + 1},
    ).returning(_counters.last_sequence)
    return int(connection.execute(statement).scalar_one())


def insert_event(connection: Connection, row: dict[str, Any]) -> None:
    """Write one event (every column but ``id``) in ``connection``'s transaction."""
    _INSERT_EVENT.execute(DriverConnection.of(connection), row)


def organization_slug(connection: Connection, tenant_id: int) -> str:
    slug = _slugs.get(tenant_id)
    if slug is None:
        slug = _slugs[tenant_id] = connection.execute(
            select(_orgs.slug).where(_orgs.id == tenant_id)).scalar_one()
    return slug


def counter(tenant_id: int, connection: Connection | None = None) -> tuple[int, int]:
    """(last sequence, purged through) of the organization; (0, 0) before its first event."""
    row = (connection or read_connection()).execute(
        select(_counters.last_sequence, _counters.purged_through)
        .where(_counters.tenant_id == tenant_id)).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def read_events(tenant_id: int, after: int, limit: int, *, types: Sequence[str] | None = None,
                connection: Connection | None = None) -> list[Any]:
    """The organization's events with a sequence above ``after``, in sequence order."""
    query = (select(*FEED_COLUMNS).join(Organization.__table__, _orgs.id == _events.tenant_id)
             .where(_events.tenant_id == tenant_id, _events.sequence > after))
    if types:
        query = query.where(_events.type.in_(list(types)))
    return list((connection or read_connection()).execute(
        query.order_by(_events.sequence).limit(limit)))


def first_after(tenant_id: int, after: int) -> Any | None:
    """(sequence, occurred_at) of the organization's first event above ``after``, or None."""
    return read_connection().execute(
        select(_events.sequence, _events.occurred_at)
        .where(_events.tenant_id == tenant_id, _events.sequence > after)
        .order_by(_events.sequence).limit(1)).first()


def first_retained(tenant_id: int, not_before: datetime) -> int | None:
    """The sequence of the organization's oldest event at or after ``not_before``, or None."""
    return read_connection().execute(
        select(func.min(_events.sequence))
        .where(_events.tenant_id == tenant_id, _events.occurred_at >= not_before)).scalar()


def purge(connection: Connection, tenant_id: int, older_than: datetime) -> int:
    """Delete the organization's events written before ``older_than``; return how many.

    Deletes by sequence up to the newest expired one, so what is left is always a
    suffix of the sequence, and records that sequence as ``purged_through``.
    """
    through = connection.execute(
        select(func.max(_events.sequence))
        .where(_events.tenant_id == tenant_id, _events.occurred_at < older_than)).scalar()
    if through is None:
        return 0
    deleted = connection.execute(delete(Event.__table__).where(
        _events.tenant_id == tenant_id, _events.sequence <= through)).rowcount
    connection.execute(update(EventCounter.__table__)
                       .where(_counters.tenant_id == tenant_id,
                              _counters.purged_through < bindparam("through"))
                       .values(purged_through=bindparam("through")), {"through": through})
    return deleted


def tenants_with_events(connection: Connection) -> list[int]:
    return list(connection.execute(select(_counters.tenant_id).order_by(_counters.tenant_id)).scalars())


def redact_user(connection: Connection, tenant_id: int, user_id: int,
                user: dict[str, Any]) -> list[str]:
    """Replace the user object of every event about account ``user_id`` with ``user`` (an
    erasure's tombstone) and the events' request ids kept; return the events' public ids."""
    where = (_events.tenant_id == tenant_id, _events.user_id == user_id)
    ids = list(connection.execute(select(_events.public_id).where(*where)).scalars())
    if ids:
        connection.execute(update(Event.__table__).where(*where).values(user=user))
    return ids
