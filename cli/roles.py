"""``scimsvc permission`` and ``scimsvc role``: the permission catalogue and the roles drawing on it."""
from __future__ import annotations

import click

from scimsvc.permissions import SCOPES, TENANT
from scimsvc.services import catalogue, roles

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, listing, table, when


@click.group(short_help="Define and list the permissions roles can grant.")
def permission() -> None:
    """The permission catalogue roles draw from: built-in actions and your product's own."""


def _permission_json(p) -> dict:
    return {"action": p.action, "title": p.title, "scopes": list(p.scopes),
            "description": p.description, "builtin": p.builtin}


@permission.command("list")
@json_option
@pass_state
def permission_list(state: State, as_json: bool) -> None:
    """List the permissions a role can grant (built-in, then product-defined)."""
    items = catalogue.list_permissions(state.tenant_id)
    if as_json:
        emit_json([_permission_json(p) for p in items])
    else:
        table(["action", "title", "scopes", "kind"],
              [(p.action, p.title, ",".join(p.scopes), "built-in" if p.builtin else "product")
               for p in items])


@permission.command("add")
@click.argument("action")
@click.option("--title", required=True, help="What the action lets a user do, for people.")
@click.option("--description", help="A longer description.")
@pass_state
@writes
def permission_add(state: State, action: str, title: str, description: str | None) -> None:
    """Define an action of your product (e.g. chat:use) that roles can grant."""
    added = catalogue.add_permission(state.tenant_id, action, title, description)
    click.echo(f"Permission '{added.action}' added: {added.title}.")


@permission.command("remove")
@click.argument("action")
@pass_state
@writes
def permission_remove(state: State, action: str) -> None:
    """Remove a product action (refused while a role grants it)."""
    catalogue.remove_permission(state.tenant_id, action)
    click.echo(f"Permission '{action}' removed.")


def _titles(tenant_id: int) -> dict[str, str]:
    return {p.action: p.title for p in catalogue.list_permissions(tenant_id)}


def _role_json(role, titles: dict[str, str]) -> dict:
    return {"name": role.name, "created": when(role.created_at),
            "permissions": [{"action": p.action, "scope": p.scope,
                             "title": titles.get(p.action, p.action)}
                            for p in role.permissions]}


@click.group(short_help="Create, list, show and delete roles; change their permissions.")
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
    created = roles.create_role(state.tenant_id, name, [(a, scope) for a in actions])
    granted = ", ".join(f"{p.action} ({p.scope})" for p in created.permissions)
    click.echo(f"Role '{created.name}' created: {granted}.")


@role.command("list")
@json_option
@pass_state
def role_list(state: State, as_json: bool) -> None:
    """List roles."""
    titles = _titles(state.tenant_id)
    listing(as_json, roles.list_roles(state.tenant_id), lambda r: _role_json(r, titles),
            ["name", "permissions"],
            lambda r: (r.name, ", ".join(f"{p.action}@{p.scope}" for p in r.permissions)))


@role.command("show")
@click.argument("name")
@json_option
@pass_state
def role_show(state: State, name: str, as_json: bool) -> None:
    """Show a role, its permissions and the teams holding it."""
    found = roles.get_role(state.tenant_id, name)
    held_by = [t.name for t in roles.teams_with_role(found)]
    titles = _titles(state.tenant_id)
    if as_json:
        emit_json({**_role_json(found, titles), "teams": held_by})
        return
    fields([("Role", found.name), ("Created", when(found.created_at)),
            ("Teams", ", ".join(held_by))])
    table(["action", "scope", "title"],
          [(p.action, p.scope, titles.get(p.action, "")) for p in found.permissions])


@role.command("add-permission")
@click.argument("name")
@click.argument("action")
@click.option("--scope", type=click.Choice(SCOPES), default=TENANT, show_default=True,
              help="Scope of the permission.")
@pass_state
@writes
def role_add_permission(state: State, name: str, action: str, scope: str) -> None:
    """Grant one more permission with a role (members of its teams gain it at once)."""
    roles.add_permission(state.tenant_id, name, action, scope)
    click.echo(f"Role '{name}' now grants '{action}' ({scope}).")


@role.command("remove-permission")
@click.argument("name")
@click.argument("action")
@click.option("--scope", type=click.Choice(SCOPES), default=TENANT, show_default=True,
              help="Scope of the permission.")
@pass_state
@writes
def role_remove_permission(state: State, name: str, action: str, scope: str) -> None:
    """Stop a role granting a permission (its teams' keys and members lose it at once)."""
    roles.remove_permission(state.tenant_id, name, action, scope)
    click.echo(f"Role '{name}' no longer grants '{action}'.")


@role.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Teams holding this role lose its permissions at once. Delete it?")
@pass_state
@writes
def role_delete(state: State, name: str) -> None:
    """Delete a role."""
    roles.delete_role(state.tenant_id, name)
    click.echo(f"Role '{name}' deleted.")
