"""Webhook deliveries: the outbox rows a write adds, and the claims and outcomes of the workers.

A write adds its delivery rows in its own transaction (``enabled_webhooks`` then
``insert_deliveries``, prepared: they run on every user write). Workers take
deliveries by **claiming a webhook**: in one write transaction they lock the
webhook's row (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so another server skips it
instead of waiting; SQLite: the transaction is BEGIN IMMEDIATE, one writer at a
time), check that no other worker holds a live claim on its deliveries, and
stamp up to a batch of its due deliveries, lowest sequence first, with a claim
token and a lease (``claimed_until``). So one worker at a time sends a webhook's
events, in order; a worker that dies leaves claims that lapse with their lease,
and the next claim takes the deliveries again.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, delete, exists, func, insert, or_, select, true, update
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedQuery, PreparedWrite
from ..models import Webhook, WebhookDelivery

W = Webhook.__table__
D = WebhookDelivery.__table__

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

_ENABLED_WEBHOOKS = PreparedQuery(
    select(W.c.id, W.c.event_types)
    .where(W.c.tenant_id == bindparam("tenant_id"), W.c.enabled == true())
    .order_by(W.c.id)
)
_INSERT_DELIVERY = PreparedWrite(insert(D))


def enabled_webhooks(connection: Connection, tenant_id: int) -> list[Any]:
    """The tenant's enabled webhooks as rows of (id, event_types), in the write's transaction."""
    return _ENABLED_WEBHOOKS.all(DriverConnection.of(connection), {"tenant_id": tenant_id})


def insert_deliveries(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add delivery rows (every column but ``id``) in ``connection``'s transaction."""
    if rows:
        _INSERT_DELIVERY.executemany(DriverConnection.of(connection), rows)


# --- the workers -------------------------------------------------------------------

def _due(now: datetime):
    return (D.c.status == PENDING) & (D.c.next_attempt_at <= now)


def _in_flight(now: datetime):
    """Some worker holds a live claim on a delivery of the webhook ``W``."""
    return exists().where(D.c.webhook_id == W.c.id, D.c.status == PENDING,
                          D.c.claimed_until > now)


def next_due_at(connection: Connection, now: datetime) -> datetime | None:
    """When the next pending delivery of an enabled webhook falls due after ``now`` (None: none).

    Deliveries already due are not counted: if no claim took them, another worker holds
    their webhook, and waiting for them would only spin.
    """
    return connection.execute(
        select(D.c.next_attempt_at).join(W, W.c.id == D.c.webhook_id)
        .where(D.c.status == PENDING, D.c.next_attempt_at > now, W.c.enabled == true())
        .order_by(D.c.next_attempt_at).limit(1)
    ).scalar()


def _claimable(now: datetime):
    return (select(W.c.id).where(
        W.c.enabled == true(),
        exists().where(D.c.webhook_id == W.c.id, _due(now)),
        ~_in_flight(now),
    ).order_by(W.c.id))


def anything_claimable(connection: Connection, now: datetime) -> bool:
    """A read: is some webhook's delivery due and free to claim (so a claim is worth its lock)?"""
    return connection.execute(_claimable(now).limit(1)).first() is not None


def claim(connection: Connection, now: datetime, lease_until: datetime, token: str, *,
          webhooks: int, batch: int) -> list[Any]:
    """Claim up to ``batch`` due deliveries of each of up to ``webhooks`` webhooks; return them.

    Runs in a write transaction. Returns rows of the delivery (id, webhook_id,
    event_id, sequence, payload, attempts, created_at, expires_at) and its webhook (url,
    secret, name), in webhook then sequence order.
    """
    candidates = _claimable(now).limit(webhooks)
    if connection.dialect.name == "postgresql":
        # Lock the webhooks claimed here; a concurrent claimer skips them, and the
        # in-flight check below, a new statement, sees any claim committed before the lock.
        candidates = candidates.with_for_update(skip_locked=True, of=W)
    claimed: list[int] = []
    for webhook_id in connection.execute(candidates).scalars().all():
        if connection.execute(select(W.c.id).where(W.c.id == webhook_id, _in_flight(now))).first():
            continue
        ids = connection.execute(
            select(D.c.id).where(D.c.webhook_id == webhook_id, _due(now),
                                 or_(D.c.claimed_until.is_(None), D.c.claimed_until <= now))
            .order_by(D.c.sequence, D.c.id).limit(batch)
        ).scalars().all()
        if ids:
            connection.execute(update(D).where(D.c.id.in_(ids))
                               .values(claimed_until=lease_until, claim_token=token))
            claimed.extend(ids)
    if not claimed:
        return []
    return connection.execute(
        select(D.c.id, D.c.webhook_id, D.c.event_id, D.c.sequence, D.c.payload, D.c.attempts,
               D.c.created_at, D.c.expires_at, W.c.url, W.c.secret, W.c.name)
        .join(W, W.c.id == D.c.webhook_id)
        .where(D.c.claim_token == token, D.c.id.in_(claimed))
        .order_by(D.c.webhook_id, D.c.sequence, D.c.id)
    ).all()


