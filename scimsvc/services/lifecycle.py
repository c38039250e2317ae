"""The user lifecycle: the accounts of an organization and the access each user has.

A user is ``active``, ``disabled`` (``active`` false: visible over SCIM, no
access) or ``removed`` (DELETE, RFC 7644 §3.6: gone from SCIM, the account and
its team memberships kept). Access is what the user's teams' roles grant, and
only while the user is active.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..errors import InvalidValue, NotFound
from ..extensions import db
from ..models import Role, Team, User
from ..scim.schema import fold

STATUSES = ("active", "disabled", "removed")


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
        if status == "removed":
            query = query.where(User.deleted_at.is_not(None))
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
