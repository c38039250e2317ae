"""The ``scimsvc`` command group: set-up, serving, and the admin command groups."""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError

from scimsvc import __version__, create_app, dialect
from scimsvc.config import ConfigError
from scimsvc.errors import ServiceError

from .output import note


@dataclass
class State:
    """What every command needs: the app (built once) and the organization to act on."""

    app: Flask | None = None
    org: str | None = None
    _tenant_id: int | None = field(default=None, repr=False)

    def ensure_app(self) -> Flask:
        if self.app is None:
            self.app = create_app()
        return self.app

    @property
    def tenant_id(self) -> int:
        from scimsvc.services.organizations import get_organization

        if self._tenant_id is None:
            self._tenant_id = get_organization(self.org_slug).id
        return self._tenant_id

    @property
    def org_slug(self) -> str:
        return self.org or self.ensure_app().config["SCIMSVC_DEFAULT_ORG"]


class AdminGroup(click.Group):
    """A group whose commands run inside the app context and report mistakes in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        except ConfigError as error:
            raise click.ClickException(f"Configuration: {error}") from None
        except DBAPIError as error:
            text = str(error.orig).strip().splitlines()[0]
            # SQLite, then PostgreSQL: the tables are missing (not the database itself).
            if "no such table" in text or re.match(r'relation ".*" does not exist', text):
                raise click.ClickException(
                    "The database is not initialised: run 'scimsvc init' first."
                ) from None
            raise click.ClickException(f"Database error: {text}") from None


pass_state = click.make_pass_decorator(State, ensure=True)

F = TypeVar("F", bound=Callable[..., Any])


def writes(command: F) -> F:
    """Run a command's transactions as writers (on SQLite: BEGIN IMMEDIATE).

    A transaction that reads and then writes cannot wait for a busy server: once
    another writer commits, SQLite refuses the upgrade at once ("database is
    locked"). Taking the write lock first makes the command wait its turn.
    """
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with dialect.writing():
            return command(*args, **kwargs)

    return run  # type: ignore[return-value]


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
    if ctx.invoked_subcommand in ("serve",):
        return  # gunicorn workers build their own app
    app = state.ensure_app()
    ctx.with_resource(app.app_context())


@cli.command(short_help="Create or upgrade the database (idempotent).")
@pass_state
def init(state: State) -> None:
    """Create or upgrade the database schema, and create the organization if needed (safe to run again)."""
    from scimsvc.extensions import db
    from scimsvc.services.database import initialise

    org, created = initialise(state.org_slug)
    # The engine's URL, not the setting: a relative SQLite path is resolved in the instance folder.
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")
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
              help="Worker processes (each serves one request at a time).")
@click.option("--access-log/--no-access-log", default=False,
              help="Print a line per request (gunicorn's access log) to stdout.")
def serve(host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the SCIM API with gunicorn (the production server) until SIGTERM or Ctrl-C."""
    from .server import check_ready, run

    log_level = check_ready()
    run(host=host, port=port, workers=workers, access_log=access_log, log_level=log_level)


def _register() -> None:
    from . import admin  # noqa: F401  (registers the admin command groups)
    from . import db  # noqa: F401  (scimsvc db: schema migrations)
    from . import audit, users  # noqa: F401  (scimsvc audit, scimsvc user)


_register()

if __name__ == "__main__":  # pragma: no cover
    cli(prog_name=os.path.basename(__file__))
