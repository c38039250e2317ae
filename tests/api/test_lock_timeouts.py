"""A write that cannot get its lock in time is 503 with Retry-After, never 500 (issue 15).

SQLite: another connection holds the write lock past SCIMSVC_SQLITE_BUSY_TIMEOUT.
PostgreSQL: another transaction holds the user's row lock past SCIMSVC_POSTGRES_LOCK_TIMEOUT.
"""
from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import bindparam, text

from scimsvc import create_app
from scimsvc.api.journal import journal_queue
from scimsvc.extensions import db
from tests.conftest import BASE_URL, ScimClient, make_user
from tests.databases import is_postgres
from tests.scimdata import CORE_USER, ERROR, PATCH_OP

RENAME = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nickName", "value": "n"}]}


def short_timeout_client(tmp_path, database_url, api_key, **config):
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance2"),
                      "SQLALCHEMY_DATABASE_URI": database_url, "SCIMSVC_BASE_URL": BASE_URL,
                      **config})
    return app, ScimClient(app.test_client(), api_key)


def assert_busy(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == "503"
    assert "locked" not in body["detail"]


@pytest.mark.skipif(is_postgres(), reason="SQLite's single write lock")
def test_writes_waiting_past_the_sqlite_busy_timeout_are_503(tmp_path, database_url, scim, api_key):
    user = make_user(scim)
    app, client = short_timeout_client(tmp_path, database_url, api_key,
                                       SCIMSVC_SQLITE_BUSY_TIMEOUT=0.2)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert_busy(client.patch(f"Users/{user['id']}", json=RENAME))
        assert_busy(client.post("Users", json={"schemas": [CORE_USER], "userName": "new"}))
        assert_busy(client.delete(f"Users/{user['id']}"))
        assert time.monotonic() - started < 5
        assert client.get(f"Users/{user['id']}").status_code == 200  # readers never wait
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.patch(f"Users/{user['id']}", json=RENAME).status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_sqlite_defaults_to_synchronous_full(app, admin):
    if is_postgres():
        pytest.skip("SQLite pragma")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


@pytest.mark.skipif(is_postgres(), reason="SQLite pragma")
def test_sqlite_synchronous_normal_is_the_opt_out(tmp_path, database_url, admin, api_key):
    app, _ = short_timeout_client(tmp_path, database_url, api_key, SCIMSVC_SQLITE_SYNCHRONOUS="NORMAL")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with app.app_context():
        db.engine.dispose()


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL lock_timeout")
def test_writers_queued_past_the_postgres_lock_timeout_are_503(tmp_path, database_url, scim, api_key):
    user = make_user(scim)
    app, client = short_timeout_client(tmp_path, database_url, api_key,
                                       SCIMSVC_POSTGRES_LOCK_TIMEOUT=0.2)
    with app.app_context():
        assert db.session.execute(text("SHOW lock_timeout")).scalar() == "200ms"
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "30s"
        db.session.rollback()
        holder = db.engine.connect()
        transaction = holder.begin()
        holder.execute(text("SELECT id FROM users WHERE scim_id = :id FOR UPDATE"), {"id": user["id"]})
        try:
            started = time.monotonic()
            assert_busy(client.patch(f"Users/{user['id']}", json=RENAME))
            assert_busy(client.delete(f"Users/{user['id']}"))
            assert time.monotonic() - started < 5
            make_user(client, "bystander@example.com")  # another user's writer is not held up
        finally:
            transaction.rollback()
            holder.close()
        assert client.patch(f"Users/{user['id']}", json=RENAME).status_code == 200
        db.engine.dispose()


# --- Failures are journaled even while the write lock is busy, without waiting for it ----------

def journal_rows(app, request_ids) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(text("SELECT request_id, status FROM audit_events "
                                       "WHERE request_id IN :ids").bindparams(
            bindparam("ids", expanding=True)), {"ids": list(request_ids)}).all()
        db.session.rollback()
    return dict(rows)


@pytest.mark.skipif(is_postgres(), reason="SQLite's single write lock")
def test_failures_while_the_lock_is_held_are_queued_then_journaled(tmp_path, database_url, scim,
                                                                    api_key):
    user = make_user(scim)
    # A long busy timeout: a failure that waited for the lock to journal itself would take 30 s.
    app, client = short_timeout_client(tmp_path, database_url, api_key,
                                       SCIMSVC_SQLITE_BUSY_TIMEOUT=30)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    queue = journal_queue(app)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        missing = client.get("Users/no-such-user", headers={"X-Request-Id": "busy-404"})
        bad_filter = client.get("Users?filter=userName%20zz%20%22x%22",
                                headers={"X-Request-Id": "busy-400"})
        assert (missing.status_code, bad_filter.status_code) == (404, 400)
        assert time.monotonic() - started < 10  # answered without waiting for the lock
        assert queue.pending() == 2
        assert journal_rows(app, ["busy-404", "busy-400"]) == {}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert queue.flush(60)
    assert journal_rows(app, ["busy-404", "busy-400"]) == {"busy-404": 404, "busy-400": 400}
    assert client.get(f"Users/{user['id']}").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_a_503_is_journaled(tmp_path, database_url, scim, api_key):
    """SQLite: the 503's row is queued behind the lock; PostgreSQL: written at once beside it."""
    user = make_user(scim)
    timeouts = dict(SCIMSVC_SQLITE_BUSY_TIMEOUT=0.2, SCIMSVC_POSTGRES_LOCK_TIMEOUT=0.2)
    app, client = short_timeout_client(tmp_path, database_url, api_key, **timeouts)
    with app.app_context():
        holder = db.engine.connect()
        transaction = holder.begin()
        if is_postgres():
            holder.execute(text("SELECT id FROM users WHERE scim_id = :id FOR UPDATE"),
                           {"id": user["id"]})
        else:
            holder.execute(text("UPDATE users SET version = version WHERE scim_id = :id"),
                           {"id": user["id"]})
        try:
            assert_busy(client.patch(f"Users/{user['id']}", json=RENAME,
                                     headers={"X-Request-Id": "busy-503"}))
        finally:
            transaction.rollback()
            holder.close()
    assert journal_queue(app).flush(60)
    assert journal_rows(app, ["busy-503"]) == {"busy-503": 503}
    with app.app_context():
        db.engine.dispose()
