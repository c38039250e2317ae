"""The admin's side of the lifecycle: ``scimsvc user disable|enable|remove|protect|unprotect|restore``.

Each CLI write is the SCIM operation itself (the same service call, the same journal
record), with actor ``cli``; a protected user refuses SCIM's disable, remove and rename.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from scimsvc.extensions import db
from scimsvc.models import AuditEvent, User
from tests.conftest import make_user
from tests.scimdata import PATCH_OP


@pytest.fixture
def staff(admin, scim):
    admin("role", "create", "member", "--permission", "scim:provision")
    admin("team", "create", "staff", "--role", "member")
    admin("provisioning", "assign-team", "staff")
    return scim


def show(admin, name: str) -> dict:
    return json.loads(admin("user", "show", name, "--json").stdout)


def events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def cli_events(app) -> list[AuditEvent]:
    """The events of CLI writes (a 404 GET of the tests is journaled too)."""
    return [e for e in events(app) if e.api_key_name == "cli"]


def account(app, scim_id: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.scim_id == scim_id))


def patch(scim, user_id: str, *operations):
    return scim.patch(f"Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)})


def comparable(event: AuditEvent) -> tuple:
    return (event.operation, event.status, event.target_user_id, event.target_user_name,
            event.changes)


# --- disable, enable, remove: the SCIM operations, actor cli ---------------------------------

def test_cli_disable_and_enable_journal_what_scims_patch_journals(app, admin, staff):
    by_scim = make_user(staff, "ann@example.com")
    by_cli = make_user(staff, "bob@example.com")
    patch(staff, by_scim["id"], {"op": "replace", "path": "active", "value": False})
    assert admin("user", "disable", "BOB@example.com").stdout == "User 'bob@example.com' disabled.\n"
    scim_event, cli_event = events(app)[-2:]
    assert comparable(cli_event)[:2] == comparable(scim_event)[:2] == ("disable", 200)
    assert cli_event.changes == scim_event.changes == {"active": {"old": True, "new": False}}
    assert (cli_event.method, cli_event.path, cli_event.api_key_name, cli_event.api_key_id) == \
        ("CLI", "scimsvc user disable", "cli", None)
    assert (scim_event.method, scim_event.api_key_name) == ("PATCH", "okta")
    assert (cli_event.target_user_id, cli_event.target_user_name) == (by_cli["id"], "bob@example.com")
    # What SCIM sees afterwards, and what the admin sees.
    fetched = staff.get(f"Users/{by_cli['id']}").get_json()
    assert fetched["active"] is False and fetched["meta"]["version"] != by_cli["meta"]["version"]
    assert show(admin, "bob@example.com")["status"] == "disabled"

    assert admin("user", "enable", by_cli["id"]).stdout == "User 'bob@example.com' enabled.\n"
    assert comparable(events(app)[-1]) == ("enable", 200, by_cli["id"], "bob@example.com",
                                           {"active": {"old": False, "new": True}})
    assert show(admin, "bob@example.com")["permissions"] == [
        {"action": "scim:provision", "scope": "tenant"}]


def test_cli_disable_of_a_disabled_user_is_the_no_change_patch(app, admin, staff):
    user = make_user(staff, "ann@example.com", active=False)
    result = admin("user", "disable", "ann@example.com")
    assert "User 'ann@example.com' is already disabled." in result.stderr
    assert comparable(events(app)[-1]) == ("patch", 200, user["id"], "ann@example.com", {})
    assert staff.get(f"Users/{user['id']}").get_json()["meta"]["version"] == user["meta"]["version"]


def test_cli_remove_is_scims_delete(app, admin, staff):
    user = make_user(staff, "ann@example.com")
    assert admin("user", "remove", "ann@example.com").stdout == "User 'ann@example.com' removed.\n"
    assert comparable(events(app)[-1]) == ("remove", 204, user["id"], "ann@example.com", {})
    assert events(app)[-1].api_key_name == "cli"
    assert staff.get(f"Users/{user['id']}").status_code == 404
    shown = show(admin, user["id"])
    assert (shown["status"], shown["teams"]) == ("removed", ["staff"])


@pytest.mark.parametrize("command", ["disable", "enable", "remove"])
def test_cli_writes_refuse_removed_and_unknown_users_in_one_line(admin, staff, command):
    user = make_user(staff, "ann@example.com")
    admin("user", "remove", user["id"])
    result = admin("user", command, "ann@example.com", ok=False)
    assert result.exit_code == 1
    assert result.output == ("Error: User 'ann@example.com' is removed: only 'scimsvc user "
                             "restore' acts on it.\n")
    result = admin("user", command, "nobody@example.com", ok=False)
    assert result.output == "Error: No user 'nobody@example.com'.\n"


def test_cli_user_commands_act_in_their_organization_only(app, admin, staff):
    admin("org", "create", "other")
    make_user(staff, "ann@example.com")
    result = admin("--org", "other", "user", "disable", "ann@example.com", ok=False)
    assert result.output == "Error: No user 'ann@example.com'.\n"
    assert show(admin, "ann@example.com")["status"] == "active"


# --- protect ----------------------------------------------------------------------------------

@pytest.fixture
def breakglass(admin, staff):
    user = make_user(staff, "root@example.com", externalId="00u-root")
    assert admin("user", "protect", "root@example.com").stdout == \
        "User 'root@example.com' is protected.\n"
    return user


def test_protect_is_journaled_and_shown(app, admin, breakglass):
    assert comparable(events(app)[-1]) == ("protect", 200, breakglass["id"], "root@example.com",
                                           {"protected": {"old": False, "new": True}})
    assert show(admin, "root@example.com")["protected"] is True
    assert "Protected:   yes" in admin("user", "show", "root@example.com").stdout


@pytest.mark.parametrize("request_, operation", [
    (lambda scim, uid: patch(scim, uid, {"op": "replace", "value": {"active": False}}), "patch"),
    (lambda scim, uid: patch(scim, uid, {"op": "Replace", "path": "active", "value": "False"}), "patch"),
    (lambda scim, uid: scim.put(f"Users/{uid}", json={"userName": "root@example.com",
                                                      "active": False}), "replace"),
    (lambda scim, uid: scim.delete(f"Users/{uid}"), "remove"),
    (lambda scim, uid: patch(scim, uid, {"op": "replace", "path": "userName",
                                         "value": "mallory@example.com"}), "patch"),
    (lambda scim, uid: scim.put(f"Users/{uid}", json={"userName": "mallory@example.com"}), "replace"),
], ids=["okta-deactivate", "entra-deactivate", "put-inactive", "delete", "patch-rename", "put-rename"])
def test_scim_cannot_disable_remove_or_rename_a_protected_user(app, admin, staff, breakglass,
                                                              request_, operation):
    response = request_(staff, breakglass["id"])
    assert response.status_code == 403
    body = response.get_json()
    assert "protected" in body["detail"] and body["status"] == "403"
    # Nothing changed, and the refusal is journaled.
    fetched = staff.get(f"Users/{breakglass['id']}").get_json()
    assert (fetched["userName"], fetched["active"]) == ("root@example.com", True)
    assert fetched["meta"]["version"] == breakglass["meta"]["version"]
    refused = events(app)[-1]
    assert (refused.operation, refused.status, refused.target_user_id, refused.api_key_name) == \
        (operation, 403, breakglass["id"], "okta")


def test_scim_may_still_change_a_protected_users_other_attributes(admin, staff, breakglass):
    response = patch(staff, breakglass["id"], {"op": "replace", "path": "title", "value": "SRE"},
                     {"op": "replace", "path": "userName", "value": "ROOT@example.com"})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["title"], response.get_json()["userName"]) == \
        ("SRE", "ROOT@example.com")
    # Enabling an already active protected user is no disable either.
    assert staff.put(f"Users/{breakglass['id']}", json={"userName": "ROOT@example.com",
                                                        "active": True}).status_code == 200


def test_the_cli_can_still_disable_and_remove_a_protected_user(app, admin, staff, breakglass):
    admin("user", "disable", "root@example.com")
    assert show(admin, "root@example.com")["status"] == "disabled"
    admin("user", "remove", "root@example.com")
    assert staff.get(f"Users/{breakglass['id']}").status_code == 404
    assert [e.operation for e in events(app) if e.api_key_name == "cli"][-2:] == \
        ["disable", "remove"]


def test_unprotect_lets_scim_act_again(app, admin, staff, breakglass):
    assert admin("user", "unprotect", breakglass["id"]).stdout == \
        "User 'root@example.com' is not protected.\n"
    assert comparable(events(app)[-1])[:2] == ("unprotect", 200)
    assert staff.delete(f"Users/{breakglass['id']}").status_code == 204


def test_protecting_twice_changes_nothing_but_is_journaled(app, admin, breakglass):
    admin("user", "protect", "root@example.com")
    assert comparable(events(app)[-1]) == ("protect", 200, breakglass["id"], "root@example.com", {})


# --- restore ------------------------------------------------------------------------------

def test_restore_brings_a_removed_account_back_under_a_new_id(app, admin, staff):
    user = make_user(staff, "ann@example.com", externalId="00u1", title="Engineer",
                     password="s3cret-Pass")
    staff.delete(f"Users/{user['id']}")
    before = account(app, user["id"])
    result = admin("user", "restore", "ann@example.com")
    back = show(admin, "ann@example.com")
    assert result.stdout == f"User 'ann@example.com' restored (id {back['id']}).\n"
    assert back["id"] != user["id"] and back["status"] == "active" and back["teams"] == ["staff"]
    restored = account(app, back["id"])
    assert restored.id == before.id and restored.password_hash is None
    fetched = staff.get(f"Users/{back['id']}").get_json()
    assert (fetched["title"], fetched["externalId"]) == ("Engineer", "00u1")
    assert staff.get(f"Users/{user['id']}").status_code == 404
    assert comparable(cli_events(app)[-1]) == ("restore", 200, back["id"], "ann@example.com",
                                           {"id": {"old": user["id"], "new": back["id"]}})


def test_restore_while_a_live_user_holds_the_username_says_to_use_into(admin, staff):
    old = make_user(staff, "ann@example.com", externalId="00u1")
    staff.delete(f"Users/{old['id']}")
    make_user(staff, "ann@example.com", externalId="00u2")
    result = admin("user", "restore", old["id"], ok=False)
    assert result.exit_code == 1
    assert result.output == ("Error: userName 'ann@example.com' is held by a live user: restore "
                             "into it with --into 'ann@example.com'.\n")
    assert show(admin, old["id"])["status"] == "removed"


def test_restore_into_reattaches_a_returning_persons_old_account(app, admin, staff):
    """The returning person's IdP sent a new externalId: SCIM made a new account; the
    admin gives the person their old one (teams and all) under the SCIM id the IdP knows."""
    admin("team", "create", "finance")
    old = make_user(staff, "ann@example.com", externalId="00u-2019", title="Controller")
    admin("team", "add-member", "finance", "ann@example.com")
    staff.delete(f"Users/{old['id']}")
    old_account = account(app, old["id"]).id
    new = make_user(staff, "ann@example.com", externalId="00u-2026",
                    emails=[{"value": "ann@example.com", "primary": True}], password="n3w-Pass-2026")
    new_account = account(app, new["id"]).id
    new_hash = account(app, new["id"]).password_hash
    admin("user", "protect", new["id"])

    admin("user", "restore", old["id"], "--into", "ann@example.com")
    # The IdP's SCIM id now names the old account, holding the IdP's document.
    fetched = staff.get(f"Users/{new['id']}")
    assert fetched.status_code == 200
    body = fetched.get_json()
    assert (body["externalId"], body["emails"][0]["value"]) == ("00u-2026", "ann@example.com")
    assert "title" not in body
    assert int(body["meta"]["version"][3:-1]) > int(new["meta"]["version"][3:-1])
    restored = account(app, new["id"])
    assert restored.id == old_account
    # The password the IdP set and the protection the admin gave go with the resource.
    assert (restored.password_hash, restored.protected) == (new_hash, True)
    assert new_hash is not None
    assert show(admin, new["id"])["teams"] == ["finance", "staff"]
    assert staff.get(f'Users?filter=emails.value eq "ann@example.com"').get_json()[
        "totalResults"] == 1
    # The new account is removed and holds nothing of the person any more.
    with app.app_context():
        replaced = db.session.get(User, new_account)
        assert replaced.deleted_at is not None and replaced.data == {}
        assert replaced.user_name == f"purged-{replaced.scim_id}"
    assert staff.get(f"Users/{old['id']}").status_code == 404
    remove, restore = cli_events(app)[-2:]
    assert (remove.operation, remove.changes["restoredInto"]) == ("remove",
                                                                  {"old": None, "new": new["id"]})
    assert (restore.operation, restore.target_user_id) == ("restore", new["id"])
    assert restore.changes["id"] == {"old": old["id"], "new": new["id"]}
    assert restore.changes["externalId"] == {"old": "00u-2019", "new": "00u-2026"}


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_restore_into_moves_the_idp_groups_so_the_idp_can_still_take_access_away(app, admin, staff):
    """kim came back with a new externalId and joined the IdP group KG (linked to kteam)
    as the new account; after ``restore --into`` the IdP still names kim by the same SCIM
    id: the group lists her, and the IdP's remove takes kteam's role away."""
    admin("role", "create", "kroler", "--permission", "directory:read")
    admin("team", "create", "kteam", "--role", "kroler")
    admin("team", "create", "finance")
    old = make_user(staff, "kim@example.com", externalId="ext-k1")
    staff.delete(f"Users/{old['id']}")
    new = make_user(staff, "kim@example.com", externalId="ext-k2")
    admin("team", "add-member", "finance", new["id"])
    created = staff.post("Groups", json={"schemas": [GROUP], "displayName": "KG",
                                         "members": [{"value": new["id"]}]})
    assert created.status_code == 201
    group = created.get_json()
    admin("team", "link-group", "kteam", "KG")
    replaced = account(app, new["id"]).id

    admin("user", "restore", "kim@example.com", "--into", "kim@example.com")
    kim = show(admin, new["id"])
    assert kim["status"] == "active" and kim["externalId"] == "ext-k2"
    assert [m["value"] for m in staff.get(f"Groups/{group['id']}").get_json()["members"]] == \
        [new["id"]]
    assert [g["value"] for g in staff.get(f"Users/{new['id']}").get_json()["groups"]] == \
        [group["id"]]
    members = {m["userName"]: m["reasons"] for m in json.loads(
        admin("team", "show", "kteam", "--json").stdout)["members"]}
    assert members == {"kim@example.com": ["group:KG"]}
    assert {m["team"]: m["reasons"] for m in kim["memberships"]} == {
        "finance": ["admin"], "kteam": ["group:KG"], "staff": ["assignment"]}
    assert any(p["action"] == "directory:read" for p in kim["permissions"])
    # The replaced account: a purged tombstone in no team and no group.
    tombstone = [u for u in json.loads(admin("user", "list", "--status", "purged",
                                             "--json").stdout)]
    assert [u["teams"] for u in tombstone] == [[]]
    with app.app_context():
        gone = db.session.get(User, replaced)
        assert tombstone[0]["id"] == gone.scim_id and gone.user_name == f"purged-{gone.scim_id}"

    # The IdP (Okta's form) takes kim out of KG: kteam and its role go.
    removed = staff.patch(f"Groups/{group['id']}", json={
        "schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": f'members[value eq "{new["id"]}"]'}]})
    assert removed.status_code in (200, 204)
    assert staff.get(f"Groups/{group['id']}").get_json().get("members", []) == []
    assert json.loads(admin("team", "show", "kteam", "--json").stdout)["members"] == []
    kim = show(admin, new["id"])
    assert kim["teams"] == ["finance", "staff"]
    assert not any(p["action"] == "directory:read" for p in kim["permissions"])


def test_restore_refuses_what_it_cannot_restore_in_one_line(admin, staff):
    live = make_user(staff, "ann@example.com")
    assert admin("user", "restore", "ann@example.com", ok=False).output == \
        "Error: No removed user 'ann@example.com'.\n"
    gone = make_user(staff, "bob@example.com")
    staff.delete(f"Users/{gone['id']}")
    admin("user", "remove", live["id"])
    assert admin("user", "restore", "bob@example.com", "--into", live["id"], ok=False).output == \
        f"Error: User '{live['id']}' is removed: --into takes a live user.\n"


def test_check_protected_is_what_membership_removal_calls(app, admin, breakglass):
    """For the code that removes team memberships: the last team of a protected user."""
    from scimsvc.errors import Forbidden
    from scimsvc.services import lifecycle

    with app.app_context():
        user = lifecycle.find_account(1, "root@example.com")
        with pytest.raises(Forbidden, match="may not take the last team from it"):
            lifecycle.check_protected(user, "remove-last-team")
        with pytest.raises(ValueError):
            lifecycle.check_protected(user, "rename-team")
    admin("user", "unprotect", "root@example.com")
    with app.app_context():
        lifecycle.check_protected(lifecycle.find_account(1, "root@example.com"), "remove-last-team")
