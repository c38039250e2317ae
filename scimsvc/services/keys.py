"""API keys: issuing (the secret is shown once), revoking, and checking a presented key.

A key is ``scimsvc_<prefix>_<secret>``: the prefix (48 bits, stored in clear)
finds the row with one indexed lookup; the whole key is stored only as a
SHA-256 digest and compared in constant time. The secret part carries 256 bits
from ``secrets``, so a fast hash is the right one (there is nothing to guess).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, select, update
from sqlalchemy.exc import OperationalError

from .. import dialect
from ..errors import Conflict, Invalid, NotFound
from ..extensions import db, driver_connection
from ..models import ApiKey, RolePermission, Team, team_roles, utcnow
from ..prepared import PreparedQuery
from .names import clean_name
from .teams import get_team

KEY_PATTERN = re.compile(r"^scimsvc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# A key's last-used time is refreshed at most this often, so requests stay reads.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# A hundred years: far enough to mean "long-lived", near enough for a datetime.
MAX_EXPIRES_IN_DAYS = 36_500
log = logging.getLogger(__name__)
# Compared against when no key has the presented prefix, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"scimsvc-no-such-key").hexdigest()


def hash_key(key: str) -> str:
    """Return the stored form of a key: its SHA-256 digest in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(tenant_id: int, team_name: str, name: str,
              expires_in_days: int | None = None) -> tuple[ApiKey, str]:
    """Create a key for a team and return it with its secret (the only time it is seen)."""
    name = clean_name(name, "An API key")
    if expires_in_days is not None and not 0 < expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise Invalid(f"--expires-in is a number of days from 1 to {MAX_EXPIRES_IN_DAYS}.")
    team = get_team(tenant_id, team_name)
    existing = db.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.name == name))
    if existing is not None:
        state = key_state(existing)
        # A revoked key keeps its name (and its history); a replacement needs a new one.
        raise Conflict(f"API key '{name}' already exists" +
                       (f" ({state}); give the new key another --name." if state != "active" else "."))
    prefix = secrets.token_hex(6)
    secret = f"scimsvc_{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    key = ApiKey(
        tenant_id=tenant_id, team=team, name=name, prefix=prefix, secret_hash=hash_key(secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(key)
    db.session.commit()
    return key, secret


def list_keys(tenant_id: int) -> list[ApiKey]:
    """Return the tenant's keys in name order (revoked and expired ones too)."""
    return list(db.session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.name)
    ))


def revoke_key(tenant_id: int, name: str) -> ApiKey:
    """Revoke a key by name; every later request with it is refused."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.name == name))
    if key is None:
        raise NotFound(f"No API key '{name}'.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    return key


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    """Return 'revoked', 'expired' or 'active' for ``key`` at ``now`` (default: the current time)."""
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _grants(action: str, scope: str):
    """The SQL condition "the key's team holds a role granting ``action`` at ``scope``"."""
    return exists().where(
        team_roles.c.team_id == ApiKey.team_id,
        RolePermission.role_id == team_roles.c.role_id,
        and_(RolePermission.action == action, RolePermission.scope == scope),
    )


def team_grants(team: Team, action: str, scope: str) -> bool:
    """Tell whether ``team`` holds a role granting ``action`` at ``scope``."""
    return bool(db.session.scalar(
        select(RolePermission.role_id)
        .join(team_roles, team_roles.c.role_id == RolePermission.role_id)
        .where(team_roles.c.team_id == team.id, RolePermission.action == action,
               RolePermission.scope == scope)
        .limit(1)
    ))


@lru_cache(maxsize=None)
def _key_query(action: str, scope: str) -> PreparedQuery:
    # Run on every request: a prepared query of plain columns (building the statement and
    # loading an ApiKey entity cost more CPU than running the query; make bench profile).
    keys = ApiKey.__table__.c
    return PreparedQuery(
        select(keys.id, keys.tenant_id, keys.name, keys.secret_hash, keys.expires_at,
               keys.revoked_at, keys.last_used_at, _grants(action, scope).label("permitted")
               ).where(keys.prefix == bindparam("prefix")))


@dataclass(frozen=True)
class Credential:
    """A presented key that is valid, and whether its team may act.

    ``key`` has the key's id, tenant_id, name, expires_at, revoked_at and last_used_at.
    """

    key: Any
    permitted: bool


def authenticate(token: str, action: str, scope: str) -> Credential | None:
    """Check a presented key: None unless it is a known, unrevoked, unexpired key.

    One indexed lookup finds the key and, in the same query, whether its team
    holds a role granting ``action`` at ``scope`` — evaluated on every request,
    so taking a role from a team locks its keys out at once.
    """
    match = KEY_PATTERN.match(token)
    prefix = match.group(1) if match else None
    row = None
    if prefix is not None:
        row = _key_query(action, scope).first(driver_connection(), {"prefix": prefix})
    presented = hash_key(token)
    stored = row.secret_hash if row else _DUMMY_HASH
    if not hmac.compare_digest(presented, stored) or row is None:
        return None
    now = utcnow()
    if key_state(row, now) != "active":
        return None
    _touch(row, now)
    return Credential(row, bool(row.permitted))


def _touch(key: Any, now: datetime) -> None:
    """Record use at most once a minute: a conditional UPDATE that most requests skip."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Its own short write transaction: a read transaction upgraded to a writer can
    # fail on SQLite under concurrency, and bookkeeping must never fail a request.
    try:
        with dialect.writing():
            db.session.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id)
                .where(ApiKey.last_used_at.is_(None)
                       | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
    except OperationalError:
        db.session.rollback()
        log.warning("could not record last use of API key %s", key.name)


__all__ = ["issue_key", "list_keys", "revoke_key", "authenticate", "key_state", "team_grants",
           "Credential"]
