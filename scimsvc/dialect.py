"""Everything that differs between SQLite and PostgreSQL, in one place.

The rest of scimsvc writes portable SQLAlchemy; what cannot be portable
(connection set-up, how a write transaction takes its lock, how a unique
violation is recognised) lives here.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref
from typing import Any, Iterator, Mapping

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

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

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def is_unique_violation(error: IntegrityError) -> bool:
    """Tell whether ``error`` is a unique-constraint violation on either database."""
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(orig)
