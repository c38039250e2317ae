"""What SQLite itself runs, seen through the driver's trace callback.

Engine events (``before_cursor_execute``) miss the statements scimsvc sends
straight to the DBAPI cursor (``scimsvc.prepared``, the BEGIN of ``dialect``);
SQLite's trace sees every statement, with its parameters filled in.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy import event

from scimsvc.extensions import db


@contextlib.contextmanager
def sqlite_statements(app) -> Iterator[list[str]]:
    """Collect every statement SQLite runs for ``app`` inside the block."""
    seen: list[str] = []

    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(seen.append)

    with app.app_context():
        engine = db.engine
        engine.dispose()  # new connections, so that each one is traced
    event.listen(engine, "connect", trace)
    try:
        yield seen
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()


def query_plan(app, statement: str) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN lines for a statement as it was run."""
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            return [row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
        finally:
            connection.close()


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "WITH"))
