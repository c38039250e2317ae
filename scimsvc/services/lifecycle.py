"""The user lifecycle: which removed account a returning user gets back, and what access a user has.

A user is ``active``, ``disabled`` (``active`` false: visible over SCIM, no
access) or ``removed`` (DELETE, RFC 7644 §3.6: gone from SCIM, the account and
its team memberships kept). Access is what the user's teams' roles grant, and
only while the user is active.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, or_, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import selectinload

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Role, Team, User
from ..prepared import DriverConnection, PreparedQuery

STATUSES = ("active", "disabled", "removed")


_users = User.__table__.c
_REMOVED = (_users.tenant_id == bindparam("tenant_id"), _users.deleted_at.is_not(None))
_LATEST_REMOVED_FIRST = (_users.deleted_at.desc(), _users.id.desc())


def _latest_removed(match: Any) -> Select:
    return select(_users.id).where(*_REMOVED, match).order_by(*_LATEST_REMOVED_FIRST).limit(1)


_by_name = _latest_removed(_users.user_name_norm == bindparam("user_name_norm"))
_by_external_id = _latest_removed(_users.external_id == bindparam("external_id"))
# FOR UPDATE on PostgreSQL, so two concurrent creates cannot both restore the account:
# the second waits, then PostgreSQL checks the outer conditions again on the row the
# first committed, which is no longer removed (hence _STILL_REMOVED outside the subquery;
# without tenant_id, which would lead SQLite's planner to walk ix_users_tenant_live).
_STILL_REMOVED = _users.deleted_at.is_not(None)
_RETURNING_BY_NAME = PreparedQuery(
    select(*_users).where(_STILL_REMOVED, _users.id.in_(_by_name.scalar_subquery()))
    .with_for_update(of=User.__table__))
# The latest match of each kind, then the later of the two: with one OR the planner
# walked every removed user of the tenant in deleted_at order (EXPLAIN QUERY PLAN);
# this way each side is one probe of its partial index (migration 0003).
_RETURNING_BY_NAME_OR_EXTERNAL_ID = PreparedQuery(
    select(*_users)
    .where(_STILL_REMOVED, _users.id.in_(union_all(select(_by_name.subquery().c.id),
                                              select(_by_external_id.subquery().c.id))))
    .order_by(*_LATEST_REMOVED_FIRST).limit(1).with_for_update(of=User.__table__))


def returning_account(connection: Connection, tenant_id: int, user_name_norm: str,
                      external_id: str | None) -> Row | None:
    """Return the removed account a new user with this userName/externalId takes back, if any.

    ``user_name_norm`` is the folded userName. When several removed accounts
    match (by userName, by externalId, or one each), the most recently removed
    wins; ties go to the newest account. Returns its ``users`` row (every
    column, in table order), read with a prepared query on ``connection`` (the
    session's, in the request's transaction): building the ORM query was a
    tenth of a POST's CPU (in-process profile). On PostgreSQL the row is
    locked, so two concurrent creates cannot both restore it.
    """
    params = {"tenant_id": tenant_id, "user_name_norm": user_name_norm}
    statement = _RETURNING_BY_NAME
    if external_id:
        statement, params["external_id"] = _RETURNING_BY_NAME_OR_EXTERNAL_ID, external_id
    return statement.first(DriverConnection.of(connection), params)


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
            raise Invalid(f"--status is one of: {', '.join(STATUSES)}.")
        if status == "removed":
            query = query.where(User.deleted_at.is_not(None))
        else:
            query = query.where(User.deleted_at.is_(None), User.active == (status == "active"))
    return list(db.session.scalars(query.order_by(User.user_name_norm, User.deleted_at, User.id)))


def find_account(tenant_id: int, name: str) -> User:
    """Return the account called ``name`` (userName in any case, or SCIM id).

    The live account if there is one, else the most recently removed. Raises NotFound.
    """
    from .users import fold  # users imports this module; fold is its normalisation

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
