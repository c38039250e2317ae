"""The audit journal's INSERT, run on the connection of the transaction it belongs to."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedWrite
from ..models import AuditEvent

_INSERT_EVENT = PreparedWrite(insert(AuditEvent.__table__))


def insert_event(connection: Connection, entry: dict[str, Any]) -> None:
    """Write one audit event (every column but ``id``) in ``connection``'s transaction."""
    _INSERT_EVENT.execute(DriverConnection.of(connection), entry)
