"""Tenant isolation: a key acts only on its own organization's users, roles, teams and keys."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ScimClient, make_user, provision_key
from tests.scimdata import CORE_USER as USER


@pytest.fixture
def org_b(admin, app) -> ScimClient:
    """Organization b, set up with the same admin steps (and the same names) as the default one."""
    admin("org", "create", "b")
    return ScimClient(app.test_client(), provision_key(admin, org="b"))


def test_other_organization_cannot_read_replace_or_delete_a_user_by_id(scim, org_b):
    alice = make_user(scim, "alice@example.com", name={"givenName": "Alice"})
    path = f"Users/{alice['id']}"

    for response in (
        org_b.get(path),
        org_b.put(path, json={"schemas": [USER], "userName": "mallory@example.com"}),
        org_b.delete(path),
    ):
        assert response.status_code == 404
        body = response.get_json()
        assert body["status"] == "404"
        assert alice["userName"] not in json.dumps(body)

    assert scim.get(path).get_json() == alice  # untouched


def test_same_username_can_exist_in_each_organization(scim, org_b):
    a = make_user(scim, "alice@example.com")
    b = make_user(org_b, "alice@example.com")
    assert a["id"] != b["id"]
    assert scim.get(f"Users/{a['id']}").get_json()["userName"] == "alice@example.com"
    assert org_b.get(f"Users/{a['id']}").status_code == 404
    assert scim.get(f"Users/{b['id']}").status_code == 404
    # Uniqueness still holds inside each organization.
    assert org_b.post("Users", json={"schemas": [USER], "userName": "ALICE@example.com"}).status_code == 409


def test_admin_objects_are_per_organization(admin, scim, org_b):
    """The same role, team and key names live side by side; --org picks which one a command sees."""
    for org in ([], ["--org", "b"]):
        assert [t["name"] for t in json.loads(admin(*org, "team", "list", "--json").stdout)] == ["idp"]
        assert [k["name"] for k in json.loads(admin(*org, "api-key", "list", "--json").stdout)] == ["okta"]
    admin("--org", "b", "api-key", "revoke", "okta", "--yes")
    assert scim.get("ServiceProviderConfig").status_code == 200  # the default org's okta key still works
    assert org_b.get("ServiceProviderConfig").status_code == 401


def test_team_assignment_stays_in_its_organization(admin, scim, org_b):
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    make_user(scim, "alice@example.com")
    make_user(org_b, "bob@example.com")
    members = json.loads(admin("team", "show", "employees", "--json").stdout)["members"]
    assert [m["userName"] for m in members] == ["alice@example.com"]
    assert json.loads(admin("--org", "b", "provisioning", "show", "--json").stdout)["assignTeam"] is None
    assert admin("--org", "b", "team", "show", "employees", ok=False).output == "Error: No team 'employees'.\n"


def test_an_organization_cannot_assign_another_organizations_team(admin, org_b):
    admin("team", "create", "employees")
    result = admin("--org", "b", "provisioning", "assign-team", "employees", ok=False)
    assert result.exit_code == 1
    assert result.output == "Error: No team 'employees'.\n"


def test_env_var_selects_the_organization(admin, org_b, monkeypatch):
    monkeypatch.setenv("SCIMSVC_ORG", "b")
    admin("team", "create", "only-in-b")
    monkeypatch.delenv("SCIMSVC_ORG")
    assert "only-in-b" in admin("--org", "b", "team", "list").stdout
    assert "only-in-b" not in admin("team", "list").stdout
