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

from typing import Any, Iterable

from ..errors import NotFound
from ..store import memberships as store

ASSIGNMENT = "assignment"
ADMIN = "admin"
GROUP_PREFIX = "group:"

Row = tuple[int, int, str]  # (team_id, user_id, reason)


def group_reason(group_scim_id: str) -> str:
    """The reason held by the members of a linked group."""
    return GROUP_PREFIX + group_scim_id


def change(connection: Any, tenant_id: int, adds: Iterable[Row] = (),
           removes: Iterable[Row] = ()) -> list[int]:
    """Add and remove membership reasons; return the ids of the users whose set of teams changed.

    ``adds`` and ``removes`` are (team_id, user_id, reason) triples; adding a
    reason already held or removing one not held changes nothing, and a triple
    in both is removed. Every team and user must be the tenant's (NotFound
    otherwise: nothing is written). Runs in ``connection``'s write transaction.
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
    store.delete_reasons(connection, sorted(to_remove))
    store.insert_reasons(connection, sorted(to_add))
    after = (before - to_remove) | to_add
    pairs_before = {(t, u) for t, u, _ in before}
    pairs_after = {(t, u) for t, u, _ in after}
    return sorted({u for _, u in pairs_before ^ pairs_after})
