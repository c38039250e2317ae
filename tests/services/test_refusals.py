"""Refused requests cost nothing: no write while served, one summary row per minute, in their organization."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from scimsvc.extensions import db
from scimsvc.models import AuditEvent
from scimsvc.services import audit, keys, refusals as refusals_module
from scimsvc.services.refusals import Refusals
from tests.conftest import ScimClient, _test_app, make_user
from tests.databases import is_postgres
from tests.services.test_audit import Statements, events, tenant_id
from tests.sqltrace import sqlite_statements

INVENTED = "scimsvc_0123456789ab_" + "A" * 43


def refusals(app) -> Refusals:
    return app.extensions["scimsvc.refusals"]


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements
            if s.split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")
            or s.upper().startswith("BEGIN IMMEDIATE")]


def test_a_flood_of_invented_keys_writes_nothing_and_is_one_row(app, scim, monkeypatch):
    statements = Statements(app, monkeypatch)
    try:
        for i in range(50):
            assert scim.get("Users", key=INVENTED, headers={"User-Agent": f"flood/{i}"}).status_code == 401
            assert app.test_client().get("/scim/v2/Users").status_code == 401
        seen = list(statements.seen)
    finally:
        statements.close()
    assert _writes(seen) == []
    assert refusals(app).pending() == 100
    rows = {(e["refusal"]["reason"], e["refusal"]["requests"], e["clientAddress"], e["organization"])
            for e in events(app)}
    # Two reasons in (almost always) one minute; at a minute's turn a reason gets a second row.
    assert {r[0] for r in rows} == {"unknown", "no_key"}
    assert sum(r[1] for r in rows) == 100 and len(rows) <= 4
    assert {r[2:] for r in rows} == {("127.0.0.1", None)}
    assert refusals(app).pending() == 0


@pytest.mark.skipif(is_postgres(), reason="SQLite's own trace: every statement, BEGINs included")
def test_sqlite_sees_no_write_lock_taken_by_refusals(admin, app):
    client = ScimClient(app.test_client(), INVENTED)
    with sqlite_statements(app) as seen:
        for _ in range(20):
            assert client.get("Users").status_code == 401
    assert not [s for s in seen if s.startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE"))]


def test_flushes_add_to_the_minutes_row_instead_of_writing_another(app, scim):
    for _ in range(3):
        scim.get("Users", key=INVENTED)
    assert refusals(app).flush() == 3
    for _ in range(2):
        scim.get("Users", key=INVENTED)
    assert refusals(app).flush() == 2
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.at, AuditEvent.repeats)
                                  .where(AuditEvent.reason == "unknown")).all()
    assert sum(r.repeats for r in rows) == 5
    assert len(rows) == len({r.at for r in rows})  # one row per minute
    assert all(r.at.second == 0 and r.at.microsecond == 0 for r in rows)


def test_two_processes_flushing_the_same_minute_share_one_row(app, scim):
    """Two workers' counts (two Refusals of one database) end in one row per minute."""
    other = Refusals(app.app_context)
    scim.get("Users", key=INVENTED)
    context = audit.RequestContext(request_id="r2", method="GET", path="/scim/v2/Users",
                                   operation="list", client_address="127.0.0.1", refusal="unknown")
    other.add(context, 401)
    refusals(app).flush()
    other.flush()
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.at, AuditEvent.repeats)
                                  .where(AuditEvent.reason == "unknown")).all()
    assert sum(r.repeats for r in rows) == 2 and len(rows) == len({r.at for r in rows})
    other.stop()


@pytest.mark.parametrize("state", ["revoked", "expired", "forbidden"])
def test_a_known_keys_refusal_is_journaled_in_its_organization_and_names_it(admin, app, state,
                                                                           monkeypatch):
    admin("org", "create", "beta")
    admin("--org", "beta", "role", "create", "p", "--permission", "scim:provision")
    admin("--org", "beta", "team", "create", "idp", "--role", "p")
    secret = admin("--org", "beta", "api-key", "create", "--team", "idp", "--name", "beta-okta",
                   "--expires-in", "1").stdout.strip()
    if state == "revoked":
        admin("--org", "beta", "api-key", "revoke", "beta-okta", "--yes")
    elif state == "expired":
        later = keys.utcnow() + timedelta(days=2)
        monkeypatch.setattr(keys, "utcnow", lambda: later)
    else:
        admin("--org", "beta", "team", "remove-role", "idp", "p")
    client = ScimClient(app.test_client(), secret)
    statements = Statements(app, monkeypatch)
    try:
        for _ in range(3):
            assert client.get("Users").status_code == (403 if state == "forbidden" else 401)
        seen = list(statements.seen)
    finally:
        statements.close()
    assert _writes(seen) == []
    [event] = events(app)
    assert event["organization"] == tenant_id(app, "beta")
    assert event["apiKey"]["name"] == "beta-okta"
    assert event["refusal"] == {"reason": state, "requests": 3}
    # In beta's journal, not in default's, and not among the tenantless refusals.
    beta = json.loads(admin("--org", "beta", "audit", "list", "--json").stdout)
    assert [e["refusal"] for e in beta] == [{"reason": state, "requests": 3}]
    assert json.loads(admin("audit", "list", "--json").stdout) == []
    assert json.loads(admin("audit", "list", "--refusals", "--json").stdout) == []


