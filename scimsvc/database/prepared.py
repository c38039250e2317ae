"""Statements compiled once per database and run straight on a DBAPI cursor.

The request path's hottest statements skip ``Connection.execute``'s per-call set-up
(docs/performance.md). Each is written in SQLAlchemy, so it follows the models and
each database's SQL. ``PreparedQuery`` runs a SELECT and turns rows into named
tuples with the columns' own result processors; ``PreparedWrite`` runs an INSERT
or UPDATE, binding each value through its column's bind processor. Driver errors
are raised as SQLAlchemy's DBAPIError family, as ``Connection.execute`` would.
"""
from __future__ import annotations

from collections import namedtuple
from operator import itemgetter
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase


class DriverConnection(NamedTuple):
    """A pooled DBAPI connection and the dialect of its engine."""

    dialect: Dialect
    dbapi: Any  # sqlalchemy.pool.PoolProxiedConnection

    @classmethod
    def of(cls, connection: Any) -> "DriverConnection":
        """The DBAPI connection under a SQLAlchemy ``Connection`` (inside its transaction)."""
        return cls(connection.dialect, connection.connection)


class _QueryPlan(NamedTuple):
    sql: str
    parameters: Callable[[Mapping[str, Any]], Any]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: type


class PreparedQuery:
    """A SELECT run on a DBAPI connection's cursor; only parameters needing no bind
    processing (strings, integers) are accepted."""

    def __init__(self, statement: Select):
        self.statement = statement
        self._plans: dict[str, _QueryPlan] = {}

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
    def _run(connection: DriverConnection, plan: _QueryPlan, params: Mapping[str, Any], *,
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
    def _processed(plan: _QueryPlan, values: Any) -> Any:
        if not plan.processors:
            return values
        values = list(values)
        for index, process in plan.processors:
            values[index] = process(values[index])
        return values

    def _plan(self, dialect: Dialect) -> _QueryPlan:
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
        plan = _QueryPlan(compiled.string, parameters, tuple(processors), row)
        self._plans[dialect.name] = plan
        return plan


class _WritePlan(NamedTuple):
    sql: str
    parameters: Callable[[Mapping[str, Any]], Any]
    returns: bool  # RETURNING: execute gives the first column of the row


class PreparedWrite:
    """An INSERT or UPDATE run on a DBAPI connection's cursor, inside its transaction.

    Every value is given by name: columns left out get no defaults, and literal
    values in the statement are refused.
    """

    def __init__(self, statement: UpdateBase):
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _WritePlan] = {}

    def execute(self, connection: DriverConnection, params: Mapping[str, Any]) -> Any:
        """Run once; return the first column of the first row (RETURNING), else the rowcount."""
        plan = self._plan_for(connection.dialect, tuple(params))
        return self._run(connection, plan.sql, plan.parameters(params), many=False,
                         fetch=plan.returns)

    def executemany(self, connection: DriverConnection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run once per row (every row with the same keys); return the total rowcount."""
        plan = self._plan_for(connection.dialect, tuple(rows[0]))
        return self._run(connection, plan.sql, [plan.parameters(row) for row in rows], many=True,
                         fetch=False)

    @staticmethod
    def _run(connection: DriverConnection, sql: str, parameters: Any, *, many: bool,
             fetch: bool) -> Any:
        try:
            cursor = connection.dbapi.cursor()
            try:
                if many:
                    cursor.executemany(sql, parameters)
                    return cursor.rowcount
                cursor.execute(sql, parameters)
                return cursor.fetchone()[0] if fetch else cursor.rowcount
            finally:
                cursor.close()
        except connection.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(sql, parameters, error,
                                      connection.dialect.loaded_dbapi.Error) from error

    def _plan_for(self, dialect: Dialect, keys: tuple[str, ...]) -> _WritePlan:
        plan = self._plans.get((dialect.name, keys))
        if plan is None:
            plan = self._plans[(dialect.name, keys)] = self._plan(dialect, keys)
        return plan

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _WritePlan:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        missing = set(compiled.binds) - set(keys)
        if missing:
            raise TypeError(f"no value for {sorted(missing)} (defaults are not applied)")
        processors = tuple(
            (name, bind.type.dialect_impl(dialect).bind_processor(dialect))
            for name, bind in compiled.binds.items())
        processors = tuple((name, process) for name, process in processors if process is not None)
        order = tuple(compiled.positiontup or ()) if dialect.positional else ()

        def parameters(params: Mapping[str, Any]) -> Any:
            if processors:
                params = dict(params)
                for name, process in processors:
                    params[name] = process(params[name])
            return tuple(params[name] for name in order) if order else params

        return _WritePlan(compiled.string, parameters, bool(compiled.effective_returning))
