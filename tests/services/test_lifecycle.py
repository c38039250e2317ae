"""The user lifecycle: disable, remove and return, through SCIM and as the CLI shows it."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, User, team_members
from tests.conftest import make_user
from tests.scimdata import PATCH_OP


@pytest.fixture
def staff(admin, scim):
    """Users created over SCIM join team 'staff', whose role grants scim:provision."""
    admin("role", "create", "member", "--permission", "scim:provision")
    admin("team", "create", "staff", "--role", "member")
    admin("provisioning", "assign-team", "staff")
    return scim


def show(admin, name: str) -> dict:
    return json.loads(admin("user", "show", name, "--json").stdout)


def account(app, scim_id: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.scim_id == scim_id))


def memberships(app, user_id: int) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(
            select(team_members.c.team_id).where(team_members.c.user_id == user_id)))


def deactivate(scim, user_id: str, active: bool = False):
    """Okta's deactivate: a path-less replace of active."""
    return scim.patch(f"Users/{user_id}", json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active}}]})


def search(scim, user_name: str) -> list[dict]:
    response = scim.get(f'Users?filter=userName eq "{user_name}"')
    assert response.status_code == 200
    return response.get_json()["Resources"]


# --- disable ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["PATCH", "PUT"])
def test_disabled_user_stays_visible_loses_access_keeps_teams(admin, staff, how):
    user = make_user(staff, "alice@example.com", title="Engineer")
    assert show(admin, "alice@example.com")["permissions"] == [
        {"action": "scim:provision", "scope": "tenant"}]
    if how == "PATCH":
        response = deactivate(staff, user["id"])
    else:
        response = staff.put(f"Users/{user['id']}", json={
            "userName": "alice@example.com", "title": "Engineer", "active": False})
    assert response.status_code == 200 and response.get_json()["active"] is False

    fetched = staff.get(f"Users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json()["active"] is False and fetched.get_json()["title"] == "Engineer"
    assert [u["id"] for u in search(staff, "alice@example.com")] == [user["id"]]
    shown = show(admin, "alice@example.com")
    assert (shown["status"], shown["teams"], shown["roles"], shown["permissions"]) == \
        ("disabled", ["staff"], ["member"], [])


def test_re_enabling_restores_access(admin, staff):
    user = make_user(staff, "alice@example.com")
    deactivate(staff, user["id"])
    assert deactivate(staff, user["id"], active=True).get_json()["active"] is True
    shown = show(admin, "alice@example.com")
    assert shown["status"] == "active"
    assert shown["permissions"] == [{"action": "scim:provision", "scope": "tenant"}]


def test_active_sent_as_a_string_disables(admin, staff):
    user = make_user(staff, "alice@example.com")
    response = staff.patch(f"Users/{user['id']}", json={
        "schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    assert response.status_code == 200
    assert show(admin, "alice@example.com")["status"] == "disabled"


# --- remove ---------------------------------------------------------------------------

def test_removed_user_is_404_for_every_operation(staff):
    user = make_user(staff, "alice@example.com")
    url = f"Users/{user['id']}"
    assert staff.delete(url).status_code == 204
    assert staff.get(url).status_code == 404
    assert staff.put(url, json={"userName": "alice@example.com"}).status_code == 404
    assert deactivate(staff, user["id"]).status_code == 404
    assert staff.delete(url).status_code == 404
    assert search(staff, "alice@example.com") == []


def test_removed_user_keeps_its_account_and_memberships(app, admin, staff):
    user = make_user(staff, "alice@example.com")
    before = account(app, user["id"])
    staff.delete(f"Users/{user['id']}")
    after = account(app, user["id"])
    assert after is not None and after.id == before.id and after.deleted_at is not None
    assert after.data == before.data
    assert len(memberships(app, after.id)) == 1
    shown = show(admin, "alice@example.com")
    assert (shown["status"], shown["teams"], shown["permissions"]) == ("removed", ["staff"], [])
    assert shown["removed"] is not None


def test_removed_users_username_is_free_again(admin, staff):
    admin("provisioning", "set", "--on-recreate", "new")
    first = make_user(staff, "alice@example.com")
    staff.delete(f"Users/{first['id']}")
    second = make_user(staff, "ALICE@example.com")
    assert second["id"] != first["id"]


# --- return -------------------------------------------------------------------------------

def test_returning_user_gets_the_same_account_back_under_a_new_id(app, admin, staff):
    first = make_user(staff, "alice@example.com", title="Engineer", externalId="00u1",
                      password="old-Secret-1")
    old = account(app, first["id"])
    staff.delete(f"Users/{first['id']}")

    response = staff.post("Users", json={"userName": "Alice@Example.com", "displayName": "Alice",
                                         "externalId": "00u1"})
    assert response.status_code == 201
    back = response.get_json()
    assert back["id"] != first["id"]
    assert response.headers["Location"].endswith(back["id"])
    # The new body replaces the document: nothing of the old resource leaks back.
    assert (back["userName"], back["displayName"], back["active"]) == ("Alice@Example.com", "Alice", True)
    assert "title" not in back
    restored = account(app, back["id"])
    assert restored.id == old.id
    assert restored.password_hash is None
    assert memberships(app, restored.id) == memberships(app, old.id) and memberships(app, old.id)
    assert staff.get(f"Users/{first['id']}").status_code == 404
    assert staff.get(f"Users/{back['id']}").get_json() == back
    shown = show(admin, "alice@example.com")
    assert (shown["status"], shown["id"], shown["teams"]) == ("active", back["id"], ["staff"])

    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.status == 201)
                                     .order_by(AuditEvent.id.desc()).limit(1))
    assert (event.operation, event.status, event.target_user_id) == ("restore", 201, back["id"])
    assert event.changes["id"] == {"old": first["id"], "new": back["id"]}
    assert event.changes["title"] == {"old": "Engineer", "new": None}
    assert event.changes["userName"] == {"old": "alice@example.com", "new": "Alice@Example.com"}
    with app.app_context():
        assert db.session.scalar(select(db.func.count(User.id))) == 1


def test_return_matches_a_removed_users_external_id(app, staff):
    first = make_user(staff, "alice@example.com", externalId="00u1")
    staff.delete(f"Users/{first['id']}")
    back = make_user(staff, "alice.smith@example.com", externalId="00u1")
    with app.app_context():
        assert db.session.scalar(select(db.func.count(User.id))) == 1
        restored = db.session.scalar(select(User))
    assert (restored.scim_id, restored.user_name) == (back["id"], "alice.smith@example.com")


def test_the_most_recently_removed_match_is_restored(app, admin, staff):
    admin("provisioning", "set", "--on-recreate", "new")
    older = make_user(staff, "alice@example.com", externalId="00u1")
    staff.delete(f"Users/{older['id']}")
    newer = make_user(staff, "alice@example.com", externalId="00u1")
    staff.delete(f"Users/{newer['id']}")
    admin("provisioning", "set", "--on-recreate", "restore")
    with app.app_context():
        ids = {u.scim_id: u.id for u in db.session.scalars(select(User))}
    back = make_user(staff, "alice@example.com", externalId="00u1")
    with app.app_context():
        restored = db.session.scalar(select(User).where(User.scim_id == back["id"]))
        still_removed = db.session.scalar(select(User).where(User.id == ids[older["id"]]))
    assert restored.id == ids[newer["id"]]
    assert still_removed.deleted_at is not None


def test_policy_new_creates_a_new_account(app, admin, staff):
    admin("provisioning", "set", "--on-recreate", "new")
    first = make_user(staff, "alice@example.com")
    staff.delete(f"Users/{first['id']}")
    second = make_user(staff, "alice@example.com")
    assert account(app, second["id"]).id != account(app, first["id"]).id
    assert account(app, first["id"]).deleted_at is not None
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.operation).order_by(AuditEvent.id.desc())) == "create"
    listed = json.loads(admin("user", "list", "--json").stdout)
    assert sorted(u["status"] for u in listed) == ["active", "removed"]


