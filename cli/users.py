"""``scimsvc user``: the provisioned users, their status and access, and the admin's side of
their lifecycle (disable, enable, remove, restore, protect, purge)."""
from __future__ import annotations

import click

from scimsvc.services import accounts, lifecycle, memberships
from scimsvc.services import users as user_service

from .context import State, cli_actor, pass_state, writes
from .output import emit_json, fields, json_option, note, table, when


def _user_json(user, detail: bool = False) -> dict:
    out = {"userName": user.user_name, "id": user.scim_id, "status": user.status,
           "externalId": user.external_id, "displayName": user.display_name,
           "protected": bool(user.protected), "teams": [t.name for t in user.teams]}
    if detail:
        standing = lifecycle.access(user)
        # ``teams`` stays the list of names scripts already read; how each membership
        # came about (assignment, admin, group:<id>) is beside it.
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
    """Users provisioned over SCIM: status (active, disabled, removed, purged) and access, and
    the admin's writes: disable, enable, remove, restore, protect, purge (journaled, actor cli)."""


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
        ("External id", user.external_id), ("Protected", "yes" if user.protected else "no"),
        ("Teams", ", ".join(f"{t.name} ({', '.join(reasons)})"
                            for t, reasons in memberships.user_teams(user))),
        ("Roles", ", ".join(r.name for r in standing.roles)), ("Permissions", permissions),
        ("Created", when(user.created_at)), ("Updated", when(user.updated_at)),
        ("Removed", when(user.deleted_at)),
    ])


USER_ARGUMENT = click.argument("name", metavar="USER")


def _live(state: State, name: str):
    user = lifecycle.find_account(state.tenant_id, name)
    if user.deleted_at is not None:
        raise click.ClickException(
            f"User '{name}' is {user.status}: only 'scimsvc user restore' acts on it.")
    return user


def _set_active(state: State, name: str, active: bool) -> None:
    user = _live(state, name)
    word = "enabled" if active else "disabled"
    if bool(user.active) == active:
        note(f"User '{user.user_name}' is already {word}.")
    with cli_actor(state, "patch"):
        user_service.set_active(state.tenant_id, user.scim_id, active, admin=True)
    click.echo(f"User '{user.user_name}' {word}.")


@user_group.command("disable")
@USER_ARGUMENT
@pass_state
@writes
def user_disable(state: State, name: str) -> None:
    """Disable USER (userName in any case, or SCIM id), as the IdP's PATCH active=false would.

    The user stays visible over SCIM, keeps its teams and loses its access at once.
    Journaled like the SCIM request, with actor 'cli'. Protected users too.
    """
    _set_active(state, name, False)


@user_group.command("enable")
@USER_ARGUMENT
@pass_state
@writes
def user_enable(state: State, name: str) -> None:
    """Enable USER again (PATCH active=true): its teams' access comes back."""
    _set_active(state, name, True)


@user_group.command("remove")
@USER_ARGUMENT
@pass_state
@writes
def user_remove(state: State, name: str) -> None:
    """Remove USER, as the IdP's DELETE would: gone from SCIM (404), the account kept.

    Its userName is free for another user; 'scimsvc user restore' brings it back.
    Protected users too.
    """
    user = _live(state, name)
    with cli_actor(state, "remove"):
        user_service.delete_user(state.tenant_id, user.scim_id, admin=True)
    click.echo(f"User '{user.user_name}' removed.")


@user_group.command("restore")
@click.argument("removed", metavar="REMOVED_USER")
@click.option("--into", metavar="USER",
              help="A live user the removed account takes over (its SCIM id and document).")
@pass_state
@writes
def user_restore(state: State, removed: str, into: str | None) -> None:
    """Bring back the removed account REMOVED_USER (userName in any case, or SCIM id).

    Only an IdP create with the removed account's externalId restores it by itself. When
    a returning person got a new account instead (another externalId, or none), restore
    the old account --into the new one: the old account (its teams and everything
    attached) takes over the new one's SCIM id and document, its IdP group memberships
    and its teams; the new account becomes a purged tombstone (in no group, no team).
    Without --into, the account returns with its old document under a
    new SCIM id (refused while a live user holds its userName).
    """
    with cli_actor(state, "restore"):
        user = accounts.restore_account(state.tenant_id, removed, into)
    click.echo(f"User '{user.user_name}' restored (id {user.scim_id}).")


def _set_protected(state: State, name: str, protected: bool) -> None:
    with cli_actor(state, "protect" if protected else "unprotect"):
        user = accounts.set_protected(state.tenant_id, name, protected)
    click.echo(f"User '{user.user_name}' is {'protected' if protected else 'not protected'}.")


@user_group.command("protect")
@USER_ARGUMENT
@pass_state
@writes
def user_protect(state: State, name: str) -> None:
    """Protect USER (a break-glass admin): SCIM may not disable, remove or rename it, or take
    its last team (403, journaled). Admin commands still can."""
    _set_protected(state, name, True)


@user_group.command("unprotect")
@USER_ARGUMENT
@pass_state
@writes
def user_unprotect(state: State, name: str) -> None:
    """Let SCIM disable, remove and rename USER again."""
    _set_protected(state, name, False)


@user_group.command("purge")
@USER_ARGUMENT
@click.confirmation_option(
    prompt="Erase this user's personal attributes for good (an erasure request)? "
           "This cannot be undone")
@pass_state
@writes
def user_purge(state: State, name: str) -> None:
    """Erase USER's personal data (an erasure request): removes it first if it is live.

    Names, e-mails, phone numbers, addresses, photos, ims, x509 certificates, enterprise
    fields and every other attribute are erased; the journal keeps its events of the
    user with the values replaced by "erased". An anonymous tombstone (purged-<id>) stays,
    so teams, resources and journal rows still resolve. On SQLite the database file is
    then rewritten (VACUUM) so no erased byte remains; it holds the write lock meanwhile.
    """
    with cli_actor(state, "purge"):
        purged = accounts.purge_account(state.tenant_id, name)
    if purged.already:
        click.echo(f"User '{purged.user.user_name}' was already purged; space reclaimed again.")
    else:
        click.echo(f"Purged: the account is now '{purged.user.user_name}'; "
                   f"{purged.events_redacted} journal event(s) redacted.")
    if purged.reclaimed.get("vacuumed") and not purged.reclaimed.get("wal_truncated"):
        note("A reader kept the write-ahead log from being emptied. Once the server is idle or "
             f"stopped, run 'scimsvc user purge {purged.user.user_name}' again: an account "
             "already purged only has its space reclaimed.")
