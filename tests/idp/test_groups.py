"""Okta's and Entra ID's group push replayed (tests/idp/group_traffic.py names the documents),
and a linked team following the pushed membership."""
from __future__ import annotations

import json

from tests.conftest import make_user
from tests.conftest import ScimClient

from . import group_traffic as wire
from .replay import expect, expect_error, expect_list


def _users(app, idp, *names):
    scim = ScimClient(app.test_client(), idp.key)
    return [make_user(scim, name)["id"] for name in names]


def _members(resource):
    return sorted(m["value"] for m in resource.get("members", []))


def test_okta_group_push(app, admin, okta):
    alice, bob, carol = _users(app, okta, "alice@example.com", "bob@example.com", "carol@example.com")
    created = expect(okta.post("Groups", wire.okta_create_group()), 201)
    assert created["displayName"] == "Test SCIMv2" and "members" not in created
    group_id = created["id"]
    assert [g["id"] for g in expect_list(okta.get(wire.OKTA_LIST), total=1)] == [group_id]
    assert _members(expect(okta.patch(f"Groups/{group_id}", wire.okta_add_members(alice, bob)), 200)) \
        == sorted([alice, bob])
    admin("team", "create", "engineering")
    admin("team", "link-group", "engineering", "Test SCIMv2")
    removed = expect(okta.patch(f"Groups/{group_id}", wire.okta_remove_member(alice)), 200)
    assert _members(removed) == [bob]
    pushed = expect(okta.patch(f"Groups/{group_id}", wire.okta_replace_members(bob, carol)), 200)
    assert _members(pushed) == sorted([bob, carol])
    renamed = expect(okta.patch(f"Groups/{group_id}", wire.okta_rename(group_id)), 200)
    assert renamed["displayName"] == "Test SCIMv2"
    team = json.loads(admin("team", "show", "engineering", "--json").stdout)
    assert {m["userName"]: m["reasons"] for m in team["members"]} == {
        "bob@example.com": ["group:Test SCIMv2"], "carol@example.com": ["group:Test SCIMv2"]}
    user = expect(okta.get(f"Users/{carol}"), 200)
    assert [g["value"] for g in user["groups"]] == [group_id]
    assert okta.delete(f"Groups/{group_id}").status_code == 204
    assert json.loads(admin("team", "show", "engineering", "--json").stdout)["members"] == []
    expect_error(okta.get(f"Groups/{group_id}"), 404)


def test_entra_group_provisioning(app, admin, entra):
    alice, bob = _users(app, entra, "alice@example.com", "bob@example.com")
    assert expect_list(entra.get(wire.ENTRA_BY_NAME), total=0) == []  # the lookup before a create
    created = expect(entra.post("Groups", wire.entra_create_group()), 201)
    assert created["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    group_id = created["id"]
    assert [g["id"] for g in expect_list(entra.get(wire.ENTRA_BY_NAME), total=1)] == [group_id]
    added = expect(entra.patch(f"Groups/{group_id}", wire.entra_add_members(alice, bob)), 200)
    assert _members(added) == sorted([alice, bob])
    got = expect(entra.get(wire.entra_get_group(group_id)), 200)
    assert "members" not in got and got["displayName"] == "displayName"
    # Remove with a value list takes those members only, never the whole list
    left = expect(entra.patch(f"Groups/{group_id}", wire.entra_remove_members(alice)), 200)
    assert _members(left) == [bob]
    # Adding a member already present changes nothing
    version = left["meta"]["version"]
    same = expect(entra.patch(f"Groups/{group_id}", wire.entra_add_members(bob)), 200)
    assert same["meta"]["version"] == version and _members(same) == [bob]
    unknown = expect_error(entra.patch(f"Groups/{group_id}", wire.entra_add_members("f648f8d5ea4e4cd38e9c")),
                           400, "invalidValue")
    assert "f648f8d5ea4e4cd38e9c" in unknown["detail"]
    renamed = expect(entra.patch(f"Groups/{group_id}", wire.entra_rename()), 200)
    assert renamed["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    assert entra.delete(f"Groups/{group_id}").status_code == 204
    events = [e["operation"] for e in json.loads(admin("audit", "list", "--json").stdout)
              if e["target"] and e["target"]["id"] == group_id]
    assert events[:2] == ["group_create", "group_patch"] and "group_rename" in events
    assert events[-1] == "group_remove"
