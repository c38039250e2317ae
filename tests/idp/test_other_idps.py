"""OneLogin, JumpCloud and PingFederate/PingOne: what their docs show that differs.

Sources are named in ``other_traffic``; each test asserts only what those sources show.
"""
from __future__ import annotations

import json

from . import other_traffic as wire
from .replay import expect, expect_error, expect_list
from tests.scimdata import ENTERPRISE, PATCH_OP


# --- OneLogin ------------------------------------------------------------------------------------

def test_onelogin_core_template_creates_the_user(onelogin):
    """[OL-DOCKER] the rendered SCIM JSON Template with OneLogin's custom headers."""
    response = onelogin.post("Users", wire.onelogin_core())
    user = expect(response, 201)
    assert user["userName"] == "kate.owens@example.com"
    assert user["name"] == {"givenName": "Kate", "familyName": "Owens"}
    assert user["emails"] == [{"value": "kate.owens@example.com", "primary": True}]
    assert user["active"] is True  # absent active means active


def test_onelogin_enterprise_template_quirks_are_read_not_rejected(onelogin):
    """[OL-ENT]: ``"active": "true"`` is a boolean, ``"id": null`` and ``meta`` are ignored, and
    ``manager.managerId`` is not an RFC 7643 §4.3 sub-attribute and ``manager.displayName`` is
    readOnly, so the manager is unassigned (map OneLogin's manager to ``value`` to keep it)."""
    user = expect(onelogin.post("Users", wire.onelogin_enterprise()), 201)
    assert user["active"] is True and user["id"]
    assert user[ENTERPRISE] == {"department": "Finance"}
    assert "managerId" not in str(user)


def test_onelogin_suspend_then_delete(onelogin):
    """[OL-DOCKER] the deprovisioning drop-down: "Suspend" sends ``active`` false; "Delete" DELETEs."""
    user = expect(onelogin.post("Users", wire.onelogin_core()), 201)
    suspended = expect(onelogin.put(f"Users/{user['id']}", wire.onelogin_core(active=False)), 200)
    assert suspended["active"] is False
    assert onelogin.delete(f"Users/{user['id']}").status_code == 204
    expect_error(onelogin.get(f"Users/{user['id']}"), 404)


def test_onelogin_template_with_a_string_for_a_complex_attribute_is_400(onelogin):
    """A template mistake (``"name": "{$user.display_name}"``) is rejected, not half-stored."""
    body = wire.onelogin_core(name="Kate Owens")
    expect_error(onelogin.post("Users", body), 400, "invalidValue")
    expect_list(onelogin.search('userName eq "kate.owens@example.com"'), total=0)


# --- JumpCloud -----------------------------------------------------------------------------------

def test_jumpcloud_connection_test_creates_then_deletes_a_test_user_and_can_repeat(jumpcloud, admin):
    """[JC] the connection test creates a test user and deletes it when DELETE is supported;
    admins run it again, so the same userName must be creatable after its removal. The test
    user has no externalId, so the second run creates a new account (only an externalId
    restores a removed one) and its journal event names the removed test account."""
    ids = []
    for attempt in range(2):
        user = expect(jumpcloud.post("Users", wire.jumpcloud_test_user()), 201)
        assert user["userName"] == "jc-scim-test@example.com", attempt
        ids.append(user["id"])
        response = jumpcloud.delete(f"Users/{user['id']}")
        assert response.status_code == 204, attempt
        expect_error(jumpcloud.get(f"Users/{user['id']}"), 404)
    assert ids[0] != ids[1]  # a new SCIM id each time (RFC 7644 §3.6: the old one stays gone)
    expect_list(jumpcloud.search('userName eq "jc-scim-test@example.com"'), total=0)
    events = json.loads(admin("audit", "list", "--key", "jumpcloud", "--json").stdout)
    writes = [e["operation"] for e in events if e["method"] != "GET"]  # the 404 GETs are journaled too
    assert writes == ["create", "remove", "create", "remove"]
    second_create = [e for e in events if e["operation"] == "create"][1]
    assert second_create["changes"]["removedAccount"] == {"id": ids[0], "restored": False}


def test_jumpcloud_deactivation_fallback(jumpcloud):
    """[JC] "If the DELETE method is not supported ... the test user will be deactivated"."""
    user = expect(jumpcloud.post("Users", wire.jumpcloud_test_user()), 201)
    body = {"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert expect(jumpcloud.patch(f"Users/{user['id']}", body), 200)["active"] is False


# --- PingFederate / PingOne ------------------------------------------------------------------------

def test_ping_filter_template_with_lowercase_attribute_and_capitalised_operator(ping):
    """[PING-FILTER] ``username Eq "%s"``: attribute names and operators are case-insensitive
    (RFC 7644 §3.4.2.2), so the documented template matches."""
    user = expect(ping.post("Users", wire.ping_user("jsmith")), 201)
    found = expect_list(ping.search(wire.PING_FILTER_TEMPLATE % "JSmith"), total=1)
    assert found[0]["id"] == user["id"]
    expect_list(ping.search(wire.PING_FILTER_TEMPLATE % "nobody"), total=0)


def test_ping_updates_with_put_and_plain_json(ping):
    """[PF] "PATCH — Users: No": every update is a full PUT, sent as ``application/json``."""
    user = expect(ping.post("Users", wire.ping_user("jsmith")), 201)
    body = wire.ping_user("jsmith")
    body[ENTERPRISE]["employeeNumber"] = "4712"
    updated = expect(ping.put(f"Users/{user['id']}", body), 200)
    assert updated[ENTERPRISE] == {"employeeNumber": "4712"}


def test_ping_provisions_disabled_users_and_disables_on_remove(ping):
    """[PF] "Provision disabled users" creates with ``active`` false; "Remove User Action:
    Disable" PUTs ``active`` false; "Delete" removes."""
    disabled = expect(ping.post("Users", wire.ping_user("disabled.user", active=False)), 201)
    assert disabled["active"] is False
    assert expect(ping.get(f"Users/{disabled['id']}"), 200)["active"] is False
    user = expect(ping.post("Users", wire.ping_user("jsmith")), 201)
    assert expect(ping.put(f"Users/{user['id']}", wire.ping_user("jsmith", active=False)), 200)["active"] is False
    assert ping.delete(f"Users/{user['id']}").status_code == 204
    expect_error(ping.get(f"Users/{user['id']}"), 404)
