"""scimsvc permission add / remove / list, and roles granting product permissions."""
from __future__ import annotations

import json

import pytest

from tests.cli import assert_fails


def test_add_list_and_remove_a_product_permission(admin):
    assert admin("permission", "add", "chat:use", "--title", "Use the chat",
                 "--description", "Open the chat window").stdout == \
        "Permission 'chat:use' added: Use the chat.\n"
    admin("permission", "add", "models:admin", "--title", "Administer models")
    lines = admin("permission", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == \
        ["scim:provision", "directory:read", "events:read", "chat:use", "models:admin"]
    assert lines[4].split()[-1] == "product" and lines[1].split()[-1] == "built-in"
    data = json.loads(admin("permission", "list", "--json").stdout)
    assert data[3] == {"action": "chat:use", "title": "Use the chat", "scopes": ["tenant"],
                       "description": "Open the chat window", "builtin": False}

    assert admin("permission", "remove", "chat:use").stdout == "Permission 'chat:use' removed.\n"
    assert "chat:use" not in admin("permission", "list").stdout


@pytest.mark.parametrize("name", ["chat", "Chat:Use", "chat use", ":use", "chat:", "a" * 60 + ":use1",
                                  "chat:use\n"])
def test_a_malformed_name_is_refused(admin, name):
    result = admin("permission", "add", name, "--title", "x", ok=False)
    assert result.exit_code == 1
    assert "is not a permission name: use lowercase words joined by ':'" in result.output


def test_duplicates_and_built_ins_are_refused(admin):
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    assert_fails(admin("permission", "add", "chat:use", "--title", "Again", ok=False),
                 "Permission 'chat:use' already exists.")
    assert_fails(admin("permission", "add", "directory:read", "--title", "Mine", ok=False),
                 "Permission 'directory:read' is built in.")
    assert_fails(admin("permission", "remove", "scim:provision", ok=False),
                 "Permission 'scim:provision' is built in and cannot be removed.")
    assert_fails(admin("permission", "remove", "nope:nope", ok=False), "No permission 'nope:nope'.")
    assert_fails(admin("permission", "add", "x:y", "--title", "  ", ok=False),
                 "A permission needs a title (--title).")


def test_remove_is_refused_while_roles_grant_it_naming_them(admin):
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("role", "create", "chatter", "--permission", "chat:use")
    admin("role", "create", "admins", "--permission", "chat:use", "--permission", "scim:provision")
    assert_fails(admin("permission", "remove", "chat:use", ok=False),
                 "Permission 'chat:use' is granted by role(s) admins, chatter: remove it from them "
                 "first ('scimsvc role remove-permission').")
    admin("role", "remove-permission", "admins", "chat:use")
    admin("role", "delete", "chatter", "--yes")
    admin("permission", "remove", "chat:use")


def test_product_permissions_are_per_organization(admin):
    admin("org", "create", "b")
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    assert_fails(admin("--org", "b", "role", "create", "r", "--permission", "chat:use", ok=False),
                 "Unknown permission 'chat:use' (see 'scimsvc permission list').")
    admin("--org", "b", "permission", "add", "chat:use", "--title", "B's chat")
    admin("--org", "b", "role", "create", "r", "--permission", "chat:use")


def test_roles_grant_product_permissions(admin):
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("permission", "add", "models:use", "--title", "Use the models")
    assert admin("role", "create", "member", "--permission", "chat:use",
                 "--permission", "models:use").stdout == \
        "Role 'member' created: chat:use (tenant), models:use (tenant).\n"
    shown = json.loads(admin("role", "show", "member", "--json").stdout)
    assert [(p["action"], p["title"]) for p in shown["permissions"]] == \
        [("chat:use", "Use the chat"), ("models:use", "Use the models")]


def test_role_add_and_remove_permission(admin):
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("role", "create", "member", "--permission", "directory:read")
    assert admin("role", "add-permission", "member", "chat:use").stdout == \
        "Role 'member' now grants 'chat:use' (tenant).\n"
    assert [p["action"] for p in json.loads(admin("role", "show", "member", "--json").stdout)
            ["permissions"]] == ["chat:use", "directory:read"]
    assert_fails(admin("role", "add-permission", "member", "chat:use", ok=False),
                 "Role 'member' already grants 'chat:use'.")
    assert_fails(admin("role", "add-permission", "member", "no:such", ok=False),
                 "Unknown permission 'no:such' (see 'scimsvc permission list').")
    assert_fails(admin("role", "add-permission", "ghost", "chat:use", ok=False), "No role 'ghost'.")
    assert admin("role", "remove-permission", "member", "directory:read").stdout == \
        "Role 'member' no longer grants 'directory:read'.\n"
    assert_fails(admin("role", "remove-permission", "member", "directory:read", ok=False),
                 "Role 'member' does not grant 'directory:read'.")
    assert_fails(admin("role", "remove-permission", "member", "chat:use", ok=False),
                 "'chat:use' is the only permission of role 'member': a role needs at least one; "
                 "delete the role instead ('scimsvc role delete').")
