"""Admin command groups: organizations, permissions, roles, teams, API keys, provisioning."""
from __future__ import annotations

import click

from scimsvc.permissions import CATALOGUE, SCIM_PROVISION, SCOPES, TENANT
from scimsvc.services import keys, organizations, provisioning, roles, teams

from .main import State, cli, pass_state, writes
from .output import emit_json, fields, json_option, note, table, when


# --- organizations ------------------------------------------------------------

@cli.group(short_help="Create and list organizations (tenants).")
def org() -> None:
    """Organizations (tenants). One is the usual self-hosted case."""


@org.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@writes
def org_create(slug: str, name: str | None) -> None:
    """Create an organization."""
    created = organizations.create_organization(slug, name)
    click.echo(f"Organization '{created.slug}' created.")


@org.command("list")
@json_option
def org_list(as_json: bool) -> None:
    """List organizations."""
    orgs = organizations.list_organizations()
    if as_json:
        emit_json([{"slug": o.slug, "name": o.name, "created": when(o.created_at)} for o in orgs])
    else:
        table(["slug", "name", "created"], [(o.slug, o.name, when(o.created_at)) for o in orgs])


# --- permissions ----------------------------------------------------------------

@cli.group(short_help="List the permissions roles can grant.")
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


# --- roles ------------------------------------------------------------------------

def _role_json(role) -> dict:
    return {"name": role.name, "created": when(role.created_at),
            "permissions": [{"action": p.action, "scope": p.scope,
                             "title": CATALOGUE[p.action].title if p.action in CATALOGUE else p.action}
                            for p in role.permissions]}


@cli.group(short_help="Create, list, show and delete roles.")
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
    created = roles.create_role(state.tenant_id, name, [(a, scope) for a in actions])
    granted = ", ".join(f"{p.action} ({p.scope})" for p in created.permissions)
    click.echo(f"Role '{created.name}' created: {granted}.")


@role.command("list")
@json_option
@pass_state
def role_list(state: State, as_json: bool) -> None:
    """List roles."""
    items = roles.list_roles(state.tenant_id)
    if as_json:
        emit_json([_role_json(r) for r in items])
    else:
        table(["name", "permissions"],
              [(r.name, ", ".join(f"{p.action}@{p.scope}" for p in r.permissions)) for r in items])


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


# --- teams --------------------------------------------------------------------------

def _team_json(team, members: bool = False) -> dict:
    out = {"name": team.name, "created": when(team.created_at), "roles": [r.name for r in team.roles]}
    if members:
        out["members"] = [{"userName": u.user_name, "id": u.scim_id, "status": u.status}
                          for u in team.members]
    return out


@cli.group(short_help="Teams: their roles, members and keys.")
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
    items = teams.list_teams(state.tenant_id)
    if as_json:
        emit_json([_team_json(t) for t in items])
    else:
        table(["name", "roles", "members"],
              [(t.name, ", ".join(r.name for r in t.roles), len(t.members)) for t in items])


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


# --- API keys -------------------------------------------------------------------------

def _key_json(key) -> dict:
    return {"name": key.name, "team": key.team.name, "prefix": f"scimsvc_{key.prefix}",
            "state": keys.key_state(key), "created": when(key.created_at),
            "lastUsed": when(key.last_used_at), "expires": when(key.expires_at),
            "revoked": when(key.revoked_at)}


@cli.group("api-key", short_help="Create, list and revoke API keys.")
def api_key() -> None:
    """API keys: bearer credentials for the SCIM API, acting with their team's roles."""


