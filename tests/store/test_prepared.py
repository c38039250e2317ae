"""scimsvc.prepared: the hot SELECTs run on the DBAPI cursor behave as SQLAlchemy's would."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import JSON, bindparam, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from scimsvc.database.transactions import driver_connection, release_read_connection
from scimsvc.extensions import db
from scimsvc.models import User
from scimsvc.database.prepared import PreparedQuery
from tests.conftest import make_user

users = User.__table__.c


def test_rows_are_typed_as_sqlalchemy_would_type_them(app, scim):
    created = make_user(scim, "typed@example.com", active=False, name={"givenName": "Ty"})
    query = PreparedQuery(select(users.scim_id, users.data, users.active, users.created_at,
                                 users.deleted_at).where(users.scim_id == bindparam("id")))
    with app.test_request_context():
        row = query.first(driver_connection(), {"id": created["id"]})
        with db.engine.connect() as connection:
            expected = connection.execute(query.statement, {"id": created["id"]}).one()
        release_read_connection()
    assert tuple(row) == tuple(expected)
    assert row.data["name"] == {"givenName": "Ty"} and row.active is False
    assert isinstance(row.created_at, datetime) and row.deleted_at is None


def test_no_row_and_every_row(app, scim):
    for name in ("a@example.com", "b@example.com", "c@example.com"):
        make_user(scim, name)
    query = PreparedQuery(select(users.user_name).where(users.user_name_norm >= bindparam("from"))
                          .order_by(users.id).limit(bindparam("limit")))
    with app.test_request_context():
        assert [r.user_name for r in query.all(driver_connection(), {"from": "b", "limit": 5})] \
            == ["b@example.com", "c@example.com"]
        assert query.all(driver_connection(), {"from": "b", "limit": 1})[0].user_name == "b@example.com"
        assert query.first(driver_connection(), {"from": "z", "limit": 1}) is None
        release_read_connection()


def test_database_errors_are_sqlalchemy_errors(app, admin):
    from sqlalchemy import column, table

    missing = table("no_such_table", column("x"))
    query = PreparedQuery(select(missing.c.x).where(missing.c.x == bindparam("x")))
    with app.test_request_context():
        with pytest.raises((OperationalError, ProgrammingError)):
            query.first(driver_connection(), {"x": 1})
        release_read_connection()


def test_parameters_needing_conversion_are_refused(app, admin):
    # A JSON parameter is serialised by its bind processor on every database; the driver
    # would be handed the dict as is.
    query = PreparedQuery(select(users.id).where(users.id == bindparam("j", type_=JSON())))
    with app.test_request_context():
        with pytest.raises(TypeError, match="bind processing"):
            query.first(driver_connection(), {"j": {"a": 1}})
        release_read_connection()


def test_sqlite_datetime_parameters_are_refused(app, admin):
    query = PreparedQuery(select(users.id).where(users.created_at > bindparam("t", type_=User.created_at.type)))
    with app.test_request_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite stores datetimes as text, through a bind processor; PostgreSQL does not")
        with pytest.raises(TypeError, match="bind processing"):
            query.first(driver_connection(), {"t": datetime(2026, 1, 1)})
        release_read_connection()
