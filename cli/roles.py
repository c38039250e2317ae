"""``scimsvc permission`` and ``scimsvc role``: the permission catalogue and the roles drawing on it."""
from __future__ import annotations

import click

from scimsvc.permissions import CATALOGUE, SCOPES, TENANT
from scimsvc.services import roles

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, listing, table, when


@click.group(short_help="List the permissions roles can grant.")
def permission() -> None:
    """The permission catalogue roles draw from."""


@permission.command("list")
@json_option
def permission_list(as_json: bool) -> None:
    """List the permissions a role can grant."""
    items = list(CATALOGUE.values())
    if as_json:
        emit_json([{"action": p.action, "title": p.title, "scopes": list(p.scopes),
                    "description": p.description} for p in items])
    else:
        table(["action", "title", "scopes"], [(p.action, p.title, ",".join(p.scopes)) for p in items])


def _role_json(role) -> dict:
    return {"name": role.name, "created": when(role.created_at),
            "permissions": [{"action": p.action, "scope": p.scope,
                             "title": CATALOGUE[p.action].title if p.action in CATALOGUE else p.action}
                            for p in role.permissions]}


@click.group(short_help="Create, list, show and delete roles.")
def role() -> None:
    """Roles: named sets of permissions, granted to teams."""


@role.command("create")
@click.argument("name")
@click.option("--permission", "actions", multiple=True, metavar="ACTION",
              help="A permission to grant (repeatable), e.g. scim:provision.")
@click.option("--scope", type=click.Choice(SCOPES), default=TENANT, show_default=True,
              help="Scope of the permissions.")
@pass_state
@writes
def role_create(state: State, name: str, actions: tuple[str, ...], scope: str) -> None:
    """Create a role granting permissions."""
    if not actions:
        raise click.ClickException("A role needs at least one --permission "
                                   "(see 'scimsvc permission list').")
    for action in actions:
        if action not in CATALOGUE:
            raise click.ClickException(f"Unknown permission '{action}' "
                                       "(see 'scimsvc permission list').")
    created = roles.create_role(state.tenant_id, name, [(a, scope) for a in actions])
    granted = ", ".join(f"{p.action} ({p.scope})" for p in created.permissions)
    click.echo(f"Role '{created.name}' created: {granted}.")


@role.command("list")
@json_option
@pass_state
def role_list(state: State, as_json: bool) -> None:
    """List roles."""
    listing(as_json, roles.list_roles(state.tenant_id), _role_json, ["name", "permissions"],
            lambda r: (r.name, ", ".join(f"{p.action}@{p.scope}" for p in r.permissions)))


@role.command("show")
@click.argument("name")
@json_option
@pass_state
def role_show(state: State, name: str, as_json: bool) -> None:
    """Show a role, its permissions and the teams holding it."""
    found = roles.get_role(state.tenant_id, name)
    held_by = [t.name for t in roles.teams_with_role(found)]
    if as_json:
        emit_json({**_role_json(found), "teams": held_by})
        return
    fields([("Role", found.name), ("Created", when(found.created_at)),
            ("Teams", ", ".join(held_by))])
    table(["action", "scope", "title"],
          [(p.action, p.scope, CATALOGUE.get(p.action).title if p.action in CATALOGUE else "")
           for p in found.permissions])


@role.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Teams holding this role lose its permissions at once. Delete it?")
@pass_state
@writes
def role_delete(state: State, name: str) -> None:
    """Delete a role."""
    roles.delete_role(state.tenant_id, name)
    click.echo(f"Role '{name}' deleted.")
