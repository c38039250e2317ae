"""What the product asks: users with their access, lookups and pages, and AuthZEN decisions.

A user is shown as the access API's object: ``{"id", "userName", "externalId",
"displayName", "emails", "status", "teams", "roles", "permissions",
"updatedAt", "version"}`` where ``permissions`` holds the actions the user's
teams' roles grant, and is empty unless the user is active.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy.engine import Connection

from ..errors import InvalidValue, NotFound
from ..scim.filters.grammar import shown
from ..store import access as store
from . import cursors

STATUSES = ("active", "disabled", "removed")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as RFC 3339 with milliseconds and Z."""
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def status_of(row: Any) -> str:
    if row.deleted_at is not None:
        return "removed"
    return "active" if row.active else "disabled"


def user_object(row: Any, standing: store.Standing) -> dict[str, Any]:
    """The access-API object of a user row (store.access.COLUMNS) and its standing."""
    status = status_of(row)
    data = row.data or {}
    return {
        "id": row.scim_id, "userName": row.user_name, "externalId": row.external_id,
        "displayName": row.display_name, "emails": list(data.get("emails") or []),
        "status": status, "teams": sorted(standing.teams), "roles": sorted(standing.roles),
        "permissions": sorted(standing.actions) if status == "active" else [],
        "updatedAt": iso(row.updated_at), "version": row.version,
    }


def objects(rows: list[Any], connection: Connection | None = None) -> list[dict[str, Any]]:
    found = store.standings([row.id for row in rows], connection)
    return [user_object(row, found[row.id]) for row in rows]


def snapshot(connection: Connection, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The access-API objects of the users, read in ``connection``'s (write) transaction."""
    rows = store.users_by_ids(user_ids, connection)
    return {row.id: obj for row, obj in zip(rows, objects(rows, connection))}


def get_user(tenant_id: int, scim_id: str) -> dict[str, Any]:
    """The tenant's user ``scim_id``, removed ones included; NotFound if never provisioned."""
    row = store.user_by_scim_id(tenant_id, scim_id) if "\x00" not in scim_id else None
    if row is None:
        raise NotFound(f"No user with id {shown(scim_id)}.")
    return objects([row])[0]


@dataclass(frozen=True)
class UserQuery:
    """The access API's list conditions (all that are given must hold) and its page."""

    user_name: str | None = None
    email: str | None = None
    external_id: str | None = None
    status: str | None = None
    team: str | None = None
    permission: str | None = None
    limit: int = DEFAULT_LIMIT
    after: str | None = None


# users.id is INTEGER: 32-bit on PostgreSQL, so no users cursor holds a larger number.
MAX_USER_ID = 2**31 - 1


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not 1 <= int(raw) <= maximum:
        raise InvalidValue(f"limit is a whole number from 1 to {maximum}.")
    return int(raw)


def list_users(tenant_id: int, query: UserQuery) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's users matching ``query``: (users, the next page's cursor or None).

    Raises InvalidValue for an unknown status or a malformed cursor.
    """
    if query.status is not None and query.status not in STATUSES:
        raise InvalidValue(f"status is one of: {', '.join(STATUSES)}.")
    for name in ("user_name", "email", "external_id", "team", "permission"):
        value = getattr(query, name)
        if value is not None and "\x00" in value:
            return [], None  # PostgreSQL stores no NUL: nothing can match
    after = cursors.decode("u", query.after, "users", MAX_USER_ID) if query.after else 0
    rows = store.list_users(tenant_id, user_name=query.user_name, email=query.email,
                            external_id=query.external_id, status=query.status, team=query.team,
                            permission=query.permission, after_id=after, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return objects(rows), (cursors.encode("u", rows[-1].id) if more else None)


# --- AuthZEN decisions --------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    decision: bool
    reason: str | None = None  # why not, when denied

    def as_json(self) -> dict[str, Any]:
        if self.decision:
            return {"decision": True}
        return {"decision": False, "context": {"reason": self.reason}}


def decide(tenant_id: int, organization: str, subject: Any, action: Any,
           resource: Any) -> Decision:
    """May ``subject`` do ``action`` on ``resource`` (AuthZEN Access Evaluation)?

    subject is ``{"type": "user", "id": <userName or SCIM id>}``, action
    ``{"name": ACTION}``, resource ``{"type": "organization", "id": <the
    organization's slug>}``. Raises InvalidValue for a request not of that shape;
    a well-formed request about another organization, an unknown or inactive user
    or a permission not held is a denial with a reason.
    """
    subject_id = _entity(subject, "subject", "id")
    action_name = _entity(action, "action", "name")
    resource_id = _entity(resource, "resource", "id")
    if subject.get("type") != "user":
        return Decision(False, "subject type is not 'user'")
    if resource.get("type") != "organization":
        return Decision(False, "resource type is not 'organization'")
    if resource_id != organization:
        return Decision(False, "resource is not this API key's organization")
    if "\x00" in subject_id or "\x00" in action_name:
        return Decision(False, "user unknown")
    status, granted = store.standing_for_decision(tenant_id, subject_id, action_name)
    if status == "unknown":
        return Decision(False, "user unknown")
    if status != "active":
        return Decision(False, f"user not active ({status})")
    if not granted:
        return Decision(False, f"permission '{action_name}' not held")
    return Decision(True)


def _entity(value: Any, what: str, key: str) -> str:
    if not isinstance(value, dict):
        raise InvalidValue(f"'{what}' is required and must be an object.")
    found = value.get(key)
    if not isinstance(found, str) or not found:
        raise InvalidValue(f"'{what}.{key}' is required and must be a non-empty string.")
    if what != "action" and not isinstance(value.get("type"), str):
        raise InvalidValue(f"'{what}.type' is required and must be a string.")
    return found