def test_tenantless_refusals_only_in_audit_list_refusals(admin, app, scim):
    make_user(scim, "alice@example.com")
    ScimClient(app.test_client(), INVENTED).get("Users/abc", headers={"User-Agent": "probe/1"})
    refusals(app).flush()
    org = json.loads(admin("audit", "list", "--json").stdout)
    assert [e["operation"] for e in org] == ["create"]
    assert org[0]["clientAddress"] == "127.0.0.1"  # every event carries the client's address
    [refusal] = json.loads(admin("audit", "list", "--refusals", "--json").stdout)
    assert (refusal["organization"], refusal["refusal"], refusal["userAgent"], refusal["path"]) == \
        (None, {"reason": "unknown", "requests": 1}, "probe/1", "/scim/v2/Users/abc")
    table = admin("audit", "list", "--refusals").stdout.splitlines()
    assert table[0].split()[:4] == ["MINUTE", "REASON", "STATUS", "REQUESTS"]
    assert table[1].split()[1:5] == ["unknown", "401", "1", "127.0.0.1"]


def test_no_prune_deletes_another_organizations_or_the_tenantless_rows(admin, app, scim):
    admin("org", "create", "beta")
    make_user(scim, "alice@example.com")
    ScimClient(app.test_client(), INVENTED).get("Users")
    refusals(app).flush()
    with app.app_context():
        beta = tenant_id(app, "beta")
        db.session.execute(update(AuditEvent).values(at=keys.utcnow() - timedelta(days=90)))
        db.session.execute(AuditEvent.__table__.insert(), [{
            "tenant_id": beta, "at": keys.utcnow() - timedelta(days=90), "request_id": "beta-1",
            "method": "POST", "path": "/scim/v2/Users", "operation": "create", "status": 201}])
        db.session.commit()
    assert "Deleted 1 audit event " in admin("audit", "prune", "--older-than", "30", "--yes").stdout
    left = {(e["organization"], e["requestId"] == "beta-1") for e in events(app)}
    assert left == {(None, False), (beta, True)}
    assert "Deleted 1 audit event " in admin("audit", "prune", "--older-than", "30", "--refusals",
                                             "--yes").stdout
    assert [e["organization"] for e in events(app)] == [beta]


def test_the_background_thread_journals_without_a_request(tmp_path, database_url, admin):
    fast = _test_app(tmp_path, database_url, SCIMSVC_REFUSAL_FLUSH_SECONDS=0.05)
    try:
        ScimClient(fast.test_client(), INVENTED).get("Users")
        deadline, journaled = time.monotonic() + 30, None
        while journaled is None and time.monotonic() < deadline:
            time.sleep(0.02)
            with fast.app_context():
                journaled = db.session.scalar(select(func.sum(AuditEvent.repeats)))
        assert journaled == 1 and refusals(fast).pending() == 0
    finally:
        refusals(fast).stop()
        with fast.app_context():
            db.session.remove()
            db.engine.dispose()


def _rename_journal(app, old: str, new: str) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


def test_a_failed_flush_keeps_the_counts(app, scim):
    scim.get("Users", key=INVENTED)
    _rename_journal(app, "audit_events", "audit_events_away")  # the database refuses the write
    try:
        assert refusals(app).flush() == 0 and refusals(app).pending() == 1
    finally:
        _rename_journal(app, "audit_events_away", "audit_events")
    assert refusals(app).flush() == 1 and refusals(app).pending() == 0


def test_memory_is_bounded_under_many_addresses(admin, app, monkeypatch):
    monkeypatch.setattr(refusals_module, "MAX_PENDING", 3)
    counts = refusals(app)
    for i in range(10):
        counts.add(audit.RequestContext(request_id=f"r{i}", method="GET", path="/scim/v2/Users",
                                        client_address=f"10.0.0.{i}", refusal="unknown"), 401)
    assert len(counts._pending) <= 4 and counts.pending() == 10
    counts.flush()
    assert sum(e["refusal"]["requests"] for e in events(app)) == 10
