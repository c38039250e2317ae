"""API keys: issuing (the secret is shown once), rotating, revoking, and checking a presented key.

A key is ``scimsvc_<prefix>_<secret>``: the prefix (48 bits, stored in clear)
finds the row with one indexed lookup; the whole key is stored only as a
SHA-256 digest and compared in constant time. The secret part carries 256 bits
from ``secrets``, so a fast hash is the right one (there is nothing to guess).

A name belongs to one live key. When a key is replaced (rotated, or a new key
takes the name of a revoked or expired one) the old key is renamed
``NAME@PREFIX`` (its visible prefix, e.g. ``okta@3f9a0c1b2d4e``): its history
stays attached to it in the journal, which records key ids, and the name is
free for the replacement.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ..database.transactions import write_transaction
from ..errors import Busy, Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import ApiKey, Organization, RolePermission, Team, team_roles, utcnow
from ..store import keys as store
from .names import MAX_NAME, clean_name
from .teams import get_team

KEY_PATTERN = re.compile(r"^scimsvc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# A key's last-used time is refreshed at most this often, so requests stay reads.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# A hundred years: far enough to mean "long-lived", near enough for a datetime.
MAX_EXPIRES_IN_DAYS = 36_500
# How long a rotated key keeps working by default: a day to update the IdP.
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=365)
log = logging.getLogger(__name__)
# Compared against when no key has the presented prefix, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"scimsvc-no-such-key").hexdigest()


class KeyNameTaken(Conflict):
    """An active API key of the organization already has the name."""

    def __init__(self, name: str):
        super().__init__(f"API key '{name}' already exists.")
        self.name = name


def hash_key(key: str) -> str:
    """Return the stored form of a key: its SHA-256 digest in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(tenant_id: int, team_name: str, name: str,
              expires_in_days: int | None = None) -> tuple[ApiKey, str]:
    """Create a key for a team and return it with its secret (the only time it is seen)."""
    name = clean_name(name, "An API key")
    if expires_in_days is not None and not 0 < expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise InvalidValue(f"An API key expires after 1 to {MAX_EXPIRES_IN_DAYS} days.")
    with write_transaction():
        return _issue_key(tenant_id, team_name, name, expires_in_days)


def _issue_key(tenant_id: int, team_name: str, name: str,
               expires_in_days: int | None) -> tuple[ApiKey, str]:
    team = get_team(tenant_id, team_name)
    existing = _find(tenant_id, name)
    if existing is not None:
        if key_state(existing) == "active":
            raise KeyNameTaken(name)
        # A dead key (revoked or expired) gives its name up to the new one.
        _retire_name(existing)
    return _new_key(tenant_id, team, name,
                    timedelta(days=expires_in_days) if expires_in_days else None)


def _new_key(tenant_id: int, team: Team, name: str,
             lifetime: timedelta | None) -> tuple[ApiKey, str]:
    prefix = secrets.token_hex(6)
    secret = f"scimsvc_{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    key = ApiKey(
        tenant_id=tenant_id, team=team, name=name, prefix=prefix, secret_hash=hash_key(secret),
        created_at=now,
        expires_at=now + lifetime if lifetime else None,
    )
    db.session.add(key)
    return key, secret


def _find(tenant_id: int, name: str) -> ApiKey | None:
    return db.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.name == name))


def retired_name(key: ApiKey) -> str:
    """Return the name a replaced key takes: ``NAME@PREFIX``, cut to fit the name column."""
    suffix = f"@{key.prefix}"
    return key.name[:MAX_NAME - len(suffix)] + suffix


def _retire_name(key: ApiKey) -> None:
    key.name = retired_name(key)
    db.session.flush()  # the rename reaches the database before the new key's INSERT


@dataclass(frozen=True)
class Rotation:
    """A rotation's result: the new key, its secret (shown once), and the old key, renamed."""

    key: ApiKey
    secret: str
    replaced: ApiKey


def rotate_key(tenant_id: int, name: str, grace: timedelta = DEFAULT_ROTATION_GRACE,
               expires_in_days: int | None = None) -> Rotation:
    """Issue a replacement for the active key ``name``, in its team and under its name.

    The old key is renamed (``retired_name``) and keeps working for ``grace``,
    then expires (a zero grace revokes it at once), so the IdP can be switched
    to the new key without a window of refused requests. The new key expires
    after ``expires_in_days``, or by default after as long as the old one was
    given (never, if it had no expiry). Raises NotFound for an unknown name,
    Conflict for a revoked or expired key, InvalidValue for a grace outside
    0 to 365 days.
    """
    if not timedelta(0) <= grace <= MAX_ROTATION_GRACE:
        raise InvalidValue("The grace period of a rotation is 0 to 8760 hours.")
    if expires_in_days is not None and not 0 < expires_in_days <= MAX_EXPIRES_IN_DAYS:
        raise InvalidValue(f"An API key expires after 1 to {MAX_EXPIRES_IN_DAYS} days.")
    with write_transaction():
        old = _find(tenant_id, name)
        if old is None:
            raise NotFound(f"No API key '{name}'.")
        now = utcnow()
        state = key_state(old, now)
        if state != "active":
            raise Conflict(f"API key '{name}' is {state}: create a new one with 'api-key create'.")
        if expires_in_days is not None:
            lifetime: timedelta | None = timedelta(days=expires_in_days)
        elif old.expires_at is not None:
            lifetime = old.expires_at - old.created_at
        else:
            lifetime = None
        _retire_name(old)
        if grace:
            # Never later than it would have expired anyway.
            old.expires_at = min(old.expires_at or now + grace, now + grace)
        else:
            old.revoked_at = now
        key, secret = _new_key(tenant_id, old.team, name, lifetime)
    return Rotation(key, secret, old)


