"""Reading the audit journal: list, count, export and prune an organization's events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import Select, delete, func, or_, select

from ..database.transactions import write_transaction
from ..extensions import db
from ..models import AuditEvent, utcnow
from .audit import OPERATIONS

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


def _scope(tenant_id: int | None) -> Any:
    """The events of one organization, or (None) those of none: the refused requests whose
    organization could not be known (no key, an unknown key), for instance-level tooling."""
    if tenant_id is None:
        return AuditEvent.tenant_id.is_(None)
    return AuditEvent.tenant_id == tenant_id


def events_query(tenant_id: int | None, where: EventFilter = EventFilter()) -> Select:
    """Select the organization's events matching ``where``, oldest first.

    ``tenant_id`` None selects the events that belong to no organization (refusals
    of requests without a known key); an organization never sees those.
    """
    query = select(AuditEvent).where(_scope(tenant_id))
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


def list_events(tenant_id: int | None, where: EventFilter = EventFilter(),
                limit: int | None = None) -> list[AuditEvent]:
    """Return the newest ``limit`` matching events (all if None), oldest first."""
    query = events_query(tenant_id, where)
    if limit is not None:
        newest = query.order_by(None).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        return list(reversed(db.session.scalars(newest.limit(limit)).all()))
    return list(db.session.scalars(query))


def count_events(tenant_id: int | None, where: EventFilter = EventFilter()) -> int:
    subquery = events_query(tenant_id, where).order_by(None).subquery()
    return db.session.scalar(select(func.count()).select_from(subquery)) or 0


def iter_events(tenant_id: int | None, where: EventFilter = EventFilter(),
                batch: int = 1000) -> Iterator[AuditEvent]:
    """Stream matching events oldest first, ``batch`` rows at a time (never the whole table)."""
    query = events_query(tenant_id, where).execution_options(yield_per=batch)
    for entry in db.session.scalars(query):
        yield entry
        # Export reads each event once: keep the session from holding them all.
        db.session.expunge(entry)


def prune_events(tenant_id: int | None, older_than_days: int, batch: int = 5000) -> int:
    """Delete the organization's events older than ``older_than_days`` days; return how many.

    Only that organization's: ``tenant_id`` None prunes the events of none (refusals).
    Deletes in batches, each its own short write transaction, so SCIM writes
    waiting for the lock are not held up by a large prune.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    scope = _scope(tenant_id)
    deleted = 0
    while True:
        with write_transaction():
            ids = select(AuditEvent.id).where(scope, AuditEvent.at < cutoff).limit(batch)
            result = db.session.execute(
                delete(AuditEvent).where(AuditEvent.id.in_(ids.scalar_subquery()))
                .execution_options(synchronize_session=False)
            )
        deleted += result.rowcount or 0
        if (result.rowcount or 0) < batch:
            return deleted


def count_older(tenant_id: int | None, older_than_days: int) -> int:
    cutoff = utcnow() - timedelta(days=older_than_days)
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(_scope(tenant_id), AuditEvent.at < cutoff)
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
        "clientAddress": entry.client_address,
        # A refusal summary: why, and how many requests in the minute starting at "time".
        "refusal": None if entry.reason is None else {"reason": entry.reason,
                                                      "requests": entry.repeats},
    }


__all__ = ["EventFilter", "events_query", "list_events", "count_events", "iter_events",
           "prune_events", "count_older", "event_json", "parse_status", "OPERATIONS"]
