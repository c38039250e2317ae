"""The audit journal and the request log: one event per write or failure, no secret anywhere."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, Organization, User, utcnow
from scimsvc.services import audit, audit_log
from scimsvc.store import settings as settings_store
from tests.conftest import ScimClient, make_user, provision_key
from tests.scimdata import PATCH_OP, ENTERPRISE

PASSWORD = "t1meMa$heen-Secret"


def events(app) -> list[dict]:
    """Every journaled event, after the refusals counted in memory are written."""
    app.extensions["scimsvc.refusals"].flush()
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [audit_log.event_json(e) for e in rows]


def tenant_id(app, slug="default") -> int:
    with app.app_context():
        return db.session.scalar(select(Organization.id).where(Organization.slug == slug))


def patch(scim, user_id, *operations, **kw):
    return scim.patch(f"Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)},
                      **kw)


# --- writes ------------------------------------------------------------------------

def test_create_is_journaled_with_who_how_target_outcome_and_diff(app, scim):
    response = scim.post("Users", json={
        "userName": "bjensen@example.com", "name": {"givenName": "Barbara"},
        "emails": [{"value": "bjensen@example.com", "type": "work"}], "password": PASSWORD,
    }, headers={"User-Agent": "Okta SCIM Client 1.0.0", "X-Request-Id": "okta-req-1"})
    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == "okta-req-1"
    created = response.get_json()

    [event] = events(app)
    with app.app_context():
        key_id = db.session.scalar(select(AuditEvent.api_key_id))
    assert event == {
        "id": event["id"], "time": event["time"], "requestId": "okta-req-1",
        "organization": tenant_id(app), "apiKey": {"id": key_id, "name": "okta"},
        "userAgent": "Okta SCIM Client 1.0.0", "method": "POST", "path": "/scim/v2/Users",
        "operation": "create",
        "target": {"id": created["id"], "userName": "bjensen@example.com"},
        "outcome": {"status": 201, "scimType": None},
        "changes": {
            "userName": {"old": None, "new": "bjensen@example.com"},
            "name.givenName": {"old": None, "new": "Barbara"},
            "emails": {"old": None, "new": [{"value": "bjensen@example.com", "type": "work"}]},
            "active": {"old": None, "new": True},
            "password": "changed",
        },
        "clientAddress": "127.0.0.1", "refusal": None,
    }


def test_request_id_is_generated_when_absent_or_unsafe(app, scim):
    first = scim.post("Users", json={"userName": "a@example.com"})
    second = scim.post("Users", json={"userName": "b@example.com"},
                       headers={"X-Request-Id": "x" * 65})
    third = scim.post("Users", json={"userName": "c@example.com"},
                      headers={"X-Request-Id": "has spaces\tand tabs"})
    ids = [r.headers["X-Request-Id"] for r in (first, second, third)]
    assert len(set(ids)) == 3
    assert all(len(i) == 32 and i.isalnum() for i in ids)
    assert [e["requestId"] for e in events(app)] == ids


def test_put_records_old_and_new_values_of_each_changed_attribute(app, scim):
    user = make_user(scim, name={"givenName": "Barbara", "familyName": "Jensen"},
                     emails=[{"value": "bj@example.com", "type": "work"}],
                     **{ENTERPRISE: {"department": "Sales", "costCenter": "4130"}})
    response = scim.put(f"Users/{user['id']}", json={
        "userName": "bjensen@example.com", "name": {"givenName": "Babs", "familyName": "Jensen"},
        "emails": [{"value": "babs@example.com", "type": "work"}],
        ENTERPRISE: {"department": "Marketing", "costCenter": "4130"}, "title": "Tour Guide",
    })
    assert response.status_code == 200
    event = events(app)[-1]
    assert (event["operation"], event["method"], event["outcome"]) == \
        ("replace", "PUT", {"status": 200, "scimType": None})
    assert event["path"] == f"/scim/v2/Users/{user['id']}"
    assert event["changes"] == {
        "name.givenName": {"old": "Barbara", "new": "Babs"},
        "emails": {"old": [{"value": "bj@example.com", "type": "work"}],
                   "new": [{"value": "babs@example.com", "type": "work"}]},
        f"{ENTERPRISE}:department": {"old": "Sales", "new": "Marketing"},
        "title": {"old": None, "new": "Tour Guide"},
    }


def test_put_and_patch_that_flip_active_are_disable_and_enable(app, scim):
    user = make_user(scim)
    url = f"Users/{user['id']}"
    assert scim.put(url, json={"userName": "bjensen@example.com", "active": False}).status_code == 200
    assert scim.put(url, json={"userName": "bjensen@example.com", "active": True}).status_code == 200
    assert patch(scim, user["id"], {"op": "replace", "value": {"active": False}}).status_code == 200
    assert patch(scim, user["id"], {"op": "replace", "path": "active", "value": True}).status_code == 200
    journal = events(app)[1:]
    assert [(e["operation"], e["method"]) for e in journal] == [
        ("disable", "PUT"), ("enable", "PUT"), ("disable", "PATCH"), ("enable", "PATCH")]
    assert journal[0]["changes"] == {"active": {"old": True, "new": False}}
    assert journal[3]["changes"] == {"active": {"old": False, "new": True}}


def test_patch_is_journaled_as_patch_with_its_diff(app, scim):
    user = make_user(scim, displayName="Babs")
    response = patch(scim, user["id"], {"op": "replace", "path": "displayName", "value": "Barbara"},
                     {"op": "add", "path": "nickName", "value": "BJ"})
    assert response.status_code == 200
    event = events(app)[-1]
    assert event["operation"] == "patch"
    assert event["changes"] == {"displayName": {"old": "Babs", "new": "Barbara"},
                                "nickName": {"old": None, "new": "BJ"}}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_write_that_changes_nothing_is_still_journaled_with_an_empty_diff(app, scim, method):
    user = make_user(scim, displayName="Babs")
    if method == "PUT":
        response = scim.put(f"Users/{user['id']}",
                            json={"userName": "bjensen@example.com", "displayName": "Babs"})
    else:
        response = patch(scim, user["id"], {"op": "replace", "path": "displayName", "value": "Babs"})
    assert response.status_code == 200
    assert response.headers["ETag"] == user["meta"]["version"]
    event = events(app)[-1]
    assert event["outcome"]["status"] == 200
    assert event["changes"] == {}
    assert event["operation"] == ("replace" if method == "PUT" else "patch")


def test_delete_is_journaled_as_remove(app, scim):
    user = make_user(scim)
    assert scim.delete(f"Users/{user['id']}").status_code == 204
    event = events(app)[-1]
    assert (event["operation"], event["method"], event["outcome"]["status"], event["changes"]) == \
        ("remove", "DELETE", 204, {})
    assert event["target"] == {"id": user["id"], "userName": "bjensen@example.com"}


def test_each_write_writes_exactly_one_event(app, scim):
    user = make_user(scim)
    scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com", "title": "x"})
    patch(scim, user["id"], {"op": "remove", "path": "title"})
    scim.delete(f"Users/{user['id']}")
    assert [e["operation"] for e in events(app)] == ["create", "replace", "patch", "remove"]


# --- failures and refusals ------------------------------------------------------------

def test_invalid_body_400_is_journaled_and_creates_nothing(app, scim):
    response = scim.post("Users", json={"displayName": "no userName"})
    assert response.status_code == 400
    [event] = events(app)
    assert (event["operation"], event["outcome"]) == \
        ("create", {"status": 400, "scimType": "invalidValue"})
    assert event["changes"] is None and event["target"] is None
    assert event["apiKey"]["name"] == "okta"
    with app.app_context():
        assert db.session.scalar(select(User.id)) is None


def test_unauthenticated_401_records_what_is_known_and_never_the_token(app, scim):
    bogus = "scimsvc_0123456789ab_" + "A" * 43
    response = scim.get("Users/some-id", key=bogus, headers={"User-Agent": "curl/8"})
    assert response.status_code == 401
    [event] = events(app)
    assert event["organization"] is None and event["apiKey"] is None
    assert (event["operation"], event["outcome"]["status"], event["userAgent"]) == ("read", 401, "curl/8")
    assert event["refusal"] == {"reason": "unknown", "requests": 1}
    assert event["clientAddress"] == "127.0.0.1"
    assert event["requestId"] == response.headers["X-Request-Id"]
    assert bogus not in json.dumps(event) and "0123456789ab" not in json.dumps(event)


def test_forbidden_403_names_the_key_and_its_organization(app, admin, scim):
    admin("role", "create", "nothing-much", "--permission", "scim:provision")
    admin("team", "create", "outsiders")
    weak = json.loads(admin("api-key", "create", "--team", "outsiders", "--name", "weak",
                            "--json").stdout)["key"]
    response = scim.post("Users", json={"userName": "x@example.com"}, key=weak)
    assert response.status_code == 403
    [event] = events(app)
    assert event["apiKey"]["name"] == "weak"
    assert event["organization"] == tenant_id(app)
    assert (event["operation"], event["outcome"]["status"]) == ("create", 403)
    assert event["refusal"] == {"reason": "forbidden", "requests": 1}


def test_not_found_404_names_the_requested_id(app, scim):
    response = scim.delete("Users/0b7a7bd6-0000-4000-8000-000000000000")
    assert response.status_code == 404
    [event] = events(app)
    assert (event["operation"], event["outcome"]["status"]) == ("remove", 404)
    assert event["target"] == {"id": "0b7a7bd6-0000-4000-8000-000000000000", "userName": None}


def test_conflict_409_is_journaled_once_and_changes_nothing(app, scim):
    make_user(scim, "bjensen@example.com")
    other = make_user(scim, "other@example.com", title="keep")
    duplicate = scim.post("Users", json={"userName": "BJensen@example.com"})
    taken = scim.put(f"Users/{other['id']}", json={"userName": "bjensen@EXAMPLE.com"})
    assert (duplicate.status_code, taken.status_code) == (409, 409)
    journal = events(app)
    assert [(e["operation"], e["outcome"]["status"], e["outcome"]["scimType"]) for e in journal] == [
        ("create", 201, None), ("create", 201, None),
        ("create", 409, "uniqueness"), ("replace", 409, "uniqueness")]
    assert journal[3]["target"] == {"id": other["id"], "userName": "other@example.com"}
    assert scim.get(f"Users/{other['id']}").get_json()["title"] == "keep"


def test_stale_if_match_412_is_journaled_and_changes_nothing(app, scim):
    user = make_user(scim, title="keep")
    response = scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com"},
                        headers={"If-Match": 'W/"99"'})
    assert response.status_code == 412
    event = events(app)[-1]
    assert (event["operation"], event["outcome"]["status"], event["changes"]) == ("replace", 412, None)
    assert scim.get(f"Users/{user['id']}").get_json()["title"] == "keep"


# --- reads --------------------------------------------------------------------------------

def test_successful_reads_are_not_journaled_by_default(app, scim):
    user = make_user(scim)
    assert scim.get(f"Users/{user['id']}").status_code == 200
    assert scim.get("Users?filter=userName%20eq%20%22bjensen@example.com%22").status_code == 200
    assert scim.get("ServiceProviderConfig").status_code == 200
    assert [e["operation"] for e in events(app)] == ["create"]


def test_journal_reads_setting_journals_successful_reads(app, admin, scim):
    user = make_user(scim)
    admin("provisioning", "set", "--journal-reads")
    assert scim.get(f"Users/{user['id']}").status_code == 200
    assert scim.get("Users?filter=userName%20eq%20%22nobody%22").status_code == 200
    assert scim.post("Users/.search", json={"filter": 'userName eq "bjensen@example.com"'}).status_code == 200
    journal = events(app)
    assert [(e["operation"], e["outcome"]["status"]) for e in journal] == [
        ("create", 201), ("read", 200), ("list", 200), ("search", 200)]
    assert journal[1]["target"] == {"id": user["id"], "userName": "bjensen@example.com"}
    admin("provisioning", "set", "--no-journal-reads")
    scim.get(f"Users/{user['id']}")
    assert len(events(app)) == 4


# --- no secrets, and the request log ---------------------------------------------------

def test_no_password_or_key_reaches_the_journal_or_the_request_log(app, admin, scim, caplog):
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    user = make_user(scim, password=PASSWORD)
    scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com", "password": PASSWORD + "2"})
    patch(scim, user["id"], {"op": "replace", "path": "password", "value": PASSWORD + "3"})
    patch(scim, user["id"], {"op": "replace", "value": {"password": PASSWORD + "4", "title": "x"}})
    scim.post("Users", json={"userName": "bad", "password": 12345})
    scim.get("Users", key=scim.key[:-1] + "x")  # a wrong key, one character off
    scim.get(f"Users/{user['id']}", headers={"Authorization": f"Basic {scim.key}"})

    app.extensions["scimsvc.refusals"].flush()  # the two refusals' summaries
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.__table__)).mappings().all()
    journal = json.dumps([dict(r) for r in rows], default=str)
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert len(rows) == 7 and len(caplog.records) >= 7
    secret_part = scim.key.split("_", 2)[2]  # the secret itself may contain "_"
    for text in (journal, log_text):
        assert PASSWORD not in text
        assert secret_part not in text and scim.key[:-1] not in text
        assert "Bearer" not in text and "Basic" not in text
    changes = [e["changes"] for e in events(app)]
    assert changes[1] == {"password": "changed"}
    assert changes[2] == {"password": "changed"}
    assert changes[3] == {"title": {"old": None, "new": "x"}, "password": "changed"}


def test_request_log_is_one_json_line_per_request_with_the_request_id(app, scim, caplog):
    user = make_user(scim)
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    caplog.clear()
    response = scim.get(f"Users/{user['id']}", headers={"User-Agent": "Okta SCIM Client 1.0.0"})
    missing = scim.get("Users/nope")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "scimsvc.requests"]
    assert len(lines) == 2
    line = lines[0]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/scim/v2/Users/{user['id']}", 200)
    assert (line["key"], line["tenant"], line["user_agent"]) == ("okta", tenant_id(app), "Okta SCIM Client 1.0.0")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert lines[1]["status"] == 404 and lines[1]["request_id"] == missing.headers["X-Request-Id"]


def test_request_log_covers_paths_outside_the_api_without_a_key(app, caplog):
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    response = app.test_client().get("/nowhere")
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    line = json.loads(record.getMessage())
    assert (line["path"], line["status"], line["key"]) == ("/nowhere", 404, None)
    assert line["request_id"] == response.headers["X-Request-Id"]


def test_another_organizations_key_journals_into_its_own_organization(app, admin, scim):
    admin("org", "create", "beta")
    beta = ScimClient(app.test_client(), provision_key(admin, org="beta", name="beta-okta"))
    make_user(beta, "b@example.com")
    make_user(scim, "a@example.com")
    listed = json.loads(admin("--org", "beta", "audit", "list", "--json").stdout)
    assert [(e["target"]["userName"], e["apiKey"]["name"]) for e in listed] == [("b@example.com", "beta-okta")]


# --- the CLI -----------------------------------------------------------------------------

def _journal(scim):
    """A small history: alice created, disabled; bob created then a duplicate refused; a 401
    (which belongs to no organization, so no organization's list shows it)."""
    alice = make_user(scim, "alice@example.com")
    scim.put(f"Users/{alice['id']}", json={"userName": "alice@example.com", "active": False})
    make_user(scim, "bob@example.com")
    scim.post("Users", json={"userName": "BOB@example.com"})
    scim.get("Users", key="not-a-key")
    return alice


def test_audit_list_prints_a_table_oldest_first(admin, scim):
    alice = _journal(scim)
    out = admin("audit", "list").stdout.splitlines()
    assert out[0].split() == ["TIME", "OPERATION", "STATUS", "USER", "KEY", "CHANGED", "REQUEST", "ID"]
    rows = [line.split() for line in out[1:]]
    assert [r[1:5] for r in rows] == [
        ["create", "201", "alice@example.com", "okta"],
        ["disable", "200", "alice@example.com", "okta"],
        ["create", "201", "bob@example.com", "okta"],
        ["create", "409", "uniqueness", "BOB@example.com"],
    ]
    assert "active" in out[2]
    assert alice["id"] not in "\n".join(out)  # the table names users by userName


def test_audit_list_filters(admin, scim):
    _journal(scim)

    def listed(*args):
        return [(e["operation"], e["outcome"]["status"])
                for e in json.loads(admin("audit", "list", "--json", *args).stdout)]

    assert listed("--user", "ALICE@example.com") == [("create", 201), ("disable", 200)]
    assert listed("--op", "create") == [("create", 201), ("create", 201), ("create", 409)]
    assert listed("--status", "4xx") == [("create", 409)]
    assert listed("--status", "409") == [("create", 409)]
    assert listed("--key", "okta", "--op", "disable") == [("disable", 200)]
    assert len(listed("--since", "1h")) == 4
    assert listed("--since", (utcnow() + timedelta(hours=1)).isoformat() + "Z") == []
    assert listed("--limit", "2") == [("create", 201), ("create", 409)]


@pytest.mark.parametrize("args, message", [
    (("--since", "yesterday"), "neither a date-time"),
    (("--status", "abc"), "not an HTTP status"),
    (("--op", "frobnicate"), "frobnicate"),
])
def test_audit_list_rejects_bad_options_in_one_line(admin, args, message):
    result = admin("audit", "list", *args, ok=False)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_audit_export_writes_one_json_event_per_line(admin, scim, app):
    _journal(scim)
    journaled = events(app)
    result = admin("audit", "export", "--format", "jsonl")
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [e for e in journaled if e["organization"]]
    refusals = admin("audit", "export", "--refusals").stdout.splitlines()
    assert [json.loads(line) for line in refusals] == [e for e in journaled if not e["organization"]]
    assert len(refusals) == 1


def _bulk_events(app, count: int, *, days_old: int = 0) -> None:
    with app.app_context():
        at = utcnow() - timedelta(days=days_old)
        db.session.execute(AuditEvent.__table__.insert(), [
            {"tenant_id": tenant_id(app), "at": at, "request_id": f"bulk-{days_old}-{i}", "method": "POST",
             "path": "/scim/v2/Users", "operation": "create", "status": 201,
             "target_user_name": f"user{i}@example.com", "changes": {}}
            for i in range(count)])
        db.session.commit()


def test_large_export_to_a_file_shows_progress_on_stderr(admin, app, tmp_path):
    _bulk_events(app, 1500)
    target = tmp_path / "journal.jsonl"
    result = admin("audit", "export", "--output", str(target))
    assert result.stdout == ""
    assert "Exporting audit events" in result.stderr
    assert f"Exported 1500 events to {target}." in result.stderr
    lines = target.read_text().splitlines()
    assert len(lines) == 1500
    assert json.loads(lines[0])["requestId"] == "bulk-0-0"
    assert json.loads(lines[-1])["requestId"] == "bulk-0-1499"


def test_export_streams_without_keeping_events_in_the_session(app, admin):
    _bulk_events(app, 2500)
    with app.app_context():
        seen = 0
        for _ in audit_log.iter_events(tenant_id(app), batch=500):
            seen += 1
            assert len(db.session.identity_map) <= 500
        assert seen == 2500


def test_prune_asks_first_and_deletes_only_older_events(admin, app, scim):
    make_user(scim)
    _bulk_events(app, 3, days_old=40)
    declined = admin("audit", "prune", "--older-than", "30", input="n\n", ok=False)
    assert declined.exit_code == 1
    assert "Delete 3 audit events older than 30 days?" in declined.output
    assert len(events(app)) == 4
    accepted = admin("audit", "prune", "--older-than", "30", input="y\n")
    assert "Deleted 3 audit events older than 30 days." in accepted.stdout
    assert [e["operation"] for e in events(app)] == ["create"]
    assert admin("audit", "prune", "--older-than", "30", "--yes").stdout.strip() == \
        "No audit events older than 30 days."


def test_prune_in_batches_with_yes(admin, app):
    _bulk_events(app, 12, days_old=10)
    with app.app_context():
        assert audit_log.prune_events(tenant_id(app), 5, batch=5) == 12
    assert events(app) == []
    assert admin("audit", "prune", "--older-than", "1", "-y").exit_code == 0


def test_prune_never_touches_another_organizations_events(admin, app):
    admin("org", "create", "beta")
    _bulk_events(app, 2, days_old=40)
    with app.app_context():
        beta = tenant_id(app, "beta")
        db.session.execute(update(AuditEvent).where(AuditEvent.request_id == "bulk-40-1")
                           .values(tenant_id=beta))
        db.session.commit()
    admin("audit", "prune", "--older-than", "30", "--yes")
    assert [e["requestId"] for e in events(app)] == ["bulk-40-1"]


# --- cost ------------------------------------------------------------------------------------

class Statements:
    """Collects the SQL statements the app sends, whichever way: the engine's executes,
    and the prepared reads and writes that go straight to the DBAPI cursor."""

    def __init__(self, app, monkeypatch):
        from sqlalchemy import event

        from scimsvc.database.prepared import PreparedQuery
        from scimsvc.database.prepared import PreparedWrite

        self.seen: list[str] = []
        with app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._record)
        query_run, write_run = PreparedQuery._run, PreparedWrite._run

        def prepared_query(connection, plan, *args, **kwargs):
            self.seen.append(" ".join(plan.sql.split()))
            return query_run(connection, plan, *args, **kwargs)

        def prepared_write(connection, sql, *args, **kwargs):
            self.seen.append(" ".join(sql.split()))
            return write_run(connection, sql, *args, **kwargs)

        monkeypatch.setattr(PreparedQuery, "_run", staticmethod(prepared_query))
        monkeypatch.setattr(PreparedWrite, "_run", staticmethod(prepared_write))

    def _record(self, _conn, _cursor, statement, *_args):
        self.seen.append(" ".join(statement.split()))

    def close(self):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)


