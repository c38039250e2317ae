"""The ``scimsvc db`` commands: upgrade the schema, show where it is, check the models against it."""
from __future__ import annotations

import click

from scimsvc.database import migrate as database

from .output import emit_json, json_option


@click.group()
def db() -> None:
    """The database schema (Alembic migrations shipped with scimsvc)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True,
              help="Revision to upgrade to.")
def db_upgrade(revision: str) -> None:
    """Bring the database schema up to date (safe to run again, and from several hosts at once)."""
    done = database.upgrade(revision)
    if done.changed:
        click.echo(f"Database upgraded from {done.before or 'empty'} to {done.after}.")
    else:
        click.echo(f"Database already at {done.after}.")


@db.command("current")
@json_option
@click.pass_context
def db_current(ctx: click.Context, as_json: bool) -> None:
    """Print the database's schema revision and the newest this scimsvc knows.

    Exits 1 unless the database is at the newest revision (behind, ahead, not
    initialised or missing), so scripts and health checks can rely on the status.
    """
    current, head = database.current_revision(), database.head_revision()
    known = current is None or current in database.known_revisions()
    _print_current(current, head, known, as_json)
    if current != head:
        ctx.exit(1)


def _print_current(current: str | None, head: str, known: bool, as_json: bool) -> None:
    if as_json:
        emit_json({"current": current, "head": head, "up_to_date": current == head,
                   "known": known})
        return
    if current is None:
        click.echo(f"Database not initialised (head is {head}): run 'scimsvc db upgrade'.")
    elif not known:
        click.echo(f"{current} (unknown here) — {database.newer_schema_message(current)}")
    elif current == head:
        click.echo(f"{current} (head)")
    else:
        click.echo(f"{current} (head is {head}: run 'scimsvc db upgrade')")


@db.command("check")
def db_check() -> None:
    """Fail if the models differ from the database schema (a model change without a revision)."""
    drift = database.schema_drift()
    if drift:
        for change in drift:
            click.echo(repr(change))
        raise click.ClickException(
            f"{len(drift)} difference(s) between the models and the schema at "
            f"{database.current_revision()}: write a revision ('scimsvc db revision')."
        )
    click.echo("The models and the database schema agree.")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the schema change is for.")
def db_revision(message: str) -> None:
    """Write a draft revision from the models' difference to the database (for developers).

    Run it against a database at head; review the file before committing it.
    """
    current, head = database.current_revision(), database.head_revision()
    if current != head:
        raise click.ClickException(
            f"The database is at {current or 'nothing'}, not {head}: run 'scimsvc db upgrade' first."
        )
    if not database.schema_drift():
        raise click.ClickException("The models and the schema agree: there is nothing to write.")
    click.echo(database.write_revision(message))
