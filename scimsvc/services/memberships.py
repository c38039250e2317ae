"""Team membership: the one place that changes who is in which team, and why.

A user is in a team while at least one reason holds: ``assignment`` (the
team-assignment setting made it when SCIM created the user), ``admin``
(``scimsvc team add-member``) or ``group:<group id>`` (a member of an IdP group
linked to the team, ``scimsvc team link-group``). Removing one reason keeps the
others. Every change goes through ``change``, inside the caller's write
transaction; it returns the users whose set of teams changed, the ones whose
access may have changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..database.transactions import write_transaction
from ..errors import InvalidValue, NotFound
from ..extensions import db
from ..models import Team, User
from ..store import groups as group_store
from ..store import memberships as store
from . import audit, events, lifecycle
from .teams import get_team

ASSIGNMENT = "assignment"
ADMIN = "admin"
GROUP_PREFIX = "group:"

Row = tuple[int, int, str]  # (team_id, user_id, reason)


def group_reason(group_scim_id: str) -> str:
    """The reason held by the members of a linked group."""
    return GROUP_PREFIX + group_scim_id


def change(connection: Any, tenant_id: int, adds: Iterable[Row] = (),
           removes: Iterable[Row] = (), *, notify: bool = True,
           protect: bool = False) -> list[int]:
    """Add and remove membership reasons; return the ids of the users whose set of teams changed.

    ``adds`` and ``removes`` are (team_id, user_id, reason) triples; adding a
    reason already held or removing one not held changes nothing, and a triple
    in both is removed. Every team and user must be the tenant's (NotFound
    otherwise: nothing is written). Runs in ``connection``'s write transaction.
    Each user whose access changed gets a ``user.access_changed`` event, unless
    ``notify`` is false (a user being created: its ``user.created`` event
    already shows its teams). With ``protect`` (a SCIM request: a group's members
    changed), taking the last team of a protected user is refused (Forbidden, 403)
    and nothing is written.
    """
    removes = set(removes)
    adds = set(adds) - removes
    rows = adds | removes
    if not rows:
        return []
    teams = {t for t, _, _ in rows}
    users = {u for _, u, _ in rows}
    if store.tenant_teams(connection, tenant_id, teams) != teams:
        raise NotFound("No such team in this organization.")
    if store.tenant_users(connection, tenant_id, users) != users:
        raise NotFound("No such user in this organization.")
    before = store.reasons(connection, teams, users)
    to_add = adds - before
    to_remove = removes & before
    if not to_add and not to_remove:
        return []
    touched = {u for _, u, _ in to_add | to_remove}
    standing = events.standing_before(connection, touched) if notify else None
    store.delete_reasons(connection, sorted(to_remove))
    store.insert_reasons(connection, sorted(to_add))
    after = (before - to_remove) | to_add
    pairs_before = {(t, u) for t, u, _ in before}
    pairs_after = {(t, u) for t, u, _ in after}
    changed = sorted({u for _, u in pairs_before ^ pairs_after})
    if protect:
        for user_name in store.protected_without_team(
                connection, {u for _, u in pairs_before - pairs_after}):
            lifecycle.check_protected(_Named(user_name, True), "remove-last-team")
    if notify and changed:
        events.access_changed(connection, tenant_id, changed, before=standing)
    return changed


@dataclass(frozen=True)
class _Named:
    user_name: str
    protected: bool


# --- for admins (scimsvc team add-member / remove-member / show, user show) -------------

@dataclass(frozen=True)
class Outcome:
    """What an admin's add or remove did to one user."""

    user: User
    changed: bool  # the admin reason was added / removed
    member: bool  # a member of the team afterwards (through any reason)


def _accounts(tenant_id: int, names: Iterable[str]) -> list[User]:
    found: dict[int, User] = {}
    for name in names:
        user = lifecycle.find_account(tenant_id, name)
        found.setdefault(user.id, user)
    return list(found.values())


