"""Per-database engine set-up: SQLite's pragmas and BEGIN IMMEDIATE, PostgreSQL's row locks.

Writers: on SQLite a write transaction starts with BEGIN IMMEDIATE, so writers
run one at a time; on PostgreSQL it locks the user rows it reads (SELECT …
FOR UPDATE), so concurrent writers to one user, on any host, apply in turn.
"""
from __future__ import annotations

import os
import sqlite3
import time
import weakref
from typing import Any, Mapping

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import metrics
from ..config import CREATE_DATABASE
from ..errors import DatabaseFolderMissing, DatabaseMissing
from ..extensions import db
from .transactions import no_wait, release_read_connection, write_intent

_configured: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def init_app(app: Flask) -> None:
    """Bind ``db`` to ``app`` with the engine settings its database needs."""
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    db.init_app(app)
    app.teardown_appcontext(release_read_connection)
    with app.app_context():
        configure_engine(db.engine, app.config)
        guard_sqlite_file(db.engine, app.config, app.instance_path)


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
        _postgres_timeouts(engine, config)
        return
    busy_ms = int(float(config.get("SCIMSVC_SQLITE_BUSY_TIMEOUT", 30)) * 1000)
    synchronous = str(config.get("SCIMSVC_SQLITE_SYNCHRONOUS", "FULL")).upper()
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"SCIMSVC_SQLITE_SYNCHRONOUS={synchronous!r}: expected FULL or NORMAL")

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module so that we
        # decide how each transaction begins (see _sqlite_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        # FULL syncs the WAL at every commit, so an acknowledged write survives power loss;
        # NORMAL (an opt-out) syncs only at checkpoints: a crash of the process loses
        # nothing, but a power loss or OS crash may roll back the last commits.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()
        # SQLite's lower() folds ASCII only; filters compare lower(column) with
        # scim.schema.fold(value) (= str.lower), so both sides must fold alike
        # (PostgreSQL's lower() already handles every letter of a UTF-8 database).
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        # Straight to the driver: through exec_driver_sql the BEGIN cost as much as its query.
        writer = write_intent()
        statement = "BEGIN IMMEDIATE" if writer else "BEGIN"
        driver = connection.connection.driver_connection
        impatient = writer and no_wait()
        started = time.perf_counter()
        try:
            if impatient:  # the lock now or "database is locked" now (transactions.write_transaction)
                driver.execute("PRAGMA busy_timeout=0")
            driver.execute(statement)
            if writer:  # how long this writer waited for SQLite's write lock
                metrics.LOCK_WAIT.labels("sqlite").observe(time.perf_counter() - started)
        except sqlite3.Error as error:
            # As SQLAlchemy would have raised it ("database is locked" after the busy timeout).
            raise DBAPIError.instance(statement, (), error, sqlite3.Error) from error
        finally:
            if impatient:
                driver.execute(f"PRAGMA busy_timeout={busy_ms}")


def _postgres_timeouts(engine: Engine, config: Mapping[str, Any]) -> None:
    """Bound how long a PostgreSQL statement waits for a lock and runs (SET per new connection).

    A writer queued behind another's row lock gives up after lock_timeout instead
    of holding its worker; both errors are answered 503 (transactions.is_busy).
    """
    lock_ms = int(float(config.get("SCIMSVC_POSTGRES_LOCK_TIMEOUT", 10)) * 1000)
    statement_ms = int(float(config.get("SCIMSVC_POSTGRES_STATEMENT_TIMEOUT", 30)) * 1000)

    @event.listens_for(engine, "connect")
    def _set_timeouts(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {lock_ms}")
        cursor.execute(f"SET statement_timeout = {statement_ms}")
        cursor.close()
        dbapi_connection.commit()


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
    The SCIM write path reads rows with prepared statements, which this hook never
    sees: those carry ``with_for_update`` themselves (store.users); the hook covers
    the ORM writers (CLI).
    """
    global _row_locks_installed
    if _row_locks_installed:
        return
    _row_locks_installed = True

    @event.listens_for(db.session, "do_orm_execute")
    def _for_update(state):
        if not (write_intent() and state.is_select) or state.is_relationship_load \
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


def guard_sqlite_file(engine: Engine, config: Mapping[str, Any], instance_path: str) -> None:
    """Create ``engine``'s SQLite file private to its owner, or refuse to create it at all.

    The file holds key and password hashes: it is created ``0600`` (SQLite gives its
    -wal and -shm files the database's mode), and the instance folder holding it ``0700``.
    While ``config[CREATE_DATABASE]`` is false, a missing file raises DatabaseMissing
    instead of becoming a new, empty database.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    path = os.path.abspath(path)

    @event.listens_for(engine, "do_connect")
    def _create_privately(_dialect, _record, _cargs, _cparams):
        if os.path.exists(path):
            return
        if not config.get(CREATE_DATABASE, True):
            raise DatabaseMissing(path, instance_path)
        folder = os.path.dirname(path)
        if folder == os.path.abspath(instance_path):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        elif not os.path.isdir(folder):
            raise DatabaseFolderMissing(path, folder)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:  # another process made it first
            pass
