"""``scimsvc team``: teams, the roles they hold, their members and the IdP groups linked to them."""
from __future__ import annotations

import click

from scimsvc.services import groups, memberships, teams

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, table, when

_NO_COUNTS = {"active": 0, "disabled": 0, "removed": 0}


def _team_json(team, counts: dict | None = None) -> dict:
    out = {"name": team.name, "created": when(team.created_at), "roles": [r.name for r in team.roles]}
    if counts is not None:
        out["members"] = dict(counts)
    return out


@click.group(short_help="Teams: their roles, members and keys.")
def team() -> None:
    """Teams: hold roles; their API keys and members inherit them."""


@team.command("create")
@click.argument("name")
@click.option("--role", "role_names", multiple=True, metavar="ROLE", help="A role to grant (repeatable).")
@pass_state
@writes
def team_create(state: State, name: str, role_names: tuple[str, ...]) -> None:
    """Create a team holding roles."""
    created = teams.create_team(state.tenant_id, name, list(role_names))
    suffix = f" with roles: {', '.join(r.name for r in created.roles)}" if created.roles else ""
    click.echo(f"Team '{created.name}' created{suffix}.")


@team.command("list")
@json_option
@pass_state
def team_list(state: State, as_json: bool) -> None:
    """List teams, counting active members (disabled and removed ones apart)."""
    found = teams.list_teams(state.tenant_id)
    counts = memberships.member_counts(state.tenant_id)
    if as_json:
        emit_json([_team_json(t, counts.get(t.id, _NO_COUNTS)) for t in found])
        return
    table(["name", "roles", "members", "disabled", "removed"],
          [(t.name, ", ".join(r.name for r in t.roles), counts.get(t.id, _NO_COUNTS)["active"],
            counts.get(t.id, _NO_COUNTS)["disabled"], counts.get(t.id, _NO_COUNTS)["removed"])
           for t in found])


@team.command("show")
@click.argument("name")
@json_option
@pass_state
def team_show(state: State, name: str, as_json: bool) -> None:
    """Show a team: its roles, linked groups and members, with how each got there.

    Reasons: assignment (the team-assignment setting), admin (team add-member),
    group:<displayName> (a member of a linked IdP group).
    """
    found, members = memberships.team_members(state.tenant_id, name)
    linked = [g.display_name for g in groups.linked_groups(state.tenant_id, found.name)]
    if as_json:
        out = _team_json(found)
        out["groups"] = linked
        out["members"] = [{"userName": m.user.user_name, "id": m.user.scim_id,
                           "status": m.user.status, "reasons": m.reasons} for m in members]
        emit_json(out)
        return
    fields([("Team", found.name), ("Roles", ", ".join(r.name for r in found.roles)),
            ("Groups", ", ".join(linked)), ("Members", len(members))])
    if members:
        table(["userName", "id", "status", "reasons"],
              [(m.user.user_name, m.user.scim_id, m.user.status, ", ".join(m.reasons))
               for m in members])


def _outcome_lines(outcomes, team_name: str, added: bool) -> None:
    for o in outcomes:
        name = o.user.user_name
        if added:
            click.echo(f"{name} added to team '{team_name}'." if o.changed
                       else f"{name} was already in team '{team_name}' (admin).")
        elif not o.changed:
            click.echo(f"{name} was not added to team '{team_name}' by an admin: nothing to remove.")
        elif o.member:
            click.echo(f"{name} removed from team '{team_name}' (admin); still a member "
                       "for another reason.")
        else:
            click.echo(f"{name} removed from team '{team_name}'.")


@team.command("add-member")
@click.argument("name")
@click.argument("users", metavar="USER...", nargs=-1, required=True)
@pass_state
@writes
def team_add_member(state: State, name: str, users: tuple[str, ...]) -> None:
    """Add users (userName in any case, or SCIM id) to a team, with the reason 'admin'."""
    _outcome_lines(memberships.add_members(state.tenant_id, name, users), name, True)


@team.command("remove-member")
@click.argument("name")
@click.argument("users", metavar="USER...", nargs=-1, required=True)
@pass_state
@writes
def team_remove_member(state: State, name: str, users: tuple[str, ...]) -> None:
    """Take the 'admin' reason from users' membership (other reasons keep them in the team)."""
    _outcome_lines(memberships.remove_members(state.tenant_id, name, users), name, False)


@team.command("link-group")
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@pass_state
@writes
def team_link_group(state: State, name: str, group_name: str) -> None:
    """Make an IdP group's members members of the team (reason group:<displayName>), as they change."""
    group, count = groups.link_group(state.tenant_id, name, group_name)
    click.echo(f"Team '{name}' linked to group '{group.display_name}': {count} "
               f"member{'s' if count != 1 else ''} now in the team through it.")


@team.command("unlink-group")
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@pass_state
@writes
def team_unlink_group(state: State, name: str, group_name: str) -> None:
    """Unlink a group: the memberships it gave go; other reasons stay."""
    group, count = groups.unlink_group(state.tenant_id, name, group_name)
    click.echo(f"Team '{name}' unlinked from group '{group.display_name}': {count} "
               f"membership{'s' if count != 1 else ''} through it removed.")


@team.command("add-role")
@click.argument("name")
@click.argument("role_name", metavar="ROLE")
@pass_state
@writes
def team_add_role(state: State, name: str, role_name: str) -> None:
    """Grant a role to a team."""
    teams.add_role(state.tenant_id, name, role_name)
    click.echo(f"Team '{name}' now has role '{role_name}'.")


@team.command("remove-role")
@click.argument("name")
@click.argument("role_name", metavar="ROLE")
@pass_state
@writes
def team_remove_role(state: State, name: str, role_name: str) -> None:
    """Take a role from a team (its keys lose the role's permissions at once)."""
    teams.remove_role(state.tenant_id, name, role_name)
    click.echo(f"Team '{name}' no longer has role '{role_name}'.")


@team.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="The team's API keys are deleted with it. Delete it?")
@pass_state
@writes
def team_delete(state: State, name: str) -> None:
    """Delete a team and its API keys (its members stay users)."""
    teams.delete_team(state.tenant_id, name)
    click.echo(f"Team '{name}' deleted.")
