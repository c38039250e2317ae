"""The database schema, migrated with Alembic (``scimsvc/migrations``).

Every function here works on the engine of the current app context and runs the
revisions on the connection ``migration_connection`` opens, so an upgrade is one
transaction that concurrent upgrades wait for.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.util.exc import CommandError
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from .. import models  # noqa: F401  (fills the metadata the revisions compare with)
from ..errors import Conflict, InvalidValue
from ..extensions import db
from ..migrations import context_options
from .transactions import writing

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
# Databases made by scimsvc before it used Alembic hold exactly this revision's schema.
FIRST_REVISION = "0001"
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Upgrade:
    """What an upgrade did: the revision before (None: empty database) and after."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config() -> Config:
    """Return the Alembic configuration for the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return config


def head_revision() -> str:
    """Return the newest revision the installed scimsvc knows (raises if there are several)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "scimsvc/migrations/versions holds no revision"
    return head


def known_revisions() -> list[str]:
    """Return the revisions the installed scimsvc ships, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision() -> str | None:
    """Return the database's revision, or None if it has not been migrated."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revision_status() -> tuple[str | None, str]:
    """(the database's revision, the newest one shipped), then close the engine's connections."""
    try:
        return current_revision(), head_revision()
    finally:
        db.engine.dispose()  # a server's workers open their own


def database_url() -> str:
    """The URL of the app's database, without its password."""
    return db.engine.url.render_as_string(hide_password=True)


def upgrade(revision: str = "head") -> Upgrade:
    """Bring the database to ``revision`` (default: the newest) in one transaction.

    An empty database is built from the first revision on. A database created
    before scimsvc used Alembic (tables, no version table) is recorded as the
    first revision, whose schema it has, and upgraded from there. Raises
    InvalidValue for a revision this scimsvc does not ship, and Conflict for a
    database a newer scimsvc has upgraded (nothing is changed then).
    """
    known = known_revisions()
    if revision != "head" and revision not in known:
        raise InvalidValue(f"Unknown revision '{revision}': this scimsvc ships {', '.join(known)}.")
    config = alembic_config()
    with migration_connection(db.engine) as connection:
        config.attributes["connection"] = connection
        context = MigrationContext.configure(connection)
        before = context.get_current_revision()
        if before is not None and before not in known:
            raise Conflict(newer_schema_message(before))
        if before is None and _has_unversioned_schema(connection):
            command.stamp(config, FIRST_REVISION)
        try:
            command.upgrade(config, revision)
        except CommandError as error:  # e.g. a target older than the database: not an upgrade
            raise Conflict(f"Cannot upgrade from {before} to {revision}: {error}") from None
        after = MigrationContext.configure(connection).get_current_revision()
    return Upgrade(before=before, after=after)


def newer_schema_message(current: str) -> str:
    """Explain a database at a revision this scimsvc does not ship."""
    return (f"The database is at revision {current}, which this scimsvc does not know "
            f"(its newest is {head_revision()}): a newer scimsvc upgraded it. Install that "
            "version, or restore the backup taken before the upgrade.")


def schema_drift() -> list[Any]:
    """List the differences between the models and the database (empty: they agree).

    This is Alembic's autogenerate comparison, with the options the revisions
    run with; a model change without a revision shows up here.
    """
    with db.engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; the ones scimsvc has are dialect-only
        # (``dx_*``) and left out of the comparison anyway.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(connection, opts=context_options(connection))
        return compare_metadata(context, db.metadata)


def write_revision(message: str) -> str:
    """Write a revision holding the difference between the models and the database at head.

    Returns the new file's path. The database must be at head; the revision is a
    draft to review (Alembic cannot see renames, and data moves are for you).
    """
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    numbers = [int(r.revision) for r in script.walk_revisions() if r.revision.isdigit()]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        written = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    path = written[0].path if isinstance(written, list) else written.path
    return path


def _has_unversioned_schema(connection) -> bool:
    names = set(inspect(connection).get_table_names())
    return VERSION_TABLE not in names and "organizations" in names


@contextlib.contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside the one transaction a schema migration runs in.

    Both databases have transactional DDL, so a failed upgrade leaves the schema
    as it was. Concurrent upgrades (several hosts running ``scimsvc init`` at
    once) queue up: PostgreSQL through an advisory lock held until commit,
    SQLite through BEGIN IMMEDIATE. On SQLite, foreign keys are switched off
    while Alembic rebuilds tables (dropping the old copy of a table with
    foreign keys on would cascade the drop into the rows that reference it),
    checked before commit, and switched back on.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                # A migration may rewrite big tables: the request timeouts (engine.py) do not apply.
                connection.execute(text("SET LOCAL statement_timeout = 0"))
                connection.execute(text("SET LOCAL lock_timeout = 0"))
                connection.execute(text(
                    "SELECT pg_advisory_xact_lock(hashtext('scimsvc-migrate:' || current_schema()))"
                ))
                yield connection
            return
        raw = connection.connection.dbapi_connection
        # A PRAGMA foreign_keys inside a transaction is ignored: set it before BEGIN.
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with writing(), connection.begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"The migration left rows with dangling references: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
