"""API key lookup with the permission its team holds, and the last-use touch."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.engine import Connection

from ..database.prepared import PreparedQuery
from ..database.transactions import driver_connection
from ..models import ApiKey, RolePermission, team_roles


def _grants(action: str, scope: str) -> Any:
    """The SQL condition "the key's team holds a role granting ``action`` at ``scope``"."""
    return exists().where(
        team_roles.c.team_id == ApiKey.team_id,
        RolePermission.role_id == team_roles.c.role_id,
        and_(RolePermission.action == action, RolePermission.scope == scope),
    )


@lru_cache(maxsize=None)
def _key_query(action: str, scope: str) -> PreparedQuery:
    keys = ApiKey.__table__.c
    return PreparedQuery(
        select(keys.id, keys.tenant_id, keys.name, keys.secret_hash, keys.expires_at,
               keys.revoked_at, keys.last_used_at, _grants(action, scope).label("permitted")
               ).where(keys.prefix == bindparam("prefix")))


def find_key(prefix: str, action: str, scope: str) -> Any | None:
    """The key with ``prefix`` and whether its team may ``action`` at ``scope``, or None.

    A row of id, tenant_id, name, secret_hash, expires_at, revoked_at, last_used_at
    and permitted, read with one indexed lookup.
    """
    return _key_query(action, scope).first(driver_connection(), {"prefix": prefix})


def touch_last_used(connection: Connection, key_id: int, now: datetime,
                    resolution: timedelta) -> None:
    """Set the key's last use to ``now`` unless it was recorded less than ``resolution`` ago."""
    keys = ApiKey.__table__.c
    connection.execute(
        update(ApiKey.__table__)
        .where(keys.id == key_id)
        .where(keys.last_used_at.is_(None) | (keys.last_used_at < now - resolution))
        .values(last_used_at=now)
    )
