"""``scimsvc team``: teams, the roles they hold and their members."""
from __future__ import annotations

import click

from scimsvc.services import teams

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, listing, table, when


def _team_json(team, members: bool = False) -> dict:
    out = {"name": team.name, "created": when(team.created_at), "roles": [r.name for r in team.roles]}
    if members:
        out["members"] = [{"userName": u.user_name, "id": u.scim_id, "status": u.status}
                          for u in team.members]
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
    """List teams."""
    listing(as_json, teams.list_teams(state.tenant_id), _team_json, ["name", "roles", "members"],
            lambda t: (t.name, ", ".join(r.name for r in t.roles), len(t.members)))


@team.command("show")
@click.argument("name")
@json_option
@pass_state
def team_show(state: State, name: str, as_json: bool) -> None:
    """Show a team: its roles and members."""
    found = teams.get_team(state.tenant_id, name)
    if as_json:
        emit_json(_team_json(found, members=True))
        return
    fields([("Team", found.name), ("Roles", ", ".join(r.name for r in found.roles)),
            ("Members", len(found.members))])
    if found.members:
        table(["userName", "id", "status"], [(u.user_name, u.scim_id, u.status) for u in found.members])


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
