"""Change events: every type through SCIM and the CLI, written with the change, read from the feed."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import text

from scimsvc.extensions import db
from scimsvc.services import cursors, events
from scimsvc.services.organizations import get_organization
from tests.conftest import make_user
from tests.product.conftest import assert_error
from tests.scimdata import CORE_USER

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
KEYS = {"id", "sequence", "type", "occurredAt", "organization", "source", "actor", "requestId",
        "changes", "user"}


def feed(product, query=""):
    response = product.get(f"/api/v1/events?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def all_events(product):
    return feed(product, "limit=1000")["data"]


def _patch(scim, user_id, *operations, headers=None):
    response = scim.patch(f"Users/{user_id}", json={"schemas": [PATCH], "Operations": list(operations)},
                          headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_every_user_event_through_scim(scim, product):
    alice = make_user(scim, "alice@example.com", externalId="00u-alice", name={"givenName": "Alice"},
                      password="S3cret!pw")
    _patch(scim, alice["id"], {"op": "replace", "path": "name.givenName", "value": "Al"},
           {"op": "replace", "path": "password", "value": "N3w!secret"},
           headers={"X-Request-Id": "req-update-1"})
    _patch(scim, alice["id"], {"op": "replace", "path": "active", "value": False})
    _patch(scim, alice["id"], {"op": "replace", "path": "active", "value": True})
    _patch(scim, alice["id"], {"op": "replace", "path": "name.givenName", "value": "Al"})  # no change
    assert scim.delete(f"Users/{alice['id']}").status_code == 204
    again = make_user(scim, "alice@example.com", externalId="00u-alice")  # the account comes back

    events = all_events(product)
    assert [e["type"] for e in events] == ["user.created", "user.updated", "user.disabled",
                                           "user.enabled", "user.removed", "user.restored"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(set(e) == KEYS for e in events)
    assert all((e["source"], e["actor"], e["organization"]) == ("scim", "okta", "default")
               for e in events)
    assert len({e["id"] for e in events}) == 6 and all(e["id"].startswith("evt_") for e in events)

    created, updated, disabled, enabled, removed, restored = events
    assert {"userName", "name.givenName", "password", "active"} <= set(created["changes"])
    assert updated["changes"] == ["name.givenName", "password"]
    assert updated["requestId"] == "req-update-1"
    assert disabled["changes"] == ["active"] and disabled["user"]["status"] == "disabled"
    assert enabled["user"]["status"] == "active"
    assert removed["user"]["status"] == "removed" and removed["changes"] == []
    assert restored["user"]["id"] == again["id"] != alice["id"] and "id" in restored["changes"]
    assert updated["user"]["version"] == 2
    # Secrets never appear: not the passwords, nor their hashes.
    dumped = json.dumps(events)
    assert "S3cret" not in dumped and "N3w!" not in dumped and "scrypt" not in dumped


def test_the_user_is_as_it_stood_after_the_change(admin, scim, product):
    admin("role", "create", "reader", "--permission", "directory:read")
    admin("team", "create", "staff", "--role", "reader")
    admin("provisioning", "assign-team", "staff")
    alice = make_user(scim, "alice@example.com")
    _patch(scim, alice["id"], {"op": "add", "path": "displayName", "value": "Alice A."})
    created, updated = all_events(product)
    assert created["user"]["displayName"] is None and updated["user"]["displayName"] == "Alice A."
    assert created["user"]["teams"] == ["staff"] and created["user"]["permissions"] == ["directory:read"]
    assert updated["user"] == product.get(f"/api/v1/users/{alice['id']}").get_json()


def test_a_write_that_fails_writes_no_event(scim, product):
    alice = make_user(scim, "alice@example.com")
    duplicate = scim.post("Users", json={"schemas": [CORE_USER], "userName": "ALICE@example.com"})
    assert duplicate.status_code == 409
    stale = scim.patch(f"Users/{alice['id']}", headers={"If-Match": 'W/"7"'}, json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]})
    assert stale.status_code == 412
    assert [e["type"] for e in all_events(product)] == ["user.created"]
    make_user(scim, "bob@example.com")
    assert [e["sequence"] for e in all_events(product)] == [1, 2]  # no gap from the rollbacks


@pytest.fixture
def staffed(admin, scim):
    """Users alice and bob in team staff (role chatter: chat:use), carol in no team."""
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("permission", "add", "models:use", "--title", "Use the models")
    admin("role", "create", "chatter", "--permission", "chat:use")
    admin("team", "create", "staff", "--role", "chatter")
    admin("provisioning", "assign-team", "staff")
    users = {name: make_user(scim, f"{name}@example.com") for name in ("alice", "bob")}
    admin("provisioning", "assign-team", "--off")
    users["carol"] = make_user(scim, "carol@example.com")
    return users


def test_every_access_change_through_the_cli(admin, staffed, product):
    start = feed(product, "limit=1000")["next"]
    names = lambda events: sorted(e["user"]["userName"] for e in events)  # noqa: E731

    steps = [
        (("role", "add-permission", "chatter", "models:use"), ["permissions"]),
        (("role", "remove-permission", "chatter", "models:use"), ["permissions"]),
        (("role", "create", "modeller", "--permission", "models:use"), None),  # no member moves
        (("team", "add-role", "staff", "modeller"), ["roles", "permissions"]),
        (("team", "remove-role", "staff", "modeller"), ["roles", "permissions"]),
        (("team", "add-role", "staff", "modeller"), ["roles", "permissions"]),
        (("role", "delete", "modeller", "--yes"), ["roles", "permissions"]),
        (("team", "delete", "staff", "--yes"), ["teams", "roles", "permissions"]),
    ]
    for command, changes in steps:
        admin(*command)
        body = feed(product, f"after={start}&limit=1000")
        written, start = body["data"], body["next"]
        if changes is None:
            assert written == [], command
            continue
        assert [e["type"] for e in written] == ["user.access_changed"] * 2, command
        assert names(written) == ["alice@example.com", "bob@example.com"], command
        assert all(e["changes"] == changes for e in written), (command, written[0]["changes"])
        assert all((e["source"], e["actor"]) == ("cli", "cli") for e in written)
        assert len({e["requestId"] for e in written}) == 1  # one command, one request id
    last = written[0]["user"]
    assert (last["teams"], last["roles"], last["permissions"]) == ([], [], [])


def test_an_access_change_that_moves_nothing_writes_nothing(admin, staffed, product):
    admin("role", "create", "chatter-too", "--permission", "chat:use")
    admin("team", "create", "also-staff", "--role", "chatter-too")
    start = feed(product, "limit=1000")["next"]
    # alice and bob already hold chat:use through chatter; chatter-too adds a role name only.
    admin("team", "add-role", "staff", "chatter-too")
    written = feed(product, f"after={start}")["data"]
    assert [e["changes"] for e in written] == [["roles"], ["roles"]]


def test_removed_members_get_no_access_event(admin, staffed, scim, product):
    scim.delete(f"Users/{staffed['bob']['id']}")
    start = feed(product, "limit=1000")["next"]
    admin("team", "remove-role", "staff", "chatter")
    assert [e["user"]["userName"] for e in feed(product, f"after={start}")["data"]] == \
        ["alice@example.com"]


def test_permission_remove_is_refused_while_granted(admin, staffed):
    result = admin("permission", "remove", "chat:use", ok=False)
    assert result.exit_code == 1
    assert "granted by role(s) chatter" in result.output


def test_feed_paging_with_the_cursor(scim, product):
    for i in range(5):
        make_user(scim, f"user{i}@example.com")
    first = feed(product, "limit=2")
    assert [e["sequence"] for e in first["data"]] == [1, 2]
    second = feed(product, f"limit=2&after={first['next']}")
    third = feed(product, f"limit=2&after={second['next']}")
    assert [e["sequence"] for e in second["data"] + third["data"]] == [3, 4, 5]
    empty = feed(product, f"after={third['next']}")
    assert empty == {"data": [], "next": third["next"]}  # keep polling from the same place


def test_feed_before_any_event_gives_a_cursor_that_sees_the_first(scim, product):
    start = feed(product)
    assert start["data"] == []
    make_user(scim)
    assert [e["sequence"] for e in feed(product, f"after={start['next']}")["data"]] == [1]


@pytest.mark.parametrize("query, status, code", [
    ("after=garbage", 400, "invalid_request"),
    ("wait=31", 400, "invalid_request"),
    ("wait=-1", 400, "invalid_request"),
    ("wait=soon", 400, "invalid_request"),
    ("wait=%D9%A1", 400, "invalid_request"),  # an Arabic-Indic 1, which float() reads
    ("limit=0", 400, "invalid_request"),
    ("limit=%C2%B2", 400, "invalid_request"),  # '²': str.isdigit() says yes, int() no
    ("after=" + cursors.encode("e", 10**25 - 1), 400, "invalid_request"),  # past bigint
    ("after=" + cursors.encode("e", 2**63), 400, "invalid_request"),
])
def test_feed_parameters_are_checked(product, query, status, code):
    assert_error(product.get(f"/api/v1/events?{query}"), status, code)


def test_a_cursor_ahead_of_the_feed_is_refused(scim, product):
    make_user(scim)
    assert_error(product.get(f"/api/v1/events?after={_cursor(99)}"), 400,
                 "invalid_request", "ahead")
    assert_error(product.get(f"/api/v1/events?after={_cursor(2**63 - 1)}"), 400,
                 "invalid_request", "ahead")


def test_long_poll_returns_when_an_event_arrives(app, scim, product):
    start = feed(product)["next"]
    timer = threading.Timer(0.3, lambda: make_user(scim, "late@example.com"))
    timer.start()
    try:
        body = feed(product, f"after={start}&wait=10")
    finally:
        timer.join()
    assert [e["user"]["userName"] for e in body["data"]] == ["late@example.com"]


def test_long_poll_without_events_answers_empty_with_the_same_cursor(scim, product):
    make_user(scim)
    start = feed(product)["next"]
    assert feed(product, f"after={start}&wait=0.3") == {"data": [], "next": start}


def _age_events(app, through: int) -> None:
    """Date the events up to sequence ``through`` years back (past any retention)."""
    with app.app_context():
        db.session.execute(text("UPDATE events SET occurred_at = :when WHERE sequence <= :through"),
                           {"when": datetime(2020, 1, 1), "through": through})
        db.session.commit()


@pytest.fixture
def purge_on_read(app, admin, monkeypatch):
    """The feed's hourly purge: due now (``due`` True, as in a new process) or just done."""
    with app.app_context():
        tenant_id = get_organization("default").id

    def set_due(due: bool) -> None:
        monkeypatch.setattr(events, "_last_purge", {} if due else {tenant_id: time.monotonic()})
    return set_due


