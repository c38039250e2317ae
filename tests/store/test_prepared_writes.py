"""PreparedWrite stores exactly what Connection.execute stores for the same statement and values."""
from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, User, utcnow
from scimsvc.database.prepared import DriverConnection
from scimsvc.database.prepared import PreparedWrite

events = AuditEvent.__table__
users = User.__table__


def driver(connection) -> DriverConnection:
    return DriverConnection(connection.dialect, connection.connection)


def event_row(request_id: str, **values) -> dict:
    return {"tenant_id": None, "at": utcnow(), "request_id": request_id, "api_key_id": None,
            "api_key_name": "okta", "user_agent": None, "method": "PATCH", "path": "/scim/v2/Users/x",
            "operation": "patch", "target_user_id": None, "target_user_name": "Ann",
            "status": 200, "scim_type": None, "changes": {"title": {"old": None, "new": "Ms"}},
            **values}


def stored(connection, request_id: str) -> dict:
    """The row as the database holds it (JSON as text, so JSON null and SQL NULL differ)."""
    columns = [literal_column(f"CAST({c.name} AS TEXT)").label(c.name) if c.name == "changes" else c
               for c in events.c if c.name not in ("id", "request_id")]
    return dict(connection.execute(select(*columns).where(events.c.request_id == request_id)).one()._mapping)


@pytest.mark.parametrize("changes", [{"a": [1, "é", None], "b": {"c": True}}, {}, None])
def test_an_insert_stores_what_connection_execute_stores(app, admin, changes):
    with app.app_context():
        connection = db.session.connection()
        at = utcnow()
        connection.execute(insert(events), event_row("core", at=at, changes=changes))
        PreparedWrite(insert(events)).execute(driver(connection), event_row("prepared", at=at,
                                                                            changes=changes))
        assert stored(connection, "prepared") == stored(connection, "core")
        db.session.rollback()


def test_returning_gives_the_new_id_and_many_rows_give_the_total_rowcount(app, admin):
    with app.app_context():
        connection = db.session.connection()
        new_id = PreparedWrite(insert(events).returning(events.c.id)).execute(
            driver(connection), event_row("one"))
        assert connection.scalar(select(events.c.request_id).where(events.c.id == new_id)) == "one"
        PreparedWrite(insert(events)).executemany(driver(connection),
                                                  [event_row("many"), event_row("many")])
        rename = PreparedWrite(update(events).where(events.c.request_id == bindparam("rid")))
        renamed = rename.executemany(driver(connection), [{"api_key_name": "a", "rid": "many"},
                                                          {"api_key_name": "b", "rid": "many"}])
        assert renamed == 4
        db.session.rollback()


def test_a_unique_violation_is_sqlalchemys_integrity_error(app, admin, scim):
    from tests.conftest import make_user

    make_user(scim, "ann@example.com")
    with app.app_context():
        connection = db.session.connection()
        row = dict(connection.execute(select(*(c for c in users.c if c.name != "id"))).one()._mapping)
        with pytest.raises(IntegrityError):
            PreparedWrite(insert(users)).execute(driver(connection), {**row, "scim_id": "other"})
        db.session.rollback()


def test_a_column_without_a_value_is_refused_not_defaulted(app, admin):
    with app.app_context():
        connection = db.session.connection()
        row = event_row("x")
        del row["at"]  # the model has a Python default, which Connection.execute would apply
        with pytest.raises(TypeError, match="at"):
            PreparedWrite(insert(events)).execute(driver(connection), row)
        connection.execute(text("SELECT 1"))
        db.session.rollback()