def test_a_write_costs_one_insert_and_a_read_no_query_for_the_journal(app, scim, monkeypatch):
    monkeypatch.setattr(settings_store, "READS_SETTING_TTL", 3600.0)  # no dependence on the clock
    user = make_user(scim)
    scim.get(f"Users/{user['id']}")  # the journal_reads setting is now cached
    statements = Statements(app, monkeypatch)
    try:
        scim.get(f"Users/{user['id']}")
        reads = list(statements.seen)
        statements.seen.clear()
        scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com", "title": "x"})
        writes = list(statements.seen)
    finally:
        statements.close()
    assert not [s for s in reads if "audit_events" in s or "provisioning_settings" in s]
    assert [s for s in writes if "audit_events" in s] == [
        s for s in writes if s.startswith("INSERT INTO audit_events")]
    assert len([s for s in writes if "audit_events" in s]) == 1


def test_patch_removing_the_password_is_journaled_as_changed(app, scim):
    user = make_user(scim, password=PASSWORD)
    response = patch(scim, user["id"], {"op": "remove", "path": "password"})
    assert response.status_code == 200
    event = events(app)[-1]
    assert (event["operation"], event["changes"]) == ("patch", {"password": "changed"})
    with app.app_context():
        assert db.session.scalar(select(User.password_hash)) is None


def test_an_overlong_id_in_the_path_is_journaled_cut_to_the_column(app, scim):
    response = scim.get("Users/" + "x" * 100, headers={"User-Agent": "u" * 2000})
    assert response.status_code == 404
    [event] = events(app)
    assert event["target"]["id"] == "x" * 36
    assert event["userAgent"] == "u" * 512
    assert event["path"] == "/scim/v2/Users/" + "x" * 100


def test_the_event_and_the_change_commit_together_or_not_at_all(app, scim, monkeypatch):
    user = make_user(scim, title="before")
    real_record = audit.record

    def broken_record(*args, **kwargs):
        # NOT NULL: the event's INSERT fails, after the user's UPDATE in the same transaction.
        audit.current().request_id = None
        return real_record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", broken_record)
    response = scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com", "title": "after"})
    assert response.status_code == 500
    monkeypatch.setattr(audit, "record", real_record)
    assert scim.get(f"Users/{user['id']}").get_json()["title"] == "before"
    assert [e["operation"] for e in events(app)] == ["create"]
