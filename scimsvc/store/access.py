"""What a user may do, as the product asks it: users with their teams, roles and permissions,
the access API's lookups and pages, and the one-statement AuthZEN decision.

Reads run on the request's read connection, or on the connection of a write
transaction when an event captures a user as it stands after a change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.engine import Connection

from ..database.prepared import PreparedQuery
from ..database.transactions import driver_connection, read_connection
from ..models import Role, RolePermission, Team, User, UserValue, team_members, team_roles
from ..permissions import TENANT
from ..scim.schema import fold

_users = User.__table__.c
_teams = Team.__table__.c
_roles = Role.__table__.c
_grants = RolePermission.__table__.c
_values = UserValue.__table__.c
# What the access API shows of a user (never the password hash).
COLUMNS = (_users.id, _users.tenant_id, _users.scim_id, _users.user_name, _users.external_id,
           _users.display_name, _users.data, _users.active, _users.deleted_at,
           _users.updated_at, _users.version)
# Paging reads ids in chunks of this many for the IN lists of the access query.
_CHUNK = 500


@dataclass
class Standing:
    """The names of a user's teams and roles, and the actions the roles grant."""

    teams: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)


def _connection(connection: Connection | None) -> Connection:
    return connection if connection is not None else read_connection()


def standings(user_ids: Iterable[int], connection: Connection | None = None) -> dict[int, Standing]:
    """Each user's Standing (one query per 500 users); users in no team get an empty one."""
    ids = list(dict.fromkeys(user_ids))
    found = {user_id: Standing() for user_id in ids}
    connection = _connection(connection)
    for start in range(0, len(ids), _CHUNK):
        rows = connection.execute(
            select(team_members.c.user_id, _teams.name, _roles.name, _grants.action)
            .join(Team.__table__, _teams.id == team_members.c.team_id)
            .outerjoin(team_roles, team_roles.c.team_id == _teams.id)
            .outerjoin(Role.__table__, _roles.id == team_roles.c.role_id)
            .outerjoin(RolePermission.__table__,
                       and_(_grants.role_id == _roles.id, _grants.scope == TENANT))
            .where(team_members.c.user_id.in_(ids[start:start + _CHUNK])))
        for user_id, team, role, action in rows:
            standing = found[user_id]
            standing.teams.add(team)
            if role is not None:
                standing.roles.add(role)
            if action is not None:
                standing.actions.add(action)
    return found


def users_by_ids(user_ids: Iterable[int], connection: Connection | None = None) -> list[Any]:
    """The users' rows (COLUMNS), in id order."""
    ids = list(dict.fromkeys(user_ids))
    connection = _connection(connection)
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        rows.extend(connection.execute(
            select(*COLUMNS).where(_users.id.in_(ids[start:start + _CHUNK]))))
    return sorted(rows, key=lambda row: row.id)


def user_by_scim_id(tenant_id: int, scim_id: str) -> Any | None:
    """The tenant's user (live or removed) whose SCIM id is ``scim_id``, or None."""
    return read_connection().execute(
        select(*COLUMNS).where(_users.tenant_id == tenant_id, _users.scim_id == scim_id)).first()


