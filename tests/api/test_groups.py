"""/scim/v2/Groups (RFC 7643 §4.2, RFC 7644 §3): CRUD, filters, PATCH forms, uniqueness, users' groups."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import make_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def make_group(scim, name="Engineering", members=(), **extra):
    body = {"schemas": [GROUP], "displayName": name,
            "members": [{"value": m} for m in members], **extra}
    response = scim.post("Groups", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def patch(scim, group_id, *operations, status=200):
    response = scim.patch(f"Groups/{group_id}", json={"schemas": [PATCH_OP],
                                                      "Operations": list(operations)})
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def member_ids(resource):
    return sorted(m["value"] for m in resource.get("members", []))


@pytest.fixture
def people(scim):
    return [make_user(scim, f"user{i}@example.com")["id"] for i in range(4)]


def test_create_read_and_location(scim, people):
    created = make_group(scim, "Engineering", people[:2], externalId="okta-00g1")
    assert created["schemas"] == [GROUP] and created["displayName"] == "Engineering"
    assert created["externalId"] == "okta-00g1"
    assert member_ids(created) == sorted(people[:2])
    member = created["members"][0]
    assert member["$ref"].endswith(f"/scim/v2/Users/{member['value']}") and member["type"] == "User"
    assert created["meta"]["resourceType"] == "Group"
    read = scim.get(f"Groups/{created['id']}")
    assert read.status_code == 200 and read.headers["ETag"] == 'W/"1"'
    assert read.get_json() == created


def test_members_display_is_returned_when_asked_for(scim):
    """members.display is returned "request" (the Group schema says so): a PATCH or GET then
    reads back exactly the members a client wrote (scim2-tester compares them field by field)."""
    ann = make_user(scim, "ann@example.com", displayName="Ann Example")
    bob = make_user(scim, "bob@example.com")
    group = make_group(scim, "Engineering", [ann["id"], bob["id"]])
    assert all(set(m) == {"value", "$ref", "type"} for m in group["members"])
    expected = sorted([(ann["id"], "Ann Example"), (bob["id"], "bob@example.com")])
    for body in (scim.get(f"Groups/{group['id']}?attributes=members.display,members.value").get_json(),
                 scim.get("Groups?attributes=members.display,members.value").get_json()["Resources"][0]):
        assert sorted((m["value"], m["display"]) for m in body["members"]) == expected
    schema = scim.get(f"Schemas/{GROUP}").get_json()
    members = next(a for a in schema["attributes"] if a["name"] == "members")
    display = next(a for a in members["subAttributes"] if a["name"] == "display")
    assert display["returned"] == "request"


def test_display_name_unique_ignoring_case(scim):
    make_group(scim, "Engineering")
    response = scim.post("Groups", json={"schemas": [GROUP], "displayName": "ENGINEERING"})
    assert response.status_code == 409 and response.get_json()["scimType"] == "uniqueness"
    other = make_group(scim, "Sales")
    response = scim.patch(f"Groups/{other['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "engineering"}]})
    assert response.status_code == 409


def test_missing_display_name_and_unknown_member_are_400(scim, people):
    response = scim.post("Groups", json={"schemas": [GROUP]})
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"
    response = scim.post("Groups", json={"schemas": [GROUP], "displayName": "X",
                                         "members": [{"value": "no-such-user"}]})
    assert response.status_code == 400 and "no-such-user" in response.get_json()["detail"]
    assert scim.get("Groups").get_json()["totalResults"] == 0  # nothing half-created


def test_filters(scim, people):
    eng = make_group(scim, "Engineering", people[:2], externalId="e1")
    sales = make_group(scim, "Sales", people[2:3])

    def found(expr):
        body = scim.get("Groups", headers=None) if expr is None else \
            scim.client.get("/scim/v2/Groups", query_string={"filter": expr},
                            headers=scim.headers())
        assert body.status_code == 200, body.get_data(as_text=True)
        return [r["id"] for r in body.get_json()["Resources"]]

    assert found('displayName eq "engineering"') == [eng["id"]]
    assert found('externalId eq "e1"') == [eng["id"]]
    assert found(f'id eq "{sales["id"]}"') == [sales["id"]]
    assert found(f'members.value eq "{people[2]}"') == [sales["id"]]
    assert found(f'members[value eq "{people[0]}"]') == [eng["id"]]
    assert found('displayName sw "Eng" or displayName eq "sales"') == [eng["id"], sales["id"]]
    bad = scim.client.get("/scim/v2/Groups", query_string={"filter": 'userName eq "x"'},
                          headers=scim.headers())
    assert bad.status_code == 400 and bad.get_json()["scimType"] == "invalidFilter"


def test_excluded_members_and_attributes(scim, people):
    group = make_group(scim, "Engineering", people)
    listed = scim.get("Groups?excludedAttributes=members").get_json()["Resources"][0]
    assert "members" not in listed and listed["displayName"] == "Engineering"
    one = scim.get(f"Groups/{group['id']}?attributes=displayName").get_json()
    assert set(one) == {"schemas", "id", "displayName"}
    shown = scim.get(f"Groups/{group['id']}?attributes=members.display,members.value").get_json()
    assert {m["display"] for m in shown["members"]} == {f"user{i}@example.com" for i in range(4)}


def test_put_replaces_name_and_members(scim, people):
    group = make_group(scim, "Engineering", people[:2])
    response = scim.put(f"Groups/{group['id']}", json={
        "schemas": [GROUP], "displayName": "Platform", "members": [{"value": people[3]}]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["displayName"] == "Platform" and member_ids(body) == [people[3]]
    assert body["meta"]["version"] == 'W/"2"'


def test_patch_okta_forms(scim, people):
    group = make_group(scim, "Engineering", people[:3])
    body = patch(scim, group["id"], {"op": "remove", "path": f'members[value eq "{people[1]}"]'})
    assert member_ids(body) == sorted([people[0], people[2]])
    body = patch(scim, group["id"], {"op": "replace", "path": "members",
                                     "value": [{"value": people[3]}, {"value": people[0]}]})
    assert member_ids(body) == sorted([people[0], people[3]])
    body = patch(scim, group["id"], {"op": "replace", "value": {"id": group["id"],
                                                                "displayName": "Eng"}})
    assert body["displayName"] == "Eng"


def test_patch_entra_forms(scim, people):
    group = make_group(scim, "Engineering", people[:3])
    body = patch(scim, group["id"], {"op": "Remove", "path": "members",
                                     "value": [{"value": people[0]}]})
    assert member_ids(body) == sorted(people[1:3])  # only that one, never the whole list
    body = patch(scim, group["id"], {"op": "Add", "path": "members",
                                     "value": [{"value": people[1]}, {"value": people[3]}]})
    assert member_ids(body) == sorted(people[1:4])
    version = body["meta"]["version"]
    again = patch(scim, group["id"], {"op": "Add", "path": "members", "value": [{"value": people[1]}]})
    assert again["meta"]["version"] == version  # adding a present member changes nothing
    body = patch(scim, group["id"], {"op": "Remove", "path": "members"})
    assert "members" not in body


def test_patch_with_an_unknown_member_applies_nothing(scim, people):
    group = make_group(scim, "Engineering", people[:1])
    response = scim.patch(f"Groups/{group['id']}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": people[1]}, {"value": "ghost-id"}]}]})
    assert response.status_code == 400 and "ghost-id" in response.get_json()["detail"]
    after = scim.get(f"Groups/{group['id']}").get_json()
    assert after["displayName"] == "Engineering" and member_ids(after) == [people[0]]


def test_patch_mistakes(scim):
    group = make_group(scim, "Engineering")
    for operation, scim_type in (
            ({"op": "remove"}, "noTarget"),
            ({"op": "add", "path": "nope", "value": 1}, "invalidPath"),
            ({"op": "remove", "path": "displayName"}, "invalidValue"),
            ({"op": "remove", "path": 'members[display eq "x"]'}, "invalidFilter")):
        response = scim.patch(f"Groups/{group['id']}", json={"schemas": [PATCH_OP],
                                                             "Operations": [operation]})
        assert response.status_code == 400, operation
        assert response.get_json()["scimType"] == scim_type, operation


def test_delete_and_if_match(scim, people):
    group = make_group(scim, "Engineering", people[:1])
    stale = scim.delete(f"Groups/{group['id']}", headers={"If-Match": 'W/"9"'})
    assert stale.status_code == 412
    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert scim.get(f"Groups/{group['id']}").status_code == 404
    assert scim.get(f"Users/{people[0]}").status_code == 200  # members stay users


def test_users_groups_attribute_reflects_memberships(scim, people):
    eng = make_group(scim, "Engineering", people[:2])
    make_group(scim, "Sales", people[1:2])
    user = scim.get(f"Users/{people[1]}").get_json()
    assert [(g["display"], g["value"]) for g in user["groups"]][0] == ("Engineering", eng["id"])
    assert [g["display"] for g in user["groups"]] == ["Engineering", "Sales"]
    assert "groups" not in scim.get(f"Users/{people[3]}").get_json()
    listed = scim.get("Users?count=10").get_json()["Resources"]
    assert {r["id"]: len(r.get("groups", [])) for r in listed}[people[1]] == 2
    assert "groups" not in scim.get(f"Users/{people[1]}?excludedAttributes=groups").get_json()
    # groups is readOnly: a client's value is ignored
    response = scim.put(f"Users/{people[3]}", json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "user3@example.com",
        "groups": [{"value": eng["id"]}]})
    assert response.status_code == 200 and "groups" not in response.get_json()


def _filtered(scim, text, status=200):
    response = scim.get("Users?" + urlencode({"filter": text, "count": 50}))
    assert response.status_code == status, (text, response.get_data(as_text=True))
    return response.get_json()


def test_users_filter_on_their_groups(admin, app, scim):
    from tests.conftest import ScimClient, provision_key
    from tests.filtercases import (GROUP_BAD_FILTERS, GROUP_CASES, GROUP_MEMBERS, GROUP_PEOPLE,
                                   group_filter)
    people = {name: make_user(scim, name)["id"] for name in GROUP_PEOPLE}
    ids = {name: make_group(scim, name, [people[m] for m in members])["id"]
           for name, members in GROUP_MEMBERS.items()}
    names = {scim_id: name for name, scim_id in people.items()}

    def matched(text):
        body = _filtered(scim, group_filter(text, ids))
        assert body["totalResults"] == len(body["Resources"])
        return {names[r["id"]] for r in body["Resources"]}

    for text, expected in GROUP_CASES:
        assert matched(text) == expected, text
    for text in GROUP_BAD_FILTERS:
        assert _filtered(scim, text, 400)["scimType"] == "invalidFilter", text
    # A member who leaves no longer matches.
    patch(scim, ids["Engineering"], {"op": "remove", "path": f'members[value eq "{people["ann"]}"]'})
    assert matched('groups.value eq "{Engineering}"') == {"bob"}
    # POST /.search too, and another organization's users are never its members.
    found = scim.post(".search", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                       "filter": f'groups.value eq "{ids["Engineering"]}"'})
    assert found.status_code == 200 and found.get_json()["totalResults"] == 1
    admin("org", "create", "beta")
    other = ScimClient(app.test_client(), provision_key(admin, org="beta", name="beta-okta"))
    make_user(other, "bob")
    assert _filtered(other, f'groups.value eq "{ids["Engineering"]}"')["totalResults"] == 0
    assert _filtered(other, "groups pr")["totalResults"] == 0


def test_groups_of_another_organization_are_invisible(admin, app, scim):
    from tests.conftest import ScimClient, provision_key
    group = make_group(scim, "Engineering")
    admin("org", "create", "beta")
    other = ScimClient(app.test_client(), provision_key(admin, org="beta", name="beta-okta"))
    assert other.get(f"Groups/{group['id']}").status_code == 404
    assert other.get("Groups").get_json()["totalResults"] == 0
    assert other.post("Groups", json={"schemas": [GROUP], "displayName": "Engineering"}).status_code == 201


def test_discovery_publishes_group(scim):
    types = scim.get("ResourceTypes").get_json()["Resources"]
    assert [t["id"] for t in types] == ["User", "Group"]
    schema = scim.get(f"Schemas/{GROUP}").get_json()
    assert [a["name"] for a in schema["attributes"]] == ["displayName", "members"]


def test_group_writes_are_journaled_with_member_ids(admin, scim, people):
    import json as _json
    group = make_group(scim, "Engineering", people[:1])
    patch(scim, group["id"], {"op": "add", "path": "members", "value": [{"value": people[1]}]},
          {"op": "remove", "path": f'members[value eq "{people[0]}"]'})
    patch(scim, group["id"], {"op": "replace", "path": "displayName", "value": "Eng"})
    scim.delete(f"Groups/{group['id']}")
    events = _json.loads(admin("audit", "list", "--json").stdout)
    mine = [(e["operation"], e["changes"]) for e in events if e["target"]
            and e["target"]["id"] == group["id"]]
    assert [op for op, _ in mine] == ["group_create", "group_patch", "group_rename", "group_remove"]
    assert mine[0][1]["members"] == {"added": [people[0]], "removed": []}
    assert mine[1][1]["members"] == {"added": [people[1]], "removed": [people[0]]}
    assert mine[2][1]["displayName"] == {"old": "Engineering", "new": "Eng"}