def test_a_cursor_older_than_retention_is_410(app, scim, product, purge_on_read):
    purge_on_read(False)
    for i in range(3):
        make_user(scim, f"user{i}@example.com")
    _age_events(app, through=2)  # events 1 and 2 are past the 30 days
    body = assert_error(product.get("/api/v1/events?after=" + _cursor(0)), 410, "cursor_expired",
                        "resynchronise from /api/v1/users")
    assert "/api/v1/users" in body["error"]["message"]
    # Without a cursor the feed starts at the oldest event still retained.
    assert [e["sequence"] for e in feed(product)["data"]] == [3]
    assert [e["sequence"] for e in feed(product, "after=" + _cursor(2))["data"]] == [3]

    with app.app_context():
        assert events.purge_expired(1) == 2
    assert_error(product.get("/api/v1/events?after=" + _cursor(1)), 410, "cursor_expired")
    assert [e["sequence"] for e in feed(product, "after=" + _cursor(2))["data"]] == [3]


def _cursor(sequence: int) -> str:
    return cursors.encode("e", sequence)


def test_the_feed_purges_expired_events_itself(app, scim, product, purge_on_read):
    purge_on_read(True)
    for i in range(3):
        make_user(scim, f"user{i}@example.com")
    _age_events(app, through=2)
    assert [e["sequence"] for e in feed(product)["data"]] == [3]
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM events")).scalar() == 1
    assert_error(product.get("/api/v1/events?after=" + _cursor(1)), 410, "cursor_expired")