def test_team_assignment_applies_on_restore(app, admin, staff):
    first = make_user(staff, "alice@example.com", externalId="00u1")
    staff.delete(f"Users/{first['id']}")
    admin("team", "create", "newcomers")
    admin("provisioning", "assign-team", "newcomers")
    back = make_user(staff, "alice@example.com", externalId="00u1")
    assert show(admin, back["id"])["teams"] == ["newcomers", "staff"]
    # Restoring twice into the same team does not add a second membership.
    staff.delete(f"Users/{back['id']}")
    again = make_user(staff, "alice@example.com", externalId="00u1")
    assert show(admin, again["id"])["teams"] == ["newcomers", "staff"]


def test_restore_onto_a_username_held_by_a_live_user_is_409_and_changes_nothing(app, staff):
    removed = make_user(staff, "alice@example.com", externalId="00u1")
    staff.delete(f"Users/{removed['id']}")
    make_user(staff, "bob@example.com")
    response = staff.post("Users", json={"userName": "BOB@example.com", "externalId": "00u1"})
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    row = account(app, removed["id"])
    assert row is not None and row.deleted_at is not None and row.user_name == "alice@example.com"


# --- safe returns: only the externalId brings an account back ----------------------------

def last_event(app) -> AuditEvent:
    with app.app_context():
        return db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))


