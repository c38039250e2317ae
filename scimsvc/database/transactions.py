"""How a request or a command reaches the database: read connections and write transactions.

Reads run on connections of the app context, opened on first use and given back
at teardown. Writes run in ``write_transaction()``: the session's transaction,
begun as a writer (SQLite: BEGIN IMMEDIATE; PostgreSQL: writers lock the user
rows they read), committed at the end of the block or rolled back.
"""
from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import time
from typing import Iterator

from flask import g
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from .. import metrics
from ..errors import Busy
from ..extensions import db
from .prepared import DriverConnection

# True while transactions begun in this context must take the write lock when they start.
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "scimsvc_write_intent", default=False
)
_in_write_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "scimsvc_in_write_transaction", default=False
)


# True while a write transaction beginning now must not wait for SQLite's write lock.
_no_wait: contextvars.ContextVar[bool] = contextvars.ContextVar("scimsvc_no_wait", default=False)


def write_intent() -> bool:
    """Tell whether a transaction beginning now must begin as a writer."""
    return _write_intent.get()


def no_wait() -> bool:
    """Tell whether a write transaction beginning now must fail at once if the lock is taken."""
    return _no_wait.get()


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Begin the block's transactions as writers, then restore the previous intent."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextlib.contextmanager
def write_transaction(*, wait: bool = True) -> Iterator[Connection]:
    """Run the block in one write transaction on the session's connection; yield that connection.

    ``wait=False``: on SQLite, raise Busy at once when another connection holds the
    write lock instead of waiting the busy timeout (for journal rows that have a
    queue to go to instead; PostgreSQL's INSERTs of new rows wait for no lock).
    The read transactions of the request end first, so the write lock is taken by
    the block's first statement and held only while it writes. The block commits
    when it ends and rolls back if it raises; a nested call joins the outer one.
    Raises Busy (503 with Retry-After) when the lock is not granted in time: SQLite's
    busy timeout, PostgreSQL's lock_timeout or statement_timeout.
    """
    if _in_write_transaction.get():
        yield db.session.connection()
        return
    release_read_connection()
    if db.session().in_transaction():
        db.session.commit()  # a read transaction begun before: nothing is pending in it
    joined = _in_write_transaction.set(True)
    patience = _no_wait.set(not wait)
    started = time.perf_counter()
    try:
        with writing():
            try:
                yield db.session.connection()
                db.session.commit()
            except DBAPIError as error:
                db.session.rollback()
                if is_busy(error):
                    metrics.LOCK_TIMEOUTS.labels(dialect_name()).inc()
                    raise Busy() from error
                raise
            except BaseException:
                db.session.rollback()
                raise
    finally:
        _no_wait.reset(patience)
        _in_write_transaction.reset(joined)
        metrics.WRITE_TRANSACTIONS.labels(dialect_name()).observe(time.perf_counter() - started)


# SQLSTATEs of a lock not granted in time (lock_timeout) and of a statement cancelled
# (statement_timeout), and what SQLite says when its busy timeout runs out.
_BUSY_SQLSTATES = frozenset({"55P03", "57014"})
_BUSY_MESSAGES = ("database is locked", "database is busy", "database table is locked")


def is_busy(error: DBAPIError) -> bool:
    """Tell whether ``error`` means the database could not serve the request in time."""
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in _BUSY_SQLSTATES
    return isinstance(orig, sqlite3.OperationalError) and str(orig).startswith(_BUSY_MESSAGES)


def read_connection() -> Connection:
    """The app context's Core connection for reads; its reads share one transaction."""
    connection = g.get("_read_connection")
    if connection is None:
        connection = g._read_connection = db.engine.connect()
    return connection


def driver_connection() -> DriverConnection:
    """The app context's pooled DBAPI connection for prepared reads.

    On SQLite it is in autocommit, so each prepared query reads its own snapshot;
    on PostgreSQL its queries share one transaction.
    """
    connection = g.get("_driver_connection")
    if connection is None:
        engine = db.engine
        connection = g._driver_connection = DriverConnection(engine.dialect, engine.raw_connection())
    return connection


def release_read_connection(_exc: BaseException | None = None) -> None:
    """End the read transactions and give the connections back to the pool."""
    connection = g.pop("_read_connection", None)
    if connection is not None:
        connection.close()
    driver = g.pop("_driver_connection", None)
    if driver is not None:
        driver.dbapi.close()


def dialect_name() -> str:
    """The name of the app's database dialect: "sqlite" or "postgresql"."""
    return db.engine.dialect.name
