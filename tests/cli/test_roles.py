"""scimsvc role create / list / show / delete."""
from __future__ import annotations

import json

from tests.cli import assert_fails

PROVISIONER = ("role", "create", "scim-provisioner", "--permission", "scim:provision")


def test_role_create_defaults_to_tenant_scope(admin):
    result = admin(*PROVISIONER)
    assert result.stdout == "Role 'scim-provisioner' created: scim:provision (tenant).\n"


def test_role_create_with_explicit_scope_and_repeated_permission(admin):
    result = admin("role", "create", "r", "--permission", "scim:provision",
                   "--permission", "scim:provision", "--scope", "tenant")
    assert result.stdout == "Role 'r' created: scim:provision (tenant).\n"


def test_role_needs_a_permission(admin):
    assert_fails(admin("role", "create", "empty", ok=False),
                 "A role needs at least one --permission (see 'scimsvc permission list').")


def test_role_with_unknown_permission_is_refused(admin):
    assert_fails(admin("role", "create", "r", "--permission", "scim:everything", ok=False),
                 "Unknown permission 'scim:everything' (see 'scimsvc permission list').")
    assert admin("role", "list", "--json").stdout == "[]\n"


def test_role_name_must_fit(admin):
    assert_fails(admin("role", "create", " ", "--permission", "scim:provision", ok=False),
                 "A role needs a name.")
    assert_fails(admin("role", "create", "r" * 201, "--permission", "scim:provision", ok=False),
                 "A role name is at most 200 characters.")


def test_role_with_unknown_scope_is_a_usage_error(admin):
    result = admin("role", "create", "r", "--permission", "scim:provision", "--scope", "global", ok=False)
    assert result.exit_code == 2
    assert "Invalid value for '--scope'" in result.output


def test_duplicate_role_is_refused(admin):
    admin(*PROVISIONER)
    assert_fails(admin(*PROVISIONER, ok=False), "Role 'scim-provisioner' already exists.")


def test_role_list(admin):
    admin(*PROVISIONER)
    admin("role", "create", "auditors", "--permission", "scim:provision")
    assert admin("role", "list").stdout == (
        "NAME              PERMISSIONS\n"
        "auditors          scim:provision@tenant\n"
        "scim-provisioner  scim:provision@tenant\n"
    )
    data = json.loads(admin("role", "list", "--json").stdout)
    assert [r["name"] for r in data] == ["auditors", "scim-provisioner"]
    assert data[1]["permissions"] == [
        {"action": "scim:provision", "scope": "tenant", "title": "Provision Users with SCIM"}
    ]


def test_role_show_lists_permissions_and_teams(admin):
    admin(*PROVISIONER)
    admin("team", "create", "idp", "--role", "scim-provisioner")
    lines = admin("role", "show", "scim-provisioner").stdout.splitlines()
    assert lines[0] == "Role:    scim-provisioner"
    assert lines[1].startswith("Created: ")
    assert lines[2:] == [
        "Teams:   idp",
        "ACTION          SCOPE   TITLE",
        "scim:provision  tenant  Provision Users with SCIM",
    ]
    data = json.loads(admin("role", "show", "scim-provisioner", "--json").stdout)
    assert data["teams"] == ["idp"]
    assert data["permissions"][0]["action"] == "scim:provision"


def test_role_show_unknown(admin):
    assert_fails(admin("role", "show", "nope", ok=False), "No role 'nope'.")


def test_role_delete_asks_for_confirmation(admin):
    admin(*PROVISIONER)
    declined = admin("role", "delete", "scim-provisioner", input="n\n", ok=False)
    assert declined.exit_code == 1
    assert "Delete it? [y/N]" in declined.output
    assert "Aborted!" in declined.output
    assert admin("role", "show", "scim-provisioner", ok=False).exit_code == 0

    confirmed = admin("role", "delete", "scim-provisioner", input="y\n")
    assert confirmed.output.endswith("Role 'scim-provisioner' deleted.\n")
    assert_fails(admin("role", "show", "scim-provisioner", ok=False), "No role 'scim-provisioner'.")


def test_role_delete_with_yes_takes_it_from_teams(admin):
    admin(*PROVISIONER)
    admin("team", "create", "idp", "--role", "scim-provisioner")
    assert admin("role", "delete", "scim-provisioner", "--yes").stdout == "Role 'scim-provisioner' deleted.\n"
    assert json.loads(admin("team", "show", "idp", "--json").stdout)["roles"] == []


def test_role_delete_unknown(admin):
    assert_fails(admin("role", "delete", "nope", "--yes", ok=False), "No role 'nope'.")