def list_users(tenant_id: int, *, user_name: str | None = None, email: str | None = None,
               external_id: str | None = None, status: str | None = None,
               team: str | None = None, permission: str | None = None,
               after_id: int = 0, limit: int = 100) -> list[Any]:
    """The tenant's users matching every condition given, in id order after ``after_id``.

    userName and email compare ignoring case (RFC 7643 §4.1: caseExact false),
    externalId exactly (caseExact true). ``permission`` keeps active users whose
    teams' roles grant the action. Removed users are included unless a status excludes them.
    """
    query = select(*COLUMNS).where(_users.tenant_id == tenant_id, _users.id > after_id)
    if user_name is not None:
        query = query.where(_users.user_name_norm == fold(user_name))
    if external_id is not None:
        query = query.where(_users.external_id == external_id)
    if email is not None:
        query = query.where(_users.id.in_(
            select(_values.user_id).where(_values.attr == "emails",
                                          _values.value_norm == fold(email))))
    if status == "removed":
        query = query.where(_users.deleted_at.is_not(None))
    elif status in ("active", "disabled"):
        query = query.where(_users.deleted_at.is_(None), _users.active == (status == "active"))
    if team is not None:
        query = query.where(_users.id.in_(
            select(team_members.c.user_id).join(Team.__table__, _teams.id == team_members.c.team_id)
            .where(_teams.tenant_id == tenant_id, _teams.name == team)))
    if permission is not None:
        query = query.where(_users.deleted_at.is_(None), _users.active.is_(True),
                            _granted(_users.id, permission))
    return list(read_connection().execute(query.order_by(_users.id).limit(limit)))


def _granted(user_id: Any, action: Any) -> Any:
    """The SQL condition "a team of the user holds a role granting ``action``"."""
    return exists().where(
        team_members.c.user_id == user_id,
        team_roles.c.team_id == team_members.c.team_id,
        _grants.role_id == team_roles.c.role_id,
        _grants.action == action, _grants.scope == TENANT,
    )


def member_ids(connection: Connection, team_ids: Iterable[int]) -> list[int]:
    """The ids of the live (not removed) users who are members of any of the teams."""
    ids = list(team_ids)
    if not ids:
        return []
    return list(connection.execute(
        select(team_members.c.user_id).distinct()
        .join(User.__table__, _users.id == team_members.c.user_id)
        .where(team_members.c.team_id.in_(ids), _users.deleted_at.is_(None))
        .order_by(team_members.c.user_id)).scalars())


def teams_holding(connection: Connection, role_id: int) -> list[int]:
    """The ids of the teams holding the role."""
    return list(connection.execute(
        select(team_roles.c.team_id).where(team_roles.c.role_id == role_id)).scalars())


# --- decisions: one statement, as cheap as the SCIM read of one user --------------------

_GRANTS = _granted(_users.id, bindparam("action")).label("granted")
_BY_NAME = PreparedQuery(select(_users.active, _GRANTS).where(
    _users.tenant_id == bindparam("tenant_id"), _users.user_name_norm == bindparam("name"),
    _users.deleted_at.is_(None)))
_BY_ID = PreparedQuery(select(_users.active, _users.deleted_at, _GRANTS).where(
    _users.tenant_id == bindparam("tenant_id"), _users.scim_id == bindparam("scim_id")))
_REMOVED_NAME = PreparedQuery(select(_users.id).where(
    _users.tenant_id == bindparam("tenant_id"), _users.user_name_norm == bindparam("name"),
    _users.deleted_at.is_not(None)).limit(1))


def standing_for_decision(tenant_id: int, subject_id: str, action: str) -> tuple[str, bool]:
    """(status, granted) of the user whose userName (any case) or SCIM id is ``subject_id``.

    status is "active", "disabled", "removed" or "unknown"; granted tells whether
    the user's teams hold a role granting ``action`` (whatever the status). A live
    userName wins over a SCIM id; a removed user is found by either.
    """
    driver = driver_connection()
    name = fold(subject_id)
    row = _BY_NAME.first(driver, {"tenant_id": tenant_id, "name": name, "action": action})
    if row is not None:
        return ("active" if row.active else "disabled"), bool(row.granted)
    row = _BY_ID.first(driver, {"tenant_id": tenant_id, "scim_id": subject_id, "action": action})
    if row is not None:
        if row.deleted_at is not None:
            return "removed", bool(row.granted)
        return ("active" if row.active else "disabled"), bool(row.granted)
    if _REMOVED_NAME.first(driver, {"tenant_id": tenant_id, "name": name}) is not None:
        return "removed", False
    return "unknown", False
