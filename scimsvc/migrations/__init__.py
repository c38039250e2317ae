"""The schema's history as Alembic revisions, shipped inside the package.

``scimsvc db upgrade`` (and ``scimsvc init``) bring any earlier database to
``head``. Every change to ``scimsvc/models.py`` ships a revision in
``versions/`` (``scimsvc db revision -m "why"`` writes one from the difference;
review it): ``tests/services/test_migrations.py`` fails while the models and head
disagree. Objects only one database has (an SQLite FTS5 table, a PostgreSQL
trigram index) are created by revisions that test ``op.get_bind().dialect.name``
and are left out of that comparison: SQLite virtual tables and their shadow
tables are recognised, other such objects carry the ``dx_`` name prefix.

Two rules for revisions: a revision is frozen once released, so it spells out
its DDL rather than calling code that may change later (a database upgraded
last year must end up like a fresh one); and on SQLite, ``batch_alter_table``
rebuilds the table and drops its triggers: a revision that rebuilds ``users``
or ``user_values`` must create their triggers again.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.engine import Connection

from .. import models  # noqa: F401  (fills the metadata)
from ..extensions import db

# Tables and indexes whose names start with this exist on one database only and
# are not described by the models (see unmanaged_tables for the rest).
DIALECT_ONLY_PREFIX = "dx_"


def context_options(connection: Connection) -> dict[str, Any]:
    """The ``MigrationContext`` options shared by the revisions and the drift check."""
    return {
        "target_metadata": db.metadata,
        "include_object": _include_object(unmanaged_tables(connection)),
        "compare_type": True,
        # SQLite cannot ALTER most things: Alembic rebuilds the table instead.
        "render_as_batch": connection.dialect.name == "sqlite",
    }


def _include_object(unmanaged: set[str]) -> Callable[..., bool]:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if name and name.startswith(DIALECT_ONLY_PREFIX):
            return False
        if type_ == "table" and reflected and compare_to is None and name in unmanaged:
            return False
        table = getattr(obj, "table", None)
        if reflected and table is not None and table.name in unmanaged:
            return False
        return True

    return include


def unmanaged_tables(connection: Connection) -> set[str]:
    """Name the tables only this database has, which the models do not describe.

    On SQLite these are virtual tables (e.g. FTS5) and the shadow tables that
    back them; PostgreSQL has none (its extras are indexes, named ``dx_*``).
    """
    if connection.dialect.name != "sqlite":
        return set()
    rows = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
    ).scalars().all()
    return {f"{v}_{suffix}" for v in rows for suffix in _SHADOW_SUFFIXES} | set(rows)


# The tables SQLite creates behind FTS3/4/5 and R*Tree virtual tables.
_SHADOW_SUFFIXES = ("data", "idx", "content", "docsize", "config", "segments", "segdir",
                    "stat", "node", "rowid", "parent")
