"""``scimsvc user list`` and ``scimsvc user show``: status, teams, roles, effective permissions."""
from __future__ import annotations

import json

import pytest

from tests.conftest import make_user
from tests.scimdata import PATCH_OP


@pytest.fixture
def people(admin, scim):
    """alice active, bob disabled, carol removed; all joined team 'staff' (role 'member')."""
    admin("role", "create", "member", "--permission", "scim:provision")
    admin("team", "create", "staff", "--role", "member")
    admin("provisioning", "assign-team", "staff")
    alice = make_user(scim, "alice@example.com", externalId="00u1")
    bob = make_user(scim, "bob@example.com")
    carol = make_user(scim, "carol@example.com")
    scim.patch(f"Users/{bob['id']}", json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]})
    scim.delete(f"Users/{carol['id']}")
    return {"alice": alice, "bob": bob, "carol": carol}


def test_user_list_prints_every_user_with_status_and_teams(admin, people):
    out = admin("user", "list").stdout.splitlines()
    assert out[0].split() == ["USERNAME", "ID", "STATUS", "TEAMS"]
    assert [line.split() for line in out[1:]] == [
        ["alice@example.com", people["alice"]["id"], "active", "staff"],
        ["bob@example.com", people["bob"]["id"], "disabled", "staff"],
        ["carol@example.com", people["carol"]["id"], "removed", "staff"],
    ]


@pytest.mark.parametrize("status, expected", [
    ("active", ["alice@example.com"]),
    ("disabled", ["bob@example.com"]),
    ("removed", ["carol@example.com"]),
])
def test_user_list_filters_by_status(admin, people, status, expected):
    listed = json.loads(admin("user", "list", "--status", status, "--json").stdout)
    assert [u["userName"] for u in listed] == expected
    assert {u["status"] for u in listed} == {status}


def test_user_list_json_shape(admin, people):
    [alice] = json.loads(admin("user", "list", "--status", "active", "--json").stdout)
    assert alice == {"userName": "alice@example.com", "id": people["alice"]["id"], "status": "active",
                     "externalId": "00u1", "displayName": None, "protected": False,
                     "teams": ["staff"]}


def test_user_list_rejects_an_unknown_status(admin, people):
    result = admin("user", "list", "--status", "gone", ok=False)
    assert result.exit_code == 2
    assert "'gone' is not one of 'active', 'disabled', 'removed', 'purged'" in result.output


def test_user_show_active_user_has_its_roles_permissions(admin, people):
    out = admin("user", "show", "alice@example.com").stdout
    assert "User:        alice@example.com" in out
    assert "Status:      active" in out
    assert "Teams:       staff" in out
    assert "Roles:       member" in out
    assert "Permissions: scim:provision@tenant" in out
    assert "Removed:     -" in out


@pytest.mark.parametrize("name, status", [("bob@example.com", "disabled"),
                                          ("carol@example.com", "removed")])
def test_user_show_inactive_user_has_no_permissions_but_keeps_teams_and_roles(admin, people, name, status):
    out = admin("user", "show", name).stdout
    assert f"Status:      {status}" in out
    assert "Teams:       staff" in out and "Roles:       member" in out
    assert f"Permissions: none (user is {status})" in out
    shown = json.loads(admin("user", "show", name, "--json").stdout)
    assert (shown["status"], shown["roles"], shown["permissions"]) == (status, ["member"], [])


def test_user_show_finds_by_username_in_any_case_or_by_id(admin, people):
    by_case = json.loads(admin("user", "show", "ALICE@Example.COM", "--json").stdout)
    by_id = json.loads(admin("user", "show", people["alice"]["id"], "--json").stdout)
    assert by_case == by_id
    assert by_case["id"] == people["alice"]["id"]


def test_user_show_without_teams_says_none(admin, scim):
    make_user(scim, "dave@example.com")
    out = admin("user", "show", "dave@example.com").stdout
    assert "Teams:       -" in out
    assert "Permissions: none" in out


def test_user_show_unknown_user_is_a_one_line_error(admin):
    result = admin("user", "show", "nobody@example.com", ok=False)
    assert result.exit_code == 1
    assert result.output == "Error: No user 'nobody@example.com'.\n"


def test_user_show_prefers_the_live_account_over_removed_ones(admin, scim):
    admin("provisioning", "set", "--on-recreate", "new")
    old = make_user(scim, "erin@example.com")
    scim.delete(f"Users/{old['id']}")
    new = make_user(scim, "erin@example.com")
    shown = json.loads(admin("user", "show", "erin@example.com", "--json").stdout)
    assert (shown["id"], shown["status"]) == (new["id"], "active")
    assert json.loads(admin("user", "show", old["id"], "--json").stdout)["status"] == "removed"
