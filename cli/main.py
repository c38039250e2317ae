"""The ``scimsvc`` command group: set-up, serving, and the admin command groups."""
from __future__ import annotations

import os

import click

from scimsvc import __version__
from scimsvc.config import CREATE_DATABASE
from scimsvc.database import migrate
from scimsvc.services.events import acting_as
from scimsvc.services.organizations import ensure_organization

from . import (audit, db, events, google, groups, keys, orgs, provisioning, roles, teams, users,
               webhooks)
from .doctor import doctor
from .context import AdminGroup, State, pass_state
from .output import note
from .server import check_ready, run


@click.group(cls=AdminGroup)
@click.option("--org", envvar="SCIMSVC_ORG", metavar="SLUG",
              help="Organization to act on (default: the one 'scimsvc init' creates).")
@click.version_option(__version__, prog_name="scimsvc")
@click.pass_context
def cli(ctx: click.Context, org: str | None) -> None:
    """Administer scimsvc, the SCIM 2.0 provisioning service."""
    state = ctx.ensure_object(State)
    if org:
        state.org = org
    if ctx.invoked_subcommand in ("serve", "doctor"):
        return  # gunicorn workers build their own app; doctor only speaks HTTP
    app = state.ensure_app()
    # Only init may create the database: any other command finding none was run against
    # the wrong instance folder or URL, and must say so rather than start an empty one.
    app.config[CREATE_DATABASE] = ctx.invoked_subcommand == "init"
    ctx.with_resource(app.app_context())
    ctx.with_resource(acting_as("cli", "cli"))  # the changes this command makes are events by "cli"


@cli.command(short_help="Create or upgrade the database (idempotent).")
@pass_state
def init(state: State) -> None:
    """Create or upgrade the database schema, and create the organization if needed (safe to run again)."""
    migrate.upgrade()
    org, created = ensure_organization(state.org_slug, state.org_slug)
    # The engine's URL, not the setting: a relative SQLite path is resolved in the instance folder.
    click.echo(f"Database ready: {migrate.database_url()}")
    click.echo(f"Organization '{org.slug}' {'created' if created else 'already exists'}.")


@cli.command(short_help="Print the URL to paste into the IdP.")
@pass_state
def endpoint(state: State) -> None:
    """Print the SCIM endpoint URL to paste into the identity provider."""
    base = state.ensure_app().config.get("SCIMSVC_BASE_URL")
    if not base:
        base = "http://127.0.0.1:8000"
        note("SCIMSVC_BASE_URL is not set; printing the local default. "
             "Set it to the public URL your identity provider reaches.")
    click.echo(f"{base}/scim/v2")


@cli.command(short_help="Serve the SCIM API (gunicorn).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each reads requests in an event loop and answers 4 at a time).")
@click.option("--access-log/--no-access-log", default=False,
              help="Also write gunicorn's access log (a JSON line per request, path without query) "
                   "to stderr, whatever SCIMSVC_LOG_LEVEL.")
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the SCIM API with gunicorn (the production server) until SIGTERM or Ctrl-C."""
    log_level, metrics_listen = check_ready()
    run(host=host, port=port, workers=workers, access_log=access_log, log_level=log_level,
        metrics_listen=metrics_listen)


for group in (orgs.org, roles.permission, roles.role, teams.team, keys.api_key,
              provisioning.provisioning_group, users.user_group, groups.group_group, audit.audit_group,
              events.events_group, db.db, webhooks.webhook, google.google_group, doctor):
    cli.add_command(group)

if __name__ == "__main__":  # pragma: no cover
    cli(prog_name=os.path.basename(__file__))
