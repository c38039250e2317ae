"""The hottest SELECTs, compiled once per database and run straight on the DBAPI cursor.

Every SCIM request checks its bearer key, and a GET /Users/{id} reads one row;
through a SQLAlchemy ``Connection.execute`` each paid ~50 us of statement
caching, execution context and result set-up around ~10 us of database work
(make bench profile). A ``PreparedQuery`` keeps the statement written in
SQLAlchemy (so it follows the models and each database's SQL), compiles it
once per dialect, and then runs the compiled string on the connection's DBAPI
cursor, turning each row into a named tuple with the columns' own result
processors (SQLite's text timestamps and JSON become datetimes and dicts, as
with SQLAlchemy). Only statements whose parameters need no bind processing
(strings, integers) are accepted.
"""
from __future__ import annotations

from collections import namedtuple
from operator import itemgetter
from typing import Any, Callable, Mapping, NamedTuple

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


class DriverConnection(NamedTuple):
    """A pooled DBAPI connection and the dialect of its engine."""

    dialect: Dialect
    dbapi: Any  # sqlalchemy.pool.PoolProxiedConnection

    @classmethod
    def of(cls, connection: Any) -> "DriverConnection":
        """The DBAPI connection under a SQLAlchemy ``Connection`` (inside its transaction)."""
        return cls(connection.dialect, connection.connection)


class _Plan(NamedTuple):
    sql: str
    parameters: Callable[[Mapping[str, Any]], Any]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: type


class PreparedQuery:
    """A SELECT run on a pooled DBAPI connection's cursor; see the module doc."""

    def __init__(self, statement: Select):
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def first(self, connection: DriverConnection, params: Mapping[str, Any]) -> Any | None:
        """The first row for ``params`` (a named tuple of the selected columns), or None."""
        plan = self._plans.get(connection.dialect.name) or self._plan(connection.dialect)
        values = self._run(connection, plan, params, all_rows=False)
        if values is None:
            return None
        return plan.row._make(self._processed(plan, values))

    def all(self, connection: DriverConnection, params: Mapping[str, Any]) -> list[Any]:
        """Every row for ``params``, as named tuples."""
        plan = self._plans.get(connection.dialect.name) or self._plan(connection.dialect)
        rows = self._run(connection, plan, params, all_rows=True)
        return [plan.row._make(self._processed(plan, values)) for values in rows]

    @staticmethod
    def _run(connection: DriverConnection, plan: _Plan, params: Mapping[str, Any], *,
             all_rows: bool) -> Any:
        parameters = plan.parameters(params)
        try:
            cursor = connection.dbapi.cursor()
            try:
                cursor.execute(plan.sql, parameters)
                return cursor.fetchall() if all_rows else cursor.fetchone()
            finally:
                cursor.close()
        except connection.dialect.loaded_dbapi.Error as error:
            # Raised as SQLAlchemy raises driver errors, so callers catch one family.
            raise DBAPIError.instance(plan.sql, parameters, error,
                                      connection.dialect.loaded_dbapi.Error) from error

    @staticmethod
    def _processed(plan: _Plan, values: Any) -> Any:
        if not plan.processors:
            return values
        values = list(values)
        for index, process in plan.processors:
            values[index] = process(values[index])
        return values

    def _plan(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        constants = {}
        for name, bind in compiled.binds.items():
            impl = bind.type.dialect_impl(dialect)
            if impl.bind_processor(dialect) is not None:
                raise TypeError(f"{name}: parameters needing bind processing are not supported")
            if not bind.required:
                constants[name] = bind.effective_value
        if dialect.positional:
            order = tuple(compiled.positiontup or ())
            pick = itemgetter(*order) if len(order) > 1 else (lambda p: (p[order[0]],))

            def parameters(params: Mapping[str, Any]) -> tuple:
                return pick({**constants, **params} if constants else params)
        else:
            def parameters(params: Mapping[str, Any]) -> dict:
                return {**constants, **params}
        columns = list(self.statement.selected_columns)
        processors = []
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                processors.append((index, process))
        row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        plan = _Plan(compiled.string, parameters, tuple(processors), row)
        self._plans[dialect.name] = plan
        return plan
