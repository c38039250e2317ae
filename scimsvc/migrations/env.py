"""Alembic environment: run the revisions on the connection scimsvc hands over.

scimsvc never runs Alembic with an ``alembic.ini``: ``scimsvc.database.migrate``
builds the configuration, opens the connection (``database.migrate.migration_connection``:
one transaction, a migration lock, SQLite foreign keys off while tables are
rebuilt) and passes it in ``config.attributes["connection"]``.
"""
import warnings

from alembic import context

from scimsvc.migrations import context_options

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "scimsvc migrations run through 'scimsvc db upgrade' (or 'scimsvc init'), "
        "not the bare alembic command."
    )
context.configure(connection=connection, **context_options(connection))
with context.begin_transaction(), warnings.catch_warnings():
    # SQLite cannot reflect expression indexes (autogenerate reflects); scimsvc's are
    # dialect-only ``dx_*`` indexes, left out of the comparison anyway.
    warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
    context.run_migrations()
