"""The audit journal's INSERT, and the refusal summaries' merge, run in the caller's transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedWrite
from ..models import AuditEvent

_INSERT_EVENT = PreparedWrite(insert(AuditEvent.__table__))


def insert_event(connection: Connection, entry: dict[str, Any]) -> None:
    """Write one audit event (every column but ``id``) in ``connection``'s transaction."""
    _INSERT_EVENT.execute(DriverConnection.of(connection), entry)


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