def test_events_purge_command(app, admin, scim):
    for i in range(3):
        make_user(scim, f"user{i}@example.com")
    _age_events(app, through=2)
    assert admin("events", "purge").stdout == "2 event(s) older than 30 days deleted.\n"
    assert [e["sequence"] for e in json.loads(admin("events", "list", "--json").stdout)] == [3]


def test_retention_is_a_setting(app, admin, scim, product, purge_on_read):
    purge_on_read(False)
    make_user(scim)
    _age_events(app, through=1)
    app.config["SCIMSVC_EVENT_RETENTION_DAYS"] = 10_000
    assert [e["sequence"] for e in feed(product, "after=" + _cursor(0))["data"]] == [1]


def test_concurrent_writers_get_distinct_increasing_sequences(app, scim, product):
    errors = []

    def create(i):
        response = scim.post("Users", json={"schemas": [CORE_USER], "userName": f"c{i}@example.com"})
        if response.status_code != 201:
            errors.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e["sequence"] for e in all_events(product)] == list(range(1, 9))


def test_events_list_for_people(admin, scim):
    alice = make_user(scim, "alice@example.com")
    scim.delete(f"Users/{alice['id']}")
    output = admin("events", "list").stdout.splitlines()
    assert output[0].split() == ["SEQUENCE", "OCCURRED", "TYPE", "USER", "SOURCE", "ACTOR", "CHANGES"]
    assert [line.split()[2] for line in output[1:]] == ["user.created", "user.removed"]
    data = json.loads(admin("events", "list", "--json", "--after", "1").stdout)
    assert [(e["sequence"], e["type"]) for e in data] == [(2, "user.removed")]
    data = json.loads(admin("events", "list", "--json", "--type", "user.created").stdout)
    assert [e["type"] for e in data] == ["user.created"]
    result = admin("events", "list", "--type", "user.exploded", ok=False)
    assert result.exit_code == 2
    for after in ("99999999999999999999999", str(2**63), "-1"):  # past a bigint: refused
        result = admin("events", "list", "--after", after, ok=False)
        assert result.exit_code == 2 and "Invalid value for '--after'" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert admin("events", "list", "--json", "--after", str(2**63 - 1)).stdout.strip() == "[]"


def test_the_admins_lifecycle_commands_are_events_of_the_cli(admin, scim, product):
    """scimsvc user disable / enable / remove / restore and team add-member: the same events as
    the SCIM operations, with source and actor ``cli``."""
    admin("team", "create", "admins")
    alice = make_user(scim, "alice@example.com", externalId="00u-alice")
    for command in (("user", "disable", "alice@example.com"), ("user", "enable", "ALICE@example.com"),
                    ("team", "add-member", "admins", "alice@example.com"),
                    ("user", "remove", alice["id"]), ("user", "restore", alice["id"])):
        assert admin(*command).exit_code == 0, command
    events = all_events(product)
    assert [e["type"] for e in events] == ["user.created", "user.disabled", "user.enabled",
                                           "user.access_changed", "user.removed", "user.restored"]
    assert [(e["source"], e["actor"]) for e in events[1:]] == [("cli", "cli")] * 5
    assert events[3]["changes"] == ["teams"] and events[3]["user"]["teams"] == ["admins"]
    restored = events[-1]["user"]
    assert (restored["status"], restored["userName"], restored["teams"]) == \
        ("active", "alice@example.com", ["admins"])
    assert restored["id"] != alice["id"]  # a restore gives the account a new SCIM id
