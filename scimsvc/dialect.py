"""Everything that differs between SQLite and PostgreSQL, in one place.

The rest of scimsvc writes portable SQLAlchemy; what cannot be portable
(connection set-up, how a write transaction takes its lock, how a unique
violation is recognised, how a schema migration is fenced, objects only one
database has) lives here.

Writers: on SQLite a writing request starts with BEGIN IMMEDIATE, so writers
run one at a time; on PostgreSQL it locks the user rows it reads (SELECT …
FOR UPDATE), so concurrent writers to one user, on any host, apply in turn.
"""
from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import weakref
from typing import Any, Iterator, Mapping

from sqlalchemy import column, event, literal_column, select, table, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

# Set by the SCIM blueprint before the first query of a request that writes, so
# that SQLite takes the write lock when the transaction starts (BEGIN IMMEDIATE)
# instead of failing with "database is locked" when a read lock cannot be
# upgraded later in the request.
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "scimsvc_write_intent", default=False
)


_configured: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def declare_write_intent(value: bool = True) -> None:
    """Mark the transactions started from now on in this context as writers."""
    _write_intent.set(value)


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Run the block's transactions as writers, then restore the previous intent."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def engine_options(url: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Engine keyword arguments for the database named by ``url``."""
    if is_sqlite(url):
        return {
            "connect_args": {
                "timeout": float(config.get("SCIMSVC_SQLITE_BUSY_TIMEOUT", 30)),
                "check_same_thread": False,
            }
        }
    return {"pool_pre_ping": True}


def configure_engine(engine: Engine, config: Mapping[str, Any]) -> None:
    """Install the connection hooks ``engine`` needs (once per engine)."""
    if engine in _configured:
        return
    _configured.add(engine)
    if engine.dialect.name != "sqlite":
        _lock_rows_read_by_writers()
        return
    busy_ms = int(float(config.get("SCIMSVC_SQLITE_BUSY_TIMEOUT", 30)) * 1000)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module so that we
        # decide how each transaction begins (see _sqlite_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()
        # SQLite's lower() folds ASCII only; filters compare lower(column) with
        # services.users.fold(value) (= str.lower), so both sides must fold alike
        # (PostgreSQL's lower() already handles every letter of a UTF-8 database).
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        # Straight to the driver: through exec_driver_sql the BEGIN cost as much as the
        # query it opens (make bench profile of GET /Users/{id}: ~10% of its CPU).
        statement = "BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN"
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:
            # As SQLAlchemy would have raised it ("database is locked" after the busy timeout).
            raise DBAPIError.instance(statement, (), error, sqlite3.Error) from error


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Tables whose rows a writing transaction locks when it reads them (see below).
LOCKED_ON_READ = frozenset({"users"})
_row_locks_installed = False


def _lock_rows_read_by_writers() -> None:
    """On PostgreSQL, make a writer's ``SELECT`` of whole users ``FOR UPDATE OF users``.

    SQLite serialises writers (BEGIN IMMEDIATE). PostgreSQL, at READ COMMITTED,
    lets two writers read the same user, change it in memory and both commit:
    the second PATCH silently undoes the first and both get the same version.
    Locking the rows a writer reads makes the second wait and then read the
    first one's result, across processes and hosts. Only ORM queries selecting
    whole entities of ``LOCKED_ON_READ`` tables are locked (not relationship
    loads, counts or other tables), so writers lock few rows, in one place.
    The SCIM write path reads rows with Core statements, which this hook never
    sees: those carry ``with_for_update`` themselves (services.users.get_user,
    services.lifecycle.returning_account); the hook covers the ORM writers (CLI).
    """
    global _row_locks_installed
    if _row_locks_installed:
        return
    _row_locks_installed = True
    from .extensions import db

    @event.listens_for(db.session, "do_orm_execute")
    def _for_update(state):
        if not (_write_intent.get() and state.is_select) or state.is_relationship_load \
                or state.is_column_load:
            return
        statement = state.statement
        if getattr(statement, "_for_update_arg", None) is not None or \
                getattr(statement, "_distinct", False) or getattr(statement, "_group_by_clauses", ()):
            return
        if state.session.get_bind().dialect.name != "postgresql":
            return
        tables = [
            described["entity"].__table__
            for described in statement.column_descriptions
            if described.get("entity") is not None and described.get("type") is described["entity"]
            and getattr(described["entity"], "__tablename__", None) in LOCKED_ON_READ
        ]
        if tables:
            state.statement = statement.with_for_update(of=tables)


def sync_id_sequence(connection: Connection, table_name: str) -> None:
    """Make the next generated id of ``table_name`` follow the largest one stored.

    For rows inserted with explicit ids (imports, fixtures): SQLite's rowid
    already continues from max(id); a PostgreSQL sequence does not move by
    itself, so the next insert would reuse an id or go backwards.
    """
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text(f"SELECT setval(pg_get_serial_sequence(:table, 'id'), "
             f"(SELECT coalesce(max(id), 0) + 1 FROM {table_name}), false)"),
        {"table": table_name},
    )


def is_unique_violation(error: IntegrityError) -> bool:
    """Tell whether ``error`` is a unique-constraint violation on either database."""
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(orig)


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


# --- Search and paging structures (make bench: co/sw searches, deep list pages) ---------------
#
# Each is created by migration 0002 (its DDL is frozen there) and used through one function
# here, so the rest of scimsvc stays portable:
#   * user_values.value_norm gets a trigram index, so ``emails.value co "…"`` is answered
#     from an index instead of a scan of every value: an FTS5 table with the trigram
#     tokenizer on SQLite (kept in step by triggers), pg_trgm's GIN index on PostgreSQL
#     (which serves LIKE '%…%' by itself);
#   * users get an index on (tenant_id, lower(family_name)) for ``name.familyName sw``;
#   * user_buckets counts each tenant's live users per block of BUCKET_SIZE ids, kept
#     exact by triggers in the writing transaction, so a list's totalResults and the
#     position of its startIndex are found without reading every user (services.users).

# Both are baked into revision 0002's DDL: changing them needs a new revision.
TRIGRAM_TABLE = "dx_user_values_trigram"
BUCKET_SIZE = 1024
# FTS5's trigram tokenizer indexes runs of 3 characters: shorter fragments cannot use it.
TRIGRAM_MIN = 3


def value_contains_candidates(dialect_name: str, value_id: Any, fragment: str) -> Any:
    """A superset of the user_values rows whose value_norm contains ``fragment``, from an index.

    Returns an SQL condition on ``value_id`` (user_values.id) to AND with the exact
    LIKE, or None when no index helps: on PostgreSQL the GIN trigram index serves
    the LIKE itself; fragments shorter than a trigram are left to the LIKE.
    """
    if dialect_name != "sqlite" or len(fragment) < TRIGRAM_MIN:
        return None
    # An FTS5 string (double quotes, inner quotes doubled) matches as a substring with
    # the trigram tokenizer; every other character is taken literally.
    phrase = '"' + fragment.replace('"', '""') + '"'
    index = table(TRIGRAM_TABLE, column("rowid"))
    return value_id.in_(
        select(index.c.rowid).where(literal_column(TRIGRAM_TABLE).op("MATCH")(phrase)))


def reads_trigram_index(clause: Any) -> bool:
    """Tell whether ``clause`` holds a ``value_contains_candidates`` condition."""
    from sqlalchemy.sql.visitors import iterate

    return any(getattr(element, "name", None) == TRIGRAM_TABLE and hasattr(element, "c")
               for element in iterate(clause))