def list_keys(tenant_id: int) -> list[ApiKey]:
    """Return the tenant's keys in name order (revoked and expired ones too)."""
    return list(db.session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.name)
    ))


def active_keys() -> list[tuple[int, str, str, datetime | None, datetime | None]]:
    """Every organization's active keys, for the metrics listener (instance-level, not a
    tenant's view): (organization id, organization slug, key name, expires_at, last_used_at).

    A key replaced by a rotation (renamed ``NAME@PREFIX``, working out its grace period)
    is left out: its replacement is the one the IdP should use, and whose expiry and
    provisioning matter; the old key's approaching end is the rotation working."""
    now = utcnow()
    rows = db.session.execute(
        select(Organization.id, Organization.slug, ApiKey.name, ApiKey.prefix, ApiKey.expires_at,
               ApiKey.last_used_at)
        .join(Organization, Organization.id == ApiKey.tenant_id)
        .where(ApiKey.revoked_at.is_(None),
               ApiKey.expires_at.is_(None) | (ApiKey.expires_at > now))
        .order_by(Organization.slug, ApiKey.name)).all()
    # Stored naive in UTC: make them aware, so their timestamps are right in any time zone.
    return [(org_id, slug, name, _utc(expires), _utc(used))
            for org_id, slug, name, prefix, expires, used in rows
            if not name.endswith(f"@{prefix}")]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None else None


def revoke_key(tenant_id: int, name: str) -> ApiKey:
    """Revoke a key by name; every later request with it is refused."""
    with write_transaction():
        key = db.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id,
                                                     ApiKey.name == name))
        if key is None:
            raise NotFound(f"No API key '{name}'.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
    return key


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    """Return 'revoked', 'expired' or 'active' for ``key`` at ``now`` (default: the current time)."""
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def team_grants(team: Team, action: str, scope: str) -> bool:
    """Tell whether ``team`` holds a role granting ``action`` at ``scope``."""
    return bool(db.session.scalar(
        select(RolePermission.role_id)
        .join(team_roles, team_roles.c.role_id == RolePermission.role_id)
        .where(team_roles.c.team_id == team.id, RolePermission.action == action,
               RolePermission.scope == scope)
        .limit(1)
    ))


@dataclass(frozen=True)
class Credential:
    """A presented key that is known, its state, and whether its team may act.

    ``key`` has the key's id, tenant_id, name, expires_at, revoked_at and last_used_at.
    ``state`` is 'active', 'revoked' or 'expired'; only an active, permitted key may act.
    """

    key: Any
    permitted: bool
    state: str = "active"

    @property
    def valid(self) -> bool:
        return self.state == "active" and self.permitted


def authenticate(token: str, action: str, scope: str) -> Credential | None:
    """Check a presented key: None unless it is one of ours (known, with the right secret).

    One indexed lookup finds the key and, in the same query, whether its team
    holds a role granting ``action`` at ``scope`` — evaluated on every request,
    so taking a role from a team locks its keys out at once. A revoked or expired
    key comes back with its state, so the refusal can be journaled in its
    organization. Only a key that may act records its use: a refused request
    writes nothing.
    """
    match = KEY_PATTERN.match(token)
    prefix = match.group(1) if match else None
    row = None
    if prefix is not None:
        row = store.find_key(prefix, action, scope)
    presented = hash_key(token)
    stored = row.secret_hash if row else _DUMMY_HASH
    if not hmac.compare_digest(presented, stored) or row is None:
        return None
    now = utcnow()
    credential = Credential(row, bool(row.permitted), key_state(row, now))
    if credential.valid:
        _touch(row, now)
    return credential


def _touch(key: Any, now: datetime) -> None:
    """Record use at most once a minute: a conditional UPDATE that most requests skip."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Its own short write transaction: bookkeeping must never fail a request.
    try:
        with write_transaction() as connection:
            store.touch_last_used(connection, key.id, now, LAST_USED_RESOLUTION)
    except (OperationalError, Busy):
        log.warning("could not record last use of API key %s", key.name)


__all__ = ["active_keys", "issue_key", "rotate_key", "retired_name", "Rotation", "list_keys", "revoke_key", "authenticate", "key_state", "team_grants",
           "Credential"]