@api_key.command("create")
@click.option("--team", "team_name", required=True, help="Team whose permissions the key uses.")
@click.option("--name", required=True, help="A name to recognise the key by (e.g. okta).")
@click.option("--expires-in", type=int, metavar="DAYS", help="Expire the key after DAYS days (default: never).")
@json_option
@pass_state
@writes
def api_key_create(state: State, team_name: str, name: str, expires_in: int | None, as_json: bool) -> None:
    """Create an API key and print it (it is shown only this once)."""
    key, secret = keys.issue_key(state.tenant_id, team_name, name, expires_in)
    if not keys.team_grants(key.team, SCIM_PROVISION, TENANT):
        note(f"Warning: team '{key.team.name}' has no role granting {SCIM_PROVISION}; "
             "the SCIM API answers this key with 403 until it gets one.")
    if as_json:
        emit_json({**_key_json(key), "key": secret})
        return
    click.echo(secret)
    note(f"API key '{key.name}' for team '{key.team.name}' created"
         f"{' (expires ' + when(key.expires_at) + ')' if key.expires_at else ''}. "
         "Copy it now: it is not stored and cannot be shown again.")


@api_key.command("list")
@json_option
@pass_state
def api_key_list(state: State, as_json: bool) -> None:
    """List API keys (never their secrets)."""
    items = keys.list_keys(state.tenant_id)
    if as_json:
        emit_json([_key_json(k) for k in items])
    else:
        table(["name", "team", "prefix", "state", "last used", "expires"],
              [(k.name, k.team.name, f"scimsvc_{k.prefix}", keys.key_state(k), when(k.last_used_at),
                when(k.expires_at)) for k in items])


@api_key.command("revoke")
@click.argument("name")
@click.confirmation_option(prompt="Requests with this key are refused from now on; this cannot be undone. "
                                  "Revoke it?")
@pass_state
@writes
def api_key_revoke(state: State, name: str) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    keys.revoke_key(state.tenant_id, name)
    click.echo(f"API key '{name}' revoked.")


# --- provisioning settings ---------------------------------------------------------

def _settings_json(settings) -> dict:
    return {"assignTeam": settings.assign_team.name if settings.assign_team else None,
            "onRecreate": settings.on_recreate, "journalReads": settings.journal_reads}


@cli.group("provisioning", short_help="Team assignment and re-creation policy.")
def provisioning_group() -> None:
    """Provisioning settings: team assignment and re-creation policy."""


@provisioning_group.command("assign-team")
@click.argument("team_name", metavar="[TEAM]", required=False)
@click.option("--off", is_flag=True, help="Stop adding SCIM-created users to a team.")
@pass_state
@writes
def provisioning_assign_team(state: State, team_name: str | None, off: bool) -> None:
    """Add every SCIM-created user to TEAM (or turn it --off)."""
    if off == bool(team_name):
        raise click.UsageError("Give a TEAM, or --off.")
    provisioning.assign_team(state.tenant_id, None if off else team_name)
    click.echo("Team assignment is off." if off else
               f"Users created over SCIM will join team '{team_name}'.")


@provisioning_group.command("set")
@click.option("--on-recreate", type=click.Choice(provisioning.ON_RECREATE),
              help="When a removed user is created again: restore the account, or make a new one.")
@click.option("--journal-reads/--no-journal-reads", default=None,
              help="Also write successful reads to the audit journal.")
@pass_state
@writes
def provisioning_set(state: State, on_recreate: str | None, journal_reads: bool | None) -> None:
    """Change provisioning settings."""
    if on_recreate is None and journal_reads is None:
        raise click.UsageError("Nothing to set: give --on-recreate or --journal-reads.")
    settings = provisioning.update_settings(state.tenant_id, on_recreate=on_recreate,
                                            journal_reads=journal_reads)
    click.echo(f"onRecreate={settings.on_recreate} journalReads={str(settings.journal_reads).lower()}")


@provisioning_group.command("show")
@json_option
@pass_state
def provisioning_show(state: State, as_json: bool) -> None:
    """Show the provisioning settings."""
    settings = provisioning.get_settings(state.tenant_id)
    data = _settings_json(settings)
    if as_json:
        emit_json(data)
    else:
        fields([("Team assignment", data["assignTeam"] or "off"),
                ("On re-create", data["onRecreate"]),
                ("Journal reads", "on" if data["journalReads"] else "off")])
