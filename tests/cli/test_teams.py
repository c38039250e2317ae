"""scimsvc team create / list / show / add-role / remove-role / delete."""
from __future__ import annotations

import json

from tests.cli import assert_fails
from tests.conftest import ScimClient, make_user, provision_key


def _roles(admin, *names):
    for name in names:
        admin("role", "create", name, "--permission", "scim:provision")


def test_team_create_with_roles(admin):
    _roles(admin, "scim-provisioner", "auditors")
    result = admin("team", "create", "idp", "--role", "scim-provisioner", "--role", "auditors")
    assert result.stdout == "Team 'idp' created with roles: auditors, scim-provisioner.\n"


def test_team_create_without_roles(admin):
    assert admin("team", "create", "employees").stdout == "Team 'employees' created.\n"


def test_team_create_mistakes(admin):
    assert_fails(admin("team", "create", "idp", "--role", "nope", ok=False), "No role 'nope'.")
    assert admin("team", "list", "--json").stdout == "[]\n"  # nothing half-created
    admin("team", "create", "idp")
    assert_fails(admin("team", "create", "idp", ok=False), "Team 'idp' already exists.")
    assert_fails(admin("team", "create", "  ", ok=False), "A team needs a name.")
    assert_fails(admin("team", "create", "t" * 201, ok=False), "A team name is at most 200 characters.")


def test_team_list(admin):
    _roles(admin, "scim-provisioner")
    admin("team", "create", "idp", "--role", "scim-provisioner")
    admin("team", "create", "employees")
    assert admin("team", "list").stdout == (
        "NAME       ROLES             MEMBERS  DISABLED  REMOVED\n"
        "employees  -                 0        0         0\n"
        "idp        scim-provisioner  0        0         0\n"
    )
    data = json.loads(admin("team", "list", "--json").stdout)
    assert [(t["name"], t["roles"]) for t in data] == [("employees", []), ("idp", ["scim-provisioner"])]


def test_team_show_lists_roles_and_members(admin, app):
    key = provision_key(admin)
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    scim = ScimClient(app.test_client(), key)
    bob = make_user(scim, "bob@example.com")
    alice = make_user(scim, "alice@example.com")

    assert admin("team", "show", "employees").stdout == (
        "Team:    employees\n"
        "Roles:   -\n"
        "Groups:  -\n"
        "Members: 2\n"
        "USERNAME           ID                                    STATUS  REASONS\n"
        f"alice@example.com  {alice['id']}  active  assignment\n"
        f"bob@example.com    {bob['id']}  active  assignment\n"
    )
    data = json.loads(admin("team", "show", "employees", "--json").stdout)
    assert data["name"] == "employees"
    assert data["members"] == [
        {"userName": "alice@example.com", "id": alice["id"], "status": "active",
         "reasons": ["assignment"]},
        {"userName": "bob@example.com", "id": bob["id"], "status": "active",
         "reasons": ["assignment"]},
    ]


def test_team_show_without_members(admin):
    admin("team", "create", "employees")
    assert admin("team", "show", "employees").stdout == "Team:    employees\nRoles:   -\nGroups:  -\nMembers: 0\n"
    assert json.loads(admin("team", "show", "employees", "--json").stdout)["members"] == []


def test_team_show_unknown(admin):
    assert_fails(admin("team", "show", "nope", ok=False), "No team 'nope'.")


def test_team_add_and_remove_role(admin):
    _roles(admin, "scim-provisioner")
    admin("team", "create", "idp")
    assert admin("team", "add-role", "idp", "scim-provisioner").stdout == (
        "Team 'idp' now has role 'scim-provisioner'.\n")
    assert json.loads(admin("team", "show", "idp", "--json").stdout)["roles"] == ["scim-provisioner"]
    assert admin("team", "remove-role", "idp", "scim-provisioner").stdout == (
        "Team 'idp' no longer has role 'scim-provisioner'.\n")
    assert json.loads(admin("team", "show", "idp", "--json").stdout)["roles"] == []


def test_team_role_mistakes(admin):
    _roles(admin, "scim-provisioner")
    admin("team", "create", "idp", "--role", "scim-provisioner")
    assert_fails(admin("team", "add-role", "idp", "scim-provisioner", ok=False),
                 "Team 'idp' already has role 'scim-provisioner'.")
    assert_fails(admin("team", "add-role", "nope", "scim-provisioner", ok=False), "No team 'nope'.")
    assert_fails(admin("team", "add-role", "idp", "nope", ok=False), "No role 'nope'.")
    admin("team", "remove-role", "idp", "scim-provisioner")
    assert_fails(admin("team", "remove-role", "idp", "scim-provisioner", ok=False),
                 "Team 'idp' does not have role 'scim-provisioner'.")
    assert_fails(admin("team", "remove-role", "idp", "nope", ok=False), "No role 'nope'.")


def test_team_delete_asks_for_confirmation(admin):
    admin("team", "create", "idp")
    declined = admin("team", "delete", "idp", input="n\n", ok=False)
    assert declined.exit_code == 1
    assert "The team's API keys are deleted with it. Delete it? [y/N]" in declined.output
    admin("team", "show", "idp")
    assert admin("team", "delete", "idp", input="y\n").output.endswith("Team 'idp' deleted.\n")
    assert_fails(admin("team", "show", "idp", ok=False), "No team 'idp'.")


def test_team_delete_removes_its_keys_and_assignment_but_keeps_members(admin, app):
    key = provision_key(admin)
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    scim = ScimClient(app.test_client(), key)
    alice = make_user(scim, "alice@example.com")

    assert admin("team", "delete", "employees", "--yes").stdout == "Team 'employees' deleted.\n"
    assert json.loads(admin("provisioning", "show", "--json").stdout)["assignTeam"] is None
    assert scim.get(f"Users/{alice['id']}").status_code == 200  # still a user

    admin("team", "delete", "idp", "--yes")
    assert admin("api-key", "list", "--json").stdout == "[]\n"
    assert scim.get(f"Users/{alice['id']}").status_code == 401


def test_team_delete_unknown(admin):
    assert_fails(admin("team", "delete", "nope", "--yes", ok=False), "No team 'nope'.")
