"""/healthz and /readyz: no key, nothing journaled, not in the request log at INFO."""
from __future__ import annotations

import json
import logging

from sqlalchemy import func, select, text

from scimsvc.extensions import db
from scimsvc.models import AuditEvent
from scimsvc.database.migrate import head_revision, upgrade


def _journal_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_healthz_answers_without_a_key_or_a_database(app):
    response = app.test_client().get("/healthz")  # the database is still empty
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_200_on_a_database_at_head_and_journals_nothing(admin, app, caplog):
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    client = app.test_client()
    for _ in range(3):
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ready"}
        assert client.get("/healthz").status_code == 200
    assert _journal_rows(app) == 0
    assert [r for r in caplog.records if r.name == "scimsvc.requests"] == []


def test_probes_are_logged_at_debug(admin, app, caplog):
    caplog.set_level(logging.DEBUG, logger="scimsvc.requests")
    app.test_client().get("/readyz")
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    assert record.levelno == logging.DEBUG
    assert json.loads(record.getMessage())["path"] == "/readyz"


def test_readyz_is_503_on_an_empty_database(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable",
                                   "reason": "The database is not initialised: run 'scimsvc init'."}


def test_readyz_is_503_on_a_schema_behind_the_code(app):
    with app.app_context():
        upgrade("0001")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"] == (
        f"The database schema is at revision 0001, this scimsvc needs {head_revision()}: "
        "run 'scimsvc db upgrade'.")


def test_readyz_is_503_on_a_schema_a_newer_scimsvc_upgraded(admin, app):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith(
        "The database is at revision 9999_future, which this scimsvc does not know")


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    from scimsvc import create_app

    # A folder where the SQLite file should be: the database cannot be opened.
    (tmp_path / "db").mkdir()
    broken = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                         "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db'}"})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reason"].startswith("The database does not answer: ")