def mark_delivered(connection: Connection, delivery_id: int, at: datetime, status: int) -> None:
    """Record a 2xx: the delivery is done (whoever holds its claim now)."""
    connection.execute(
        update(D).where(D.c.id == delivery_id, D.c.status == PENDING)
        .values(status=DELIVERED, attempts=D.c.attempts + 1, last_attempt_at=at, delivered_at=at,
                last_status=status, last_error=None, claimed_until=None, claim_token=None))


def mark_attempt_failed(connection: Connection, delivery_id: int, token: str, at: datetime, *,
                        status: int | None, error: str | None, retry_at: datetime | None) -> None:
    """Record a failed attempt: retry at ``retry_at``, or (None) give up: status ``failed``."""
    values: dict[str, Any] = {"attempts": D.c.attempts + 1, "last_attempt_at": at,
                              "last_status": status, "last_error": error,
                              "claimed_until": None, "claim_token": None}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    connection.execute(update(D).where(D.c.id == delivery_id, D.c.claim_token == token,
                                       D.c.status == PENDING).values(**values))


def release(connection: Connection, delivery_ids: Sequence[int], token: str,
            not_before: datetime | None) -> None:
    """Give claimed deliveries back unsent; with ``not_before``, none is due before it."""
    if not delivery_ids:
        return
    mine = update(D).where(D.c.id.in_(delivery_ids), D.c.claim_token == token,
                           D.c.status == PENDING)
    connection.execute(mine.values(claimed_until=None, claim_token=None))
    if not_before is not None:
        connection.execute(update(D).where(D.c.id.in_(delivery_ids), D.c.status == PENDING,
                                           D.c.next_attempt_at < not_before)
                           .values(next_attempt_at=not_before))


def disable_webhook(connection: Connection, webhook_id: int, reason: str, at: datetime) -> None:
    connection.execute(update(W).where(W.c.id == webhook_id)
                       .values(enabled=False, disabled_reason=reason, disabled_at=at))


# --- admin ----------------------------------------------------------------------------

def retry_failed(connection: Connection, webhook_id: int, now: datetime,
                 expires_at: datetime) -> int:
    """Make the webhook's failed deliveries pending again, due now; return how many."""
    return connection.execute(
        update(D).where(D.c.webhook_id == webhook_id, D.c.status == FAILED)
        .values(status=PENDING, next_attempt_at=now, expires_at=expires_at,
                claimed_until=None, claim_token=None)
    ).rowcount


def delivery_counts(connection: Connection, webhook_id: int) -> dict[str, int]:
    rows = connection.execute(select(D.c.status, func.count()).where(D.c.webhook_id == webhook_id)
                              .group_by(D.c.status)).all()
    return {status: count for status, count in rows}


def backlog(connection: Connection) -> list[Any]:
    """Rows of (webhook_id, status, count, oldest created_at) of every pending or failed delivery."""
    return connection.execute(
        select(D.c.webhook_id, D.c.status, func.count(), func.min(D.c.created_at))
        .where(D.c.status.in_((PENDING, FAILED)))
        .group_by(D.c.webhook_id, D.c.status)).all()


def list_deliveries(connection: Connection, webhook_id: int, *, status: str | None,
                    limit: int) -> list[Any]:
    """The webhook's deliveries, newest first (without their bodies)."""
    query = select(D.c.id, D.c.event_id, D.c.event_type, D.c.sequence, D.c.status, D.c.attempts,
                   D.c.created_at, D.c.next_attempt_at, D.c.last_attempt_at, D.c.last_status,
                   D.c.last_error, D.c.delivered_at).where(D.c.webhook_id == webhook_id)
    if status is not None:
        query = query.where(D.c.status == status)
    return connection.execute(query.order_by(D.c.id.desc()).limit(limit)).all()


def delete_deliveries(connection: Connection, webhook_id: int) -> None:
    connection.execute(delete(D).where(D.c.webhook_id == webhook_id))


def redact_payloads(connection: Connection, tenant_id: int, event_ids: Sequence[str],
                    user: dict[str, Any]) -> int:
    """Replace the ``user`` of the stored payloads of these events (an erasure) with ``user``,
    delivered or not; return how many deliveries were rewritten."""
    rewritten = 0
    for start in range(0, len(event_ids), 500):
        chunk = list(event_ids[start:start + 500])
        rows = connection.execute(select(D.c.id, D.c.payload).where(
            D.c.tenant_id == tenant_id, D.c.event_id.in_(chunk))).all()
        for delivery_id, payload in rows:
            body = json.loads(payload)
            body["user"] = user
            connection.execute(update(D).where(D.c.id == delivery_id).values(
                payload=json.dumps(body, separators=(",", ":"), ensure_ascii=False)))
            rewritten += 1
    return rewritten
