"""Team membership rows: one per (team, user, reason); services.memberships is their only writer."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import and_, bindparam, case, delete, func, insert, select
from sqlalchemy.engine import Connection

from ..database.prepared import DriverConnection, PreparedQuery, PreparedWrite
from ..models import Team, User, team_members

_m = team_members.c
# Parameters per IN list: far under SQLite's 32,766 and PostgreSQL's 65,535 bound values.
CHUNK = 500

_REASONS_OF_USER = PreparedQuery(select(_m.team_id, _m.user_id, _m.reason).where(
    _m.user_id == bindparam("user_id")))
_INSERT = PreparedWrite(insert(team_members))
_DELETE = PreparedWrite(delete(team_members).where(
    _m.team_id == bindparam("row_team_id"), _m.user_id == bindparam("row_user_id"),
    _m.reason == bindparam("row_reason")))


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def reasons(connection: Connection, team_ids: Iterable[int],
            user_ids: Iterable[int]) -> set[tuple[int, int, str]]:
    """The (team_id, user_id, reason) rows of these users in these teams."""
    teams, users = sorted(set(team_ids)), sorted(set(user_ids))
    if not teams or not users:
        return set()
    if len(users) == 1:  # a create's team assignment: one probe of ix_team_members_user
        rows = _REASONS_OF_USER.all(DriverConnection.of(connection), {"user_id": users[0]})
        return {(r.team_id, r.user_id, r.reason) for r in rows if r.team_id in teams}
    found: set[tuple[int, int, str]] = set()
    for team_chunk in chunks(teams):
        for user_chunk in chunks(users):
            found.update(connection.execute(
                select(_m.team_id, _m.user_id, _m.reason)
                .where(_m.team_id.in_(team_chunk), _m.user_id.in_(user_chunk))))
    return found


def insert_reasons(connection: Connection, rows: Iterable[tuple[int, int, str]]) -> None:
    params = [{"team_id": t, "user_id": u, "reason": r} for t, u, r in rows]
    if params:
        _INSERT.executemany(DriverConnection.of(connection), params)


def delete_reasons(connection: Connection, rows: Iterable[tuple[int, int, str]]) -> None:
    params = [{"row_team_id": t, "row_user_id": u, "row_reason": r} for t, u, r in rows]
    if params:
        _DELETE.executemany(DriverConnection.of(connection), params)


def tenant_teams(connection: Connection, tenant_id: int, team_ids: Iterable[int]) -> set[int]:
    """Those of ``team_ids`` that are the tenant's teams."""
    ids = sorted(set(team_ids))
    found: set[int] = set()
    for chunk in chunks(ids):
        found.update(connection.execute(select(Team.id).where(
            Team.tenant_id == tenant_id, Team.id.in_(chunk))).scalars())
    return found


def tenant_users(connection: Connection, tenant_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` that are accounts of the tenant (removed ones included)."""
    ids = sorted(set(user_ids))
    found: set[int] = set()
    for chunk in chunks(ids):
        # By primary key, the tenant checked here: with tenant_id in the WHERE, SQLite's
        # planner walked a (tenant_id, …) index over every user of the tenant.
        found.update(user_id for user_id, owner in connection.execute(
            select(User.id, User.tenant_id).where(User.id.in_(chunk))) if owner == tenant_id)
    return found


def team_reason_rows(connection: Connection, team_id: int, reason: str) -> list[tuple[int, int, str]]:
    """Every (team_id, user_id, reason) row of ``team_id`` held for ``reason``."""
    return [tuple(r) for r in connection.execute(
        select(_m.team_id, _m.user_id, _m.reason).where(_m.team_id == team_id,
                                                          _m.reason == reason))]


def reason_rows(connection: Connection, reason: str, team_ids: Iterable[int]) -> list[tuple[int, int, str]]:
    """Every row held for ``reason`` in any of ``team_ids``."""
    rows: list[tuple[int, int, str]] = []
    for chunk in chunks(sorted(set(team_ids))):
        rows.extend(tuple(r) for r in connection.execute(
            select(_m.team_id, _m.user_id, _m.reason).where(_m.team_id.in_(chunk),
                                                              _m.reason == reason)))
    return rows


def member_counts(connection: Connection, tenant_id: int) -> dict[int, dict[str, int]]:
    """{team_id: {"active": n, "disabled": n, "removed": n}} over the tenant's teams' members."""
    pairs = select(_m.team_id, _m.user_id).distinct().subquery()
    status = case((User.deleted_at.is_not(None), "removed"), (User.active, "active"),
                  else_="disabled")
    query = (select(pairs.c.team_id, status, func.count())
             .join(User, User.id == pairs.c.user_id)
             .join(Team, and_(Team.id == pairs.c.team_id, Team.tenant_id == tenant_id))
             .group_by(pairs.c.team_id, status))
    counts: dict[int, dict[str, int]] = {}
    for team_id, key, n in connection.execute(query):
        counts.setdefault(team_id, {"active": 0, "disabled": 0, "removed": 0})[key] += n
    return counts


def team_member_reasons(connection: Connection, team_id: int) -> list[tuple[int, str]]:
    """(user_id, reason) of every row of a team."""
    return [tuple(r) for r in connection.execute(
        select(_m.user_id, _m.reason).where(_m.team_id == team_id))]


def user_team_reasons(connection: Connection, user_id: int) -> list[tuple[int, str]]:
    """(team_id, reason) of every row of a user."""
    return [tuple(r) for r in connection.execute(
        select(_m.team_id, _m.reason).where(_m.user_id == user_id))]


def accounts_by_scim_id(connection: Connection, tenant_id: int,
                        scim_ids: Iterable[str]) -> dict[str, int]:
    """{SCIM id: users.id} of the tenant's accounts (removed ones included) among ``scim_ids``."""
    ids = sorted(set(s for s in scim_ids if "\x00" not in s))
    found: dict[str, int] = {}
    for chunk in chunks(ids):  # by the unique scim_id index; the tenant checked here
        found.update((scim_id, user_id) for scim_id, user_id, owner in connection.execute(
            select(User.scim_id, User.id, User.tenant_id).where(User.scim_id.in_(chunk)))
            if owner == tenant_id)
    return found


def protected_without_team(connection: Connection, user_ids: Iterable[int]) -> list[str]:
    """The userNames of those accounts that are protected and now in no team at all."""
    found: list[str] = []
    users = User.__table__.c
    for chunk in chunks(sorted(set(user_ids))):
        found += connection.execute(select(users.user_name).where(
            users.id.in_(chunk), users.protected.is_(True),
            ~select(team_members.c.user_id).where(
                team_members.c.user_id == users.id).exists())).scalars()
    return found
