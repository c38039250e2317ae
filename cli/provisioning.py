"""``scimsvc provisioning``: team assignment and what re-creating a removed user does."""
from __future__ import annotations

import click

from scimsvc.services import provisioning

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option


def _settings_json(settings) -> dict:
    return {"assignTeam": settings.assign_team.name if settings.assign_team else None,
            "onRecreate": settings.on_recreate, "journalReads": settings.journal_reads}


@click.group("provisioning", short_help="Team assignment and re-creation policy.")
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
