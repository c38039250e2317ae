"""The statements of a directory sync: a source's users, userName clashes, the sync lease.

A sync (services/sources/google.py) reads its source's users once, streamed, before it
writes anything; its writes go through services/users.py like a SCIM request's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from ..models import GoogleConnection, User

_users = User.__table__.c
_connections = GoogleConnection.__table__.c

_SOURCE_USERS = select(_users.scim_id, _users.external_id, _users.user_name_norm, _users.active,
                       _users.data, _users.deleted_at).where(
    _users.tenant_id == bindparam("tenant_id"), _users.source == bindparam("source"),
).order_by(_users.id)


def source_users(connection: Connection, tenant_id: int, source: str) -> Iterator[Any]:
    """Every user (live and removed) the source provisioned, oldest first, streamed."""
    result = connection.execution_options(yield_per=2000).execute(
        _SOURCE_USERS, {"tenant_id": tenant_id, "source": source})
    yield from result


_LIVE_NAMES = select(_users.user_name_norm, _users.source, _users.external_id).where(
    _users.tenant_id == bindparam("tenant_id"), _users.deleted_at.is_(None),
    _users.user_name_norm.in_(bindparam("names", expanding=True)))


def live_user_names(connection: Connection, tenant_id: int,
                    names: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """{folded userName: (source, externalId)} for the live users holding one of ``names``."""
    if not names:
        return {}
    rows = connection.execute(_LIVE_NAMES, {"tenant_id": tenant_id, "names": list(names)})
    return {row.user_name_norm: (row.source, row.external_id) for row in rows}


def take_lease(connection: Connection, connection_id: int, holder: str, now: datetime,
               until: datetime) -> bool:
    """Hold the connection's sync lease until ``until`` if it is free, expired or ours.

    One UPDATE, so two servers asking at once cannot both get it.
    """
    result = connection.execute(
        update(GoogleConnection.__table__)
        .where(_connections.id == connection_id,
               or_(_connections.lease_until.is_(None), _connections.lease_until < now,
                   _connections.lease_holder == holder))
        .values(lease_holder=holder, lease_until=until))
    return result.rowcount == 1


def release_lease(connection: Connection, connection_id: int, holder: str) -> None:
    connection.execute(
        update(GoogleConnection.__table__)
        .where(and_(_connections.id == connection_id, _connections.lease_holder == holder))
        .values(lease_holder=None, lease_until=None))
