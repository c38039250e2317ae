"""scimsvc team add-member / remove-member / link-group / unlink-group, group list / show, reasons."""
from __future__ import annotations

import json

from tests.cli import assert_fails
from tests.conftest import ScimClient, make_user, provision_key

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _setup(admin, app):
    scim = ScimClient(app.test_client(), provision_key(admin))
    admin("team", "create", "employees")
    admin("provisioning", "assign-team", "employees")
    alice = make_user(scim, "alice@example.com")
    bob = make_user(scim, "bob@example.com")
    admin("team", "create", "admins")
    return scim, alice, bob


def _members(admin, team):
    data = json.loads(admin("team", "show", team, "--json").stdout)
    return {m["userName"]: m["reasons"] for m in data["members"]}


def test_add_and_remove_member_keep_other_reasons(admin, app):
    scim, alice, bob = _setup(admin, app)
    result = admin("team", "add-member", "admins", "ALICE@example.com", bob["id"])
    assert result.stdout == ("alice@example.com added to team 'admins'.\n"
                             "bob@example.com added to team 'admins'.\n")
    assert _members(admin, "admins") == {"alice@example.com": ["admin"], "bob@example.com": ["admin"]}
    admin("team", "add-member", "employees", "alice@example.com")
    assert _members(admin, "employees")["alice@example.com"] == ["assignment", "admin"]
    out = admin("team", "remove-member", "employees", "alice@example.com").stdout
    assert "still a member for another reason" in out
    assert _members(admin, "employees")["alice@example.com"] == ["assignment"]
    assert admin("team", "remove-member", "admins", "bob@example.com").stdout == \
        "bob@example.com removed from team 'admins'.\n"
    assert "bob@example.com" not in _members(admin, "admins")
    again = admin("team", "add-member", "admins", "alice@example.com").stdout
    assert again == "alice@example.com was already in team 'admins' (admin).\n"


def test_member_mistakes_write_nothing(admin, app):
    scim, alice, _ = _setup(admin, app)
    assert_fails(admin("team", "add-member", "admins", "alice@example.com", "nobody", ok=False),
                 "No user 'nobody'.")
    assert _members(admin, "admins") == {}
    assert_fails(admin("team", "add-member", "nope", "alice@example.com", ok=False), "No team 'nope'.")
    scim.delete(f"Users/{alice['id']}")
    assert_fails(admin("team", "add-member", "admins", "alice@example.com", ok=False),
                 "User 'alice@example.com' is removed: only live users can join a team.")


def test_member_changes_are_journaled_with_actor_cli(admin, app):
    _setup(admin, app)
    admin("team", "add-member", "admins", "alice@example.com")
    admin("team", "remove-member", "admins", "alice@example.com")
    events = json.loads(admin("audit", "list", "--json").stdout)
    cli_events = [e for e in events if e["method"] == "CLI"]
    assert [(e["operation"], e["path"], e["target"]["userName"], e["changes"]) for e in cli_events] == [
        ("member_add", "scimsvc team add-member", "alice@example.com", {"team": "admins", "reason": "admin"}),
        ("member_remove", "scimsvc team remove-member", "alice@example.com",
         {"team": "admins", "reason": "admin"}),
    ]
    listed = admin("audit", "list", "--key", "cli").stdout
    assert "member_add" in listed and "member_remove" in listed


