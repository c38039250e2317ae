"""``scimsvc user``: the provisioned users, their status and the access they have."""
from __future__ import annotations

import click

from scimsvc.services import lifecycle, memberships

from .context import State, pass_state
from .output import emit_json, fields, json_option, table, when


def _user_json(user, detail: bool = False) -> dict:
    out = {"userName": user.user_name, "id": user.scim_id, "status": user.status,
           "externalId": user.external_id, "displayName": user.display_name,
           "teams": [t.name for t in user.teams]}
    if detail:
        standing = lifecycle.access(user)
        out["memberships"] = [{"team": t.name, "reasons": reasons}
                              for t, reasons in memberships.user_teams(user)]
        out.update({
            "roles": [r.name for r in standing.roles],
            "permissions": [{"action": a, "scope": s} for a, s in standing.permissions],
            "created": when(user.created_at), "updated": when(user.updated_at),
            "removed": when(user.deleted_at),
        })
    return out


@click.group("user")
def user_group() -> None:
    """Users provisioned over SCIM: status (active, disabled, removed) and access."""


@user_group.command("list")
@click.option("--status", type=click.Choice(lifecycle.STATUSES),
              help="Only users with this status.")
@json_option
@pass_state
def user_list(state: State, status: str | None, as_json: bool) -> None:
    """List users, removed ones included, by userName."""
    users = lifecycle.list_accounts(state.tenant_id, status)
    if as_json:
        emit_json([_user_json(u) for u in users])
    else:
        table(["userName", "id", "status", "teams"],
              [(u.user_name, u.scim_id, u.status, ", ".join(t.name for t in u.teams))
               for u in users])


@user_group.command("show")
@click.argument("user_name", metavar="USERNAME")
@json_option
@pass_state
def user_show(state: State, user_name: str, as_json: bool) -> None:
    """Show a user (by userName, any case, or SCIM id): status, teams (each with the reasons
    the user is in it: assignment, admin, group:<displayName>), roles, permissions.

    Permissions are those in effect: none unless the user is active.
    """
    user = lifecycle.find_account(state.tenant_id, user_name)
    if as_json:
        emit_json(_user_json(user, detail=True))
        return
    standing = lifecycle.access(user)
    if standing.permissions:
        permissions = ", ".join(f"{a}@{s}" for a, s in standing.permissions)
    elif standing.roles:
        permissions = f"none (user is {user.status})"
    else:
        permissions = "none"
    fields([
        ("User", user.user_name), ("Id", user.scim_id), ("Status", user.status),
        ("External id", user.external_id),
        ("Teams", ", ".join(f"{t.name} ({', '.join(reasons)})"
                            for t, reasons in memberships.user_teams(user))),
        ("Roles", ", ".join(r.name for r in standing.roles)), ("Permissions", permissions),
        ("Created", when(user.created_at)), ("Updated", when(user.updated_at)),
        ("Removed", when(user.deleted_at)),
    ])
