"""Okta and Entra sequences against a live ``scimsvc serve`` over real HTTP (issue 4, "Done when"),
users and (issue 13) group push, with a team linked to the pushed group.

One server per module (gunicorn, 2 workers, SQLite in a temp folder); every sequence uses its own
API key and its own userNames, so the sequences do not depend on each other's users.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.idp import entra_traffic as entra_wire
from tests.idp import group_traffic as group_wire
from tests.idp import okta_traffic as okta_wire
from tests.idp.entra_traffic import ENTERPRISE, patch
from tests.idp.live import LiveServer
from tests.idp.replay import IdP, expect, expect_error, expect_list

pytestmark = pytest.mark.system  # starts real processes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("live") / "instance")
    live.start()
    yield live
    live.stop()


def test_okta_sequence_over_http(server):
    okta = IdP(server.client(), server.key("okta-live"), user_agent=okta_wire.USER_AGENT,
               content_type=okta_wire.CONTENT_TYPE, extra_headers=okta_wire.HEADERS)
    expect_list(okta.search(**okta_wire.CONNECTION_TEST_QUERY), total=0)
    response = okta.search(okta_wire.LOOKUP_FILTER, **okta_wire.LOOKUP_QUERY)
    assert expect_list(response, total=0) == []
    assert response.headers["X-Request-Id"]

    response = okta.post("Users", okta_wire.create_user())
    user = expect(response, 201)
    assert response.headers["Location"] == f"http://127.0.0.1:{server.port}/scim/v2/Users/{user['id']}"
    assert response.headers["ETag"] == user["meta"]["version"]
    assert "password" not in user and "1mz050nq" not in response.get_data(as_text=True)
    expect_error(okta.post("Users", okta_wire.create_user(userName="TEST.USER@okta.local")), 409, "uniqueness")

    current = expect(okta.get(f"Users/{user['id']}"), 200)
    updated = expect(okta.put(f"Users/{user['id']}", okta_wire.put_user(user["id"], password="n3w!")), 200)
    assert updated["name"]["middleName"] == "Excited" and updated["meta"]["version"] != current["meta"]["version"]
    assert expect(okta.patch(f"Users/{user['id']}", okta_wire.set_active(False)), 200)["active"] is False
    assert expect_list(okta.search(okta_wire.LOOKUP_FILTER), total=1)[0]["active"] is False
    assert expect(okta.patch(f"Users/{user['id']}", okta_wire.set_active(True)), 200)["active"] is True


def test_entra_sequence_over_http(server):
    entra = IdP(server.client(), server.key("entra-live"), user_agent=entra_wire.USER_AGENT)
    expect_list(entra.search(entra_wire.test_connection_filter()), total=0)
    user = expect(entra.post("Users", entra_wire.create_user()), 201)
    boss = expect(entra.post("Users", entra_wire.create_enterprise_user_pascal()), 201)
    assert boss[ENTERPRISE]["department"] == "bob"
    found = expect_list(entra.search(
        'emails[type eq "work"].value eq "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"'), total=1)
    assert found[0]["id"] == user["id"]

    url = f"Users/{user['id']}"
    expect(entra.patch(url, patch(*entra_wire.REPLACE_MANY_WITHOUT_FLAG)), 200)
    flagged = expect(entra.patch(url, patch(*entra_wire.REPLACE_MANY_WITH_FLAG)), 200)
    assert flagged["name"]["givenName"] == "Kkom" and flagged[ENTERPRISE]["employeeNumber"] == "Aklq"
    managed = expect(entra.patch(url, patch(entra_wire.set_manager_bare(boss["id"]))), 200)
    assert managed[ENTERPRISE]["manager"] == {"value": boss["id"]}
    assert expect(entra.patch(url, patch(entra_wire.DISABLE_WITHOUT_FLAG)), 200)["active"] is False
    assert expect(entra.get(url), 200)["active"] is False

    response = entra.delete(url)
    assert response.status_code == 204 and response.get_data() == b""
    expect_error(entra.get(url), 404)
    expect_error(entra.put(url, entra_wire.create_user()), 404)
    expect_error(entra.patch(url, patch(entra_wire.DISABLE_WITH_FLAG)), 404)
    expect_error(entra.delete(url), 404)
    expect_error(entra.post("Users", entra_wire.USER_JUNK), 400, "invalidSyntax")
    expect_error(entra.patch(f"Users/{boss['id']}", patch({"op": "frobnicate", "path": "active", "value": False})),
                 400, "invalidSyntax")


def _member_ids(resource: dict) -> list[str]:
    return sorted(m["value"] for m in resource.get("members", []))


def _team(server, name: str) -> dict[str, list[str]]:
    shown = json.loads(server.admin("team", "show", name, "--json"))
    return {m["userName"]: m["reasons"] for m in shown["members"]}


def test_okta_group_push_over_http(server):
    okta = IdP(server.client(), server.key("okta-groups-live"), user_agent=okta_wire.USER_AGENT,
               content_type=okta_wire.CONTENT_TYPE, extra_headers=okta_wire.HEADERS)
    ann, bob = (expect(okta.post("Users", okta_wire.create_user(userName=name, externalId=ext)), 201)["id"]
                for name, ext in (("ann.groups@okta.local", "00u-ann"), ("bob.groups@okta.local", "00u-bob")))
    created = expect(okta.post("Groups", group_wire.okta_create_group()), 201)
    group_id = created["id"]
    assert "members" not in created
    assert group_id in [g["id"] for g in expect_list(okta.get(group_wire.OKTA_LIST), total=1)]
    url = f"Groups/{group_id}"
    assert _member_ids(expect(okta.patch(url, group_wire.okta_add_members(ann, bob)), 200)) == sorted([ann, bob])
    server.admin("team", "create", "okta-pushed")
    server.admin("team", "link-group", "okta-pushed", "Test SCIMv2")
    assert _team(server, "okta-pushed") == {"ann.groups@okta.local": ["group:Test SCIMv2"],
                                            "bob.groups@okta.local": ["group:Test SCIMv2"]}
    members = expect_list(okta.get("Users?filter=" + quote(f'groups.value eq "{group_id}"')), total=2)
    assert sorted(u["id"] for u in members) == sorted([ann, bob])
    assert _member_ids(expect(okta.patch(url, group_wire.okta_remove_member(ann)), 200)) == [bob]
    assert _team(server, "okta-pushed") == {"bob.groups@okta.local": ["group:Test SCIMv2"]}
    assert "groups" not in expect(okta.get(f"Users/{ann}"), 200)
    assert _member_ids(expect(okta.patch(url, group_wire.okta_replace_members(ann)), 200)) == [ann]
    assert list(_team(server, "okta-pushed")) == ["ann.groups@okta.local"]
    assert expect(okta.patch(url, group_wire.okta_rename(group_id)), 200)["displayName"] == "Test SCIMv2"
    assert [g["value"] for g in expect(okta.get(f"Users/{ann}"), 200)["groups"]] == [group_id]
    assert okta.delete(url).status_code == 204
    expect_error(okta.get(url), 404)
    assert _team(server, "okta-pushed") == {}


def test_entra_group_provisioning_over_http(server):
    entra = IdP(server.client(), server.key("entra-groups-live"), user_agent=entra_wire.USER_AGENT)
    ann, bob = (expect(entra.post("Users", entra_wire.create_user(userName=name, externalId=ext)), 201)["id"]
                for name, ext in (("ann.groups@entra.test", "ann-groups"), ("bob.groups@entra.test", "bob-groups")))
    assert expect_list(entra.get(group_wire.ENTRA_BY_NAME), total=0) == []
    group_id = expect(entra.post("Groups", group_wire.entra_create_group()), 201)["id"]
    assert [g["id"] for g in expect_list(entra.get(group_wire.ENTRA_BY_NAME), total=1)] == [group_id]
    url = f"Groups/{group_id}"
    server.admin("team", "create", "entra-pushed")
    server.admin("team", "link-group", "entra-pushed", "displayName")
    assert _member_ids(expect(entra.patch(url, group_wire.entra_add_members(ann, bob)), 200)) == sorted([ann, bob])
    got = expect(entra.get(group_wire.entra_get_group(group_id)), 200)
    assert "members" not in got and got["displayName"] == "displayName"
    assert sorted(_team(server, "entra-pushed")) == ["ann.groups@entra.test", "bob.groups@entra.test"]
    # Without aadOptscim062020: Remove with a value list; with it: members[value eq "…"].
    assert _member_ids(expect(entra.patch(url, group_wire.entra_remove_members(ann)), 200)) == [bob]
    flagged = {"schemas": group_wire.entra_remove_members(bob)["schemas"],
               "Operations": [{"op": "remove", "path": f'members[value eq "{bob}"]'}]}
    assert _member_ids(expect(entra.patch(url, flagged), 200)) == []
    assert _team(server, "entra-pushed") == {}
    renamed = expect(entra.patch(url, group_wire.entra_rename()), 200)
    assert renamed["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    assert entra.delete(url).status_code == 204
    expect_error(entra.get(group_wire.entra_get_group(group_id)), 404)