def add_members(tenant_id: int, team_name: str, names: Iterable[str]) -> list[Outcome]:
    """Make users (userName in any case, or SCIM id) members of a team for the reason ``admin``.

    A removed user cannot be added (InvalidValue). Each user's change is journaled
    (``member_add``); nothing is written if any name is unknown.
    """
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        users = _accounts(tenant_id, names)
        for user in users:
            if user.deleted_at is not None:
                raise InvalidValue(f"User '{user.user_name}' is removed: only live users can "
                                   "join a team.")
        before = store.reasons(connection, [team.id], [u.id for u in users])
        change(connection, tenant_id, adds=[(team.id, u.id, ADMIN) for u in users])
        outcomes = []
        for user in users:
            changed = (team.id, user.id, ADMIN) not in before
            outcomes.append(Outcome(user, changed, True))
            audit.record(connection, user, "member_add", 200,
                         {"team": team.name, "reason": ADMIN} if changed else {})
    return outcomes


def remove_members(tenant_id: int, team_name: str, names: Iterable[str]) -> list[Outcome]:
    """Take the ``admin`` reason from users' membership of a team; their other reasons stay.

    Journaled per user (``member_remove``).
    """
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        users = _accounts(tenant_id, names)
        before = store.reasons(connection, [team.id], [u.id for u in users])
        change(connection, tenant_id, removes=[(team.id, u.id, ADMIN) for u in users])
        outcomes = []
        for user in users:
            changed = (team.id, user.id, ADMIN) in before
            still = any(t == team.id and u == user.id and r != ADMIN for t, u, r in before)
            outcomes.append(Outcome(user, changed, still))
            audit.record(connection, user, "member_remove", 200,
                         {"team": team.name, "reason": ADMIN} if changed else {})
    return outcomes


def _reason_names(connection: Any, reasons: Iterable[str]) -> dict[str, str]:
    """How reasons are shown: ``group:<id>`` as ``group:<displayName>``."""
    ids = {r[len(GROUP_PREFIX):] for r in reasons if r.startswith(GROUP_PREFIX)}
    names = group_store.display_names(connection, ids)
    return {r: (GROUP_PREFIX + names.get(r[len(GROUP_PREFIX):], r[len(GROUP_PREFIX):])
                if r.startswith(GROUP_PREFIX) else r) for r in reasons}


def _ordered(reasons: Iterable[str]) -> list[str]:
    rank = {ASSIGNMENT: 0, ADMIN: 1}
    return sorted(reasons, key=lambda r: (rank.get(r, 2), r))


@dataclass(frozen=True)
class Member:
    user: User
    reasons: list[str]  # as shown: assignment, admin, group:<displayName>


def team_members(tenant_id: int, team_name: str) -> tuple[Team, list[Member]]:
    """A team and its members by userName, each with how it got there."""
    team = get_team(tenant_id, team_name)
    connection = db.session.connection()
    rows = store.team_member_reasons(connection, team.id)
    shown = _reason_names(connection, {r for _, r in rows})
    by_user: dict[int, list[str]] = {}
    for user_id, reason in rows:
        by_user.setdefault(user_id, []).append(shown[reason])
    return team, [Member(u, _ordered(by_user.get(u.id, []))) for u in team.members]


def member_counts(tenant_id: int) -> dict[int, dict[str, int]]:
    """{team id: {"active", "disabled", "removed": members}} for every team of the organization."""
    return store.member_counts(db.session.connection(), tenant_id)


def user_teams(user: User) -> list[tuple[Team, list[str]]]:
    """The user's teams by name, each with the reasons the user is in it."""
    connection = db.session.connection()
    rows = store.user_team_reasons(connection, user.id)
    shown = _reason_names(connection, {r for _, r in rows})
    by_team: dict[int, list[str]] = {}
    for team_id, reason in rows:
        by_team.setdefault(team_id, []).append(shown[reason])
    return [(t, _ordered(by_team.get(t.id, []))) for t in user.teams]
