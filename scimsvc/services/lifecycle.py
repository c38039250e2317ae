"""The user lifecycle: the accounts of an organization and the access each user has.

A user is ``active``, ``disabled`` (``active`` false: visible over SCIM, no
access), ``removed`` (DELETE, RFC 7644 §3.6: gone from SCIM, the account and
its team memberships kept) or ``purged`` (removed, and its personal attributes
erased: an anonymous tombstone). A ``protected`` user cannot be disabled,
removed, renamed or left without a team over SCIM (``check_protected``). Access is what the user's teams' roles grant, and
only while the user is active.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..errors import Forbidden, InvalidValue, NotFound
from ..extensions import db
from ..models import Role, Team, User
from ..scim.schema import fold

STATUSES = ("active", "disabled", "removed", "purged")

# What SCIM may not do to a protected user (``scimsvc user protect``), and how to say it.
PROTECTED_CHANGES = {
    "disable": "disable",
    "remove": "remove",
    "rename": "rename",
    "remove-last-team": "take the last team from",
}


def check_protected(user: Any, change: str) -> None:
    """Refuse (Forbidden, 403) a SCIM request making ``change`` to a protected user.

    ``user`` is anything with ``protected`` and ``user_name`` (a users.UserRecord, a
    User). ``change`` is one of PROTECTED_CHANGES: ``disable``, ``remove``, ``rename``
    (a new userName, not only in case) or ``remove-last-team`` (for the code removing
    team memberships: call it when the membership removed is the user's last). Admin
    commands do not call it: the CLI still can.
    """
    if change not in PROTECTED_CHANGES:
        raise ValueError(f"unknown protected change {change!r}")
    if getattr(user, "protected", False):
        raise Forbidden(
            f"User '{user.user_name}' is protected: SCIM may not {PROTECTED_CHANGES[change]} "
            "it. An admin can, from the command line ('scimsvc user unprotect' lifts this).")


def roles_of(user: User) -> list[Role]:
    """Return the roles the user holds through its teams, by name."""
    found: dict[int, Role] = {}
    for team in user.teams:
        for role in team.roles:
            found.setdefault(role.id, role)
    return sorted(found.values(), key=lambda r: r.name)


def effective_permissions(user: User) -> list[tuple[str, str]]:
    """Return the (action, scope) pairs the user may exercise: none unless active."""
    if user.status != "active":
        return []
    return sorted({(p.action, p.scope) for role in roles_of(user) for p in role.permissions})


@dataclass(frozen=True)
class Access:
    """A user's standing: status, teams, roles held, and what is in effect."""

    user: User
    teams: list[Team]
    roles: list[Role]
    permissions: list[tuple[str, str]]


def access(user: User) -> Access:
    return Access(user, list(user.teams), roles_of(user), effective_permissions(user))


def list_accounts(tenant_id: int, status: str | None = None) -> list[User]:
    """Return the organization's accounts (removed ones included), by userName."""
    query = select(User).where(User.tenant_id == tenant_id).options(selectinload(User.teams))
    if status is not None:
        if status not in STATUSES:
            raise InvalidValue(f"A user's status is one of: {', '.join(STATUSES)}.")
        if status == "purged":
            query = query.where(User.purged_at.is_not(None))
        elif status == "removed":
            query = query.where(User.deleted_at.is_not(None), User.purged_at.is_(None))
        else:
            query = query.where(User.deleted_at.is_(None), User.active == (status == "active"))
    return list(db.session.scalars(query.order_by(User.user_name_norm, User.deleted_at, User.id)))


def find_account(tenant_id: int, name: str) -> User:
    """Return the account called ``name`` (userName in any case, or SCIM id).

    The live account if there is one, else the most recently removed. Raises NotFound.
    """
    found = db.session.scalar(
        select(User)
        .where(User.tenant_id == tenant_id,
               or_(User.user_name_norm == fold(name), User.scim_id == name))
        .order_by(User.deleted_at.is_not(None), User.deleted_at.desc(), User.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(f"No user '{name}'.")
    return found


def count_named(tenant_id: int, name: str) -> int:
    """How many accounts (live or removed, not purged) have the userName ``name``, in any case."""
    return db.session.scalar(
        select(func.count(User.id)).where(User.tenant_id == tenant_id, User.purged_at.is_(None),
                                          User.user_name_norm == fold(name))) or 0


def find_removed(tenant_id: int, name: str) -> User:
    """Return the removed (not purged) account ``name`` (userName in any case, or SCIM id).

    The most recently removed if several share the userName. Raises NotFound.
    """
    found = db.session.scalar(
        select(User)
        .where(User.tenant_id == tenant_id, User.deleted_at.is_not(None), User.purged_at.is_(None),
               or_(User.user_name_norm == fold(name), User.scim_id == name))
        .order_by(User.deleted_at.desc(), User.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(f"No removed user '{name}'.")
    return found