def test_team_list_counts_active_disabled_removed(admin, app):
    scim, alice, bob = _setup(admin, app)
    carol = make_user(scim, "carol@example.com")
    scim.patch(f"Users/{bob['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    scim.delete(f"Users/{carol['id']}")
    data = {t["name"]: t["members"] for t in json.loads(admin("team", "list", "--json").stdout)}
    assert data["employees"] == {"active": 1, "disabled": 1, "removed": 1}
    assert data["admins"] == {"active": 0, "disabled": 0, "removed": 0}
    assert "employees  -                 1        1         1\n" in admin("team", "list").stdout


def test_user_show_gives_reasons_per_team(admin, app):
    _setup(admin, app)
    admin("team", "add-member", "employees", "alice@example.com")
    admin("team", "add-member", "admins", "alice@example.com")
    data = json.loads(admin("user", "show", "alice@example.com", "--json").stdout)
    assert data["teams"] == ["admins", "employees"]
    assert data["memberships"] == [{"team": "admins", "reasons": ["admin"]},
                                   {"team": "employees", "reasons": ["assignment", "admin"]}]
    assert "Teams:       admins (admin), employees (assignment, admin)" in \
        admin("user", "show", "alice@example.com").stdout


def _group(scim, name, *members):
    response = scim.post("Groups", json={"schemas": [GROUP], "displayName": name,
                                         "members": [{"value": m} for m in members]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_link_group_follows_membership_and_unlink_takes_exactly_those(admin, app):
    scim, alice, bob = _setup(admin, app)
    carol = make_user(scim, "carol@example.com")
    eng = _group(scim, "Engineering", alice["id"])
    admin("team", "add-member", "admins", "alice@example.com")
    assert admin("team", "link-group", "admins", "engineering").stdout == \
        "Team 'admins' linked to group 'Engineering': 1 member now in the team through it.\n"
    assert _members(admin, "admins") == {"alice@example.com": ["admin", "group:Engineering"]}
    # joins and leaves through SCIM follow
    scim.patch(f"Groups/{eng['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": bob["id"]}, {"value": carol["id"]}]}]})
    assert _members(admin, "admins")["bob@example.com"] == ["group:Engineering"]
    scim.patch(f"Groups/{eng['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": f'members[value eq "{carol["id"]}"]'}]})
    assert "carol@example.com" not in _members(admin, "admins")
    # a rename shows the new name
    scim.patch(f"Groups/{eng['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Eng"}]})
    assert _members(admin, "admins")["bob@example.com"] == ["group:Eng"]
    assert_fails(admin("team", "link-group", "admins", "Eng", ok=False),
                 "Team 'admins' is already linked to group 'Eng'.")
    assert admin("team", "unlink-group", "admins", "Eng").stdout == \
        "Team 'admins' unlinked from group 'Eng': 2 memberships through it removed.\n"
    assert _members(admin, "admins") == {"alice@example.com": ["admin"]}
    assert_fails(admin("team", "unlink-group", "admins", "Eng", ok=False),
                 "Team 'admins' is not linked to group 'Eng'.")
    assert_fails(admin("team", "link-group", "admins", "nope", ok=False), "No group 'nope'.")


def test_deleting_a_linked_group_takes_its_memberships(admin, app):
    scim, alice, _ = _setup(admin, app)
    eng = _group(scim, "Engineering", alice["id"])
    admin("team", "link-group", "employees", "Engineering")
    assert _members(admin, "employees")["alice@example.com"] == ["assignment", "group:Engineering"]
    assert scim.delete(f"Groups/{eng['id']}").status_code == 204
    assert _members(admin, "employees")["alice@example.com"] == ["assignment"]


def test_group_list_and_show(admin, app):
    scim, alice, bob = _setup(admin, app)
    eng = _group(scim, "Engineering", alice["id"], bob["id"])
    _group(scim, "Sales")
    admin("team", "link-group", "admins", "Engineering")
    assert admin("group", "list").stdout == (
        "DISPLAYNAME  ID                                    MEMBERS  TEAMS\n"
        f"Engineering  {eng['id']}  2        admins\n"
        f"Sales        {json.loads(admin('group', 'list', '--json').stdout)[1]['id']}  0        -\n"
    )
    shown = json.loads(admin("group", "show", "engineering", "--json").stdout)
    assert shown["teams"] == ["admins"]
    assert [m["userName"] for m in shown["members"]] == ["alice@example.com", "bob@example.com"]
    assert "Members:     2" in admin("group", "show", eng["id"]).stdout
    assert_fails(admin("group", "show", "nope", ok=False), "No group 'nope'.")


def test_scim_may_not_take_the_last_team_of_a_protected_user(admin, app):
    """A break-glass admin in a team only through a linked group: the IdP removing them from
    the group (PATCH or DELETE of the group) is refused; with another reason it goes through."""
    scim = ScimClient(app.test_client(), provision_key(admin))
    admin("team", "create", "admins")
    root = make_user(scim, "root@example.com")
    group = scim.post("Groups", json={"schemas": [GROUP], "displayName": "Admins",
                                      "members": [{"value": root["id"]}]}).get_json()
    admin("team", "link-group", "admins", "Admins")
    admin("user", "protect", "root@example.com")
    remove = {"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": f'members[value eq "{root["id"]}"]'}]}

    refused = scim.patch(f"Groups/{group['id']}", json=remove)
    assert refused.status_code == 403 and "protected" in refused.get_json()["detail"]
    assert scim.delete(f"Groups/{group['id']}").status_code == 403
    assert _members(admin, "admins") == {"root@example.com": ["group:Admins"]}

    admin("team", "add-member", "admins", "root@example.com")  # a second reason
    assert scim.patch(f"Groups/{group['id']}", json=remove).status_code == 200
    assert _members(admin, "admins") == {"root@example.com": ["admin"]}
