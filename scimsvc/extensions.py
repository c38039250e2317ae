"""The Flask extensions scimsvc uses, created once and bound in ``create_app``."""
from __future__ import annotations

from flask import Flask, g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase

from .prepared import DriverConnection


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def init_db(app: Flask) -> None:
    """Bind ``db`` to ``app`` and apply the per-database engine settings."""
    from . import dialect

    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **dialect.engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    db.init_app(app)
    app.teardown_appcontext(release_read_connection)
    with app.app_context():
        dialect.configure_engine(db.engine, app.config)


def read_connection() -> Connection:
    """The app context's connection for reads, opened on first use, closed at teardown.

    The SCIM API's hot reads (the key check, GET by id, lookups and pages) run
    Core statements on it instead of going through the ORM session: a session's
    begin, execute and close cost ~0.35 ms per query against ~0.03 ms for a Core
    execute on an open connection (make bench profile of GET /Users/{id}). The
    reads of one request on it share one transaction, so a filtered page and its
    COUNT agree.
    Writes go through ``db.session``; call ``release_read_connection`` before
    them, so that no read transaction stays open while the request writes.
    """
    connection = g.get("_read_connection")
    if connection is None:
        connection = g._read_connection = db.engine.connect()
    return connection


def driver_connection() -> DriverConnection:
    """The app context's pooled DBAPI connection for prepared queries (``scimsvc.prepared``).

    Opened on first use, given back to the pool (which rolls it back) at teardown
    or by ``release_read_connection``. A bare pool checkout costs a third of an
    ``engine.connect()`` and its close (make bench profile of GET /Users/{id}).
    On SQLite the driver connection is in autocommit: each prepared query reads its
    own snapshot, so an unfiltered page's total and rows may straddle a concurrent
    write (the paging code answers an empty page rather than fail, see
    ``users._page_in_id_order``); on PostgreSQL they share one transaction.
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
