"""``scimsvc api-key``: issue, rotate, list and revoke the bearer keys of the SCIM API."""
from __future__ import annotations

from datetime import timedelta

import click

from scimsvc.permissions import DIRECTORY_READ, EVENTS_READ, SCIM_PROVISION, TENANT
from scimsvc.services import keys

from .context import State, pass_state, writes
from .output import emit_json, json_option, listing, note, when


# The built-in permissions that open one of scimsvc's APIs, and what each opens.
_APIS = {
    SCIM_PROVISION: ("the SCIM API (/scim/v2)",),
    DIRECTORY_READ: ("the access API (/api/v1/users)", "AuthZEN (/access/v1)"),
    EVENTS_READ: ("the change feed (/api/v1/events)",),
}


def _apis(team) -> list[str]:
    """The APIs ``team``'s keys can call, by the built-ins its roles grant."""
    return [api for action, apis in _APIS.items() if keys.team_grants(team, action, TENANT)
            for api in apis]


def _and(items: list[str] | tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _key_json(key) -> dict:
    return {"name": key.name, "team": key.team.name, "prefix": f"scimsvc_{key.prefix}",
            "state": keys.key_state(key), "created": when(key.created_at),
            "lastUsed": when(key.last_used_at), "expires": when(key.expires_at),
            "revoked": when(key.revoked_at)}


@click.group("api-key", short_help="Create, rotate, list and revoke API keys.")
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
    if expires_in is not None and not 0 < expires_in <= keys.MAX_EXPIRES_IN_DAYS:
        raise click.ClickException(
            f"--expires-in is a number of days from 1 to {keys.MAX_EXPIRES_IN_DAYS}.")
    key, secret = keys.issue_key(state.tenant_id, team_name, name, expires_in)
    apis = _apis(key.team)
    if not apis:
        note(f"Warning: team '{key.team.name}' has no role granting {SCIM_PROVISION}, "
             f"{DIRECTORY_READ} or {EVENTS_READ}, so every API answers this key with 403 "
             "until it gets one: " + "; ".join(f"{action} opens {_and(apis)}"
                                               for action, apis in _APIS.items()) + ".")
    if as_json:
        emit_json({**_key_json(key), "key": secret})
        return
    click.echo(secret)
    note(f"API key '{key.name}' for team '{key.team.name}' created"
         f"{' (expires ' + when(key.expires_at) + ')' if key.expires_at else ''}"
         f"{'; it can call ' + _and(apis) if apis else ''}. "
         "Copy it now: it is not stored and cannot be shown again.")


@api_key.command("rotate")
@click.argument("name")
@click.option("--grace", type=click.IntRange(0, 8760), default=24, show_default=True, metavar="HOURS",
              help="Hours the old key keeps working (0 revokes it at once).")
@click.option("--expires-in", type=int, metavar="DAYS",
              help="Expire the new key after DAYS days (default: the old key's lifetime).")
@json_option
@pass_state
@writes
def api_key_rotate(state: State, name: str, grace: int, expires_in: int | None, as_json: bool) -> None:
    """Issue a replacement key under the same name and print it; the old one works for --grace hours.

    The old key is renamed NAME@PREFIX (see 'api-key list'); revoke it by that name to end
    its grace early.
    """
    if expires_in is not None and not 0 < expires_in <= keys.MAX_EXPIRES_IN_DAYS:
        raise click.ClickException(
            f"--expires-in is a number of days from 1 to {keys.MAX_EXPIRES_IN_DAYS}.")
    done = keys.rotate_key(state.tenant_id, name, timedelta(hours=grace), expires_in)
    if as_json:
        emit_json({**_key_json(done.key), "key": done.secret, "replaced": _key_json(done.replaced)})
        return
    click.echo(done.secret)
    old = done.replaced
    until = (f"is accepted until {when(old.expires_at)}, then refused" if old.revoked_at is None
             else "is revoked")
    note(f"API key '{done.key.name}' rotated"
         f"{' (expires ' + when(done.key.expires_at) + ')' if done.key.expires_at else ''}. "
         f"The old key, now '{old.name}', {until}. "
         "Copy the new key now: it is not stored and cannot be shown again.")


@api_key.command("list")
@json_option
@pass_state
def api_key_list(state: State, as_json: bool) -> None:
    """List API keys (never their secrets)."""
    listing(as_json, keys.list_keys(state.tenant_id), _key_json,
            ["name", "team", "prefix", "state", "last used", "expires"],
            lambda k: (k.name, k.team.name, f"scimsvc_{k.prefix}", keys.key_state(k),
                       when(k.last_used_at), when(k.expires_at)))


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