def test_a_new_hire_given_a_departed_colleagues_address_gets_a_new_account(app, admin, staff):
    """The e-mail reuse case: the same userName, another person (another externalId)."""
    admin("team", "create", "finance")
    departed = make_user(staff, "alex@example.com", externalId="00u-departed",
                         emails=[{"value": "alex@example.com", "primary": True}],
                         title="Controller")
    admin("team", "add-member", "finance", "alex@example.com")  # a team of the departed's own
    staff.delete(f"Users/{departed['id']}")

    hire = make_user(staff, "alex@example.com", externalId="00u-hire",
                     emails=[{"value": "alex@example.com", "primary": True}])
    old, new = account(app, departed["id"]), account(app, hire["id"])
    assert new.id != old.id and old.deleted_at is not None
    # The hire has only what the team assignment gives a new user, nothing of the departed's.
    assert show(admin, hire["id"])["teams"] == ["staff"]
    assert show(admin, departed["id"])["teams"] == ["finance", "staff"]
    assert "title" not in hire
    event = last_event(app)
    assert (event.operation, event.target_user_id) == ("create", hire["id"])
    assert event.changes["removedAccount"] == {"id": departed["id"], "restored": False}


def test_a_create_without_external_id_never_restores(app, staff):
    departed = make_user(staff, "alex@example.com", externalId="00u1")
    staff.delete(f"Users/{departed['id']}")
    again = make_user(staff, "ALEX@example.com")
    assert account(app, again["id"]).id != account(app, departed["id"]).id
    assert last_event(app).changes["removedAccount"] == {"id": departed["id"], "restored": False}


def test_a_create_matching_nothing_removed_names_no_removed_account(app, staff):
    make_user(staff, "alex@example.com", externalId="00u1")
    assert "removedAccount" not in last_event(app).changes


def test_policy_new_still_names_the_removed_account(app, admin, staff):
    admin("provisioning", "set", "--on-recreate", "new")
    departed = make_user(staff, "alex@example.com", externalId="00u1")
    staff.delete(f"Users/{departed['id']}")
    again = make_user(staff, "alex@example.com", externalId="00u1")
    assert account(app, again["id"]).id != account(app, departed["id"]).id
    assert last_event(app).changes["removedAccount"] == {"id": departed["id"], "restored": False}
