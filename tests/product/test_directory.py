"""The access API: /api/v1/users by id and by lookup, the user object, paging, JSON errors."""
from __future__ import annotations

import pytest

from scimsvc.services import cursors

from tests.conftest import make_user
from tests.product.conftest import assert_error


@pytest.fixture
def org_setup(admin, scim):
    """Teams and roles with product permissions: staff grants chat:use, admins also models:admin."""
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("permission", "add", "models:admin", "--title", "Administer models")
    admin("role", "create", "chatter", "--permission", "chat:use")
    admin("role", "create", "model-admin", "--permission", "models:admin", "--permission", "chat:use")
    admin("team", "create", "staff", "--role", "chatter")
    admin("team", "create", "admins", "--role", "model-admin")
    admin("provisioning", "assign-team", "staff")


def test_a_user_with_teams_roles_and_effective_permissions(org_setup, scim, product):
    alice = make_user(scim, "Alice@Example.com", externalId="00u1", displayName="Alice",
                      emails=[{"value": "alice@example.com", "type": "work", "primary": True}])
    response = product.get(f"/api/v1/users/{alice['id']}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == {
        "id": alice["id"], "userName": "Alice@Example.com", "externalId": "00u1",
        "displayName": "Alice",
        "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
        "status": "active", "teams": ["staff"], "roles": ["chatter"],
        "permissions": ["chat:use"],
        "updatedAt": response.get_json()["updatedAt"], "version": 1,
    }
    assert response.get_json()["updatedAt"].endswith("Z")


def test_permissions_are_empty_unless_active_and_removed_users_say_so(org_setup, scim, product):
    alice = make_user(scim, "alice@example.com")
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert scim.patch(f"Users/{alice['id']}", json=patch).status_code == 200
    disabled = product.get(f"/api/v1/users/{alice['id']}").get_json()
    assert (disabled["status"], disabled["roles"], disabled["permissions"]) == \
        ("disabled", ["chatter"], [])

    assert scim.delete(f"Users/{alice['id']}").status_code == 204
    removed = product.get(f"/api/v1/users/{alice['id']}")
    assert removed.status_code == 200
    assert (removed.get_json()["status"], removed.get_json()["permissions"]) == ("removed", [])


def test_never_provisioned_is_a_json_404(product):
    assert_error(product.get("/api/v1/users/2819c223-7f76-453a-919d-413861904646"), 404,
                 "not_found", "No user with id")
    assert_error(product.get("/api/v1/users/%00"), 404, "not_found")


def test_exact_lookups(org_setup, admin, scim, product):
    alice = make_user(scim, "alice@example.com", externalId="Ext-1",
                      emails=[{"value": "Alice.Work@Example.com"}])
    bob = make_user(scim, "bob@example.com", externalId="ext-1")
    admin("team", "add-role", "staff", "model-admin")

    def ids(query):
        response = product.get(f"/api/v1/users?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [u["id"] for u in response.get_json()["data"]]

    assert ids("userName=ALICE@example.COM") == [alice["id"]]  # caseExact false
    assert ids("email=alice.work@example.com") == [alice["id"]]
    assert ids("externalId=Ext-1") == [alice["id"]]  # caseExact true
    assert ids("externalId=ext-1") == [bob["id"]]
    assert ids("userName=carol@example.com") == []
    assert ids("team=staff") == [alice["id"], bob["id"]]
    assert ids("team=admins") == [] and ids("team=nope") == []
    assert ids("permission=models:admin") == [alice["id"], bob["id"]]
    assert ids("permission=models:admin&userName=bob@example.com") == [bob["id"]]

    scim.delete(f"Users/{bob['id']}")
    assert ids("status=removed") == [bob["id"]]
    assert ids("status=active") == [alice["id"]]
    assert ids("status=disabled") == []
    assert ids("permission=chat:use") == [alice["id"]]  # a removed user holds nothing
    assert ids("") == [alice["id"], bob["id"]]  # removed users are listed


def test_cursor_paging_walks_every_user_once(scim, product):
    created = [make_user(scim, f"user{i}@example.com")["id"] for i in range(5)]
    seen, pages, after = [], 0, None
    while True:
        response = product.get("/api/v1/users?limit=2" + (f"&after={after}" if after else ""))
        body = response.get_json()
        seen += [u["id"] for u in body["data"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        assert len(body["data"]) == 2
    assert seen == created and pages == 3


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit is a whole number from 1 to 1000"),
    ("limit=abc", "limit is a whole number"),
    ("limit=1001", "limit is a whole number"),
    ("limit=%C2%B2", "limit is a whole number"),  # '²': str.isdigit() says yes, int() no
    ("limit=%D9%A1", "limit is a whole number"),  # an Arabic-Indic 1
    ("limit=" + "1" * 5000, "limit is a whole number"),  # past int()'s digit limit
    ("after=not-a-cursor", "is not a users cursor"),
    # 'u' and 25 nines, 2**63, 2**31: past a user id (INTEGER, 32-bit on PostgreSQL)
    ("after=" + cursors.encode("u", 10**25 - 1), "is not a users cursor"),
    ("after=" + cursors.encode("u", 2**63), "is not a users cursor"),
    ("after=" + cursors.encode("u", 2**31), "is not a users cursor"),
    ("status=gone", "status is one of: active, disabled, removed"),
])
def test_bad_parameters_are_json_400s(product, query, message):
    assert_error(product.get(f"/api/v1/users?{query}"), 400, "invalid_request", message)


def test_the_largest_users_cursor_is_an_empty_page(scim, product):
    make_user(scim)
    response = product.get("/api/v1/users?after=" + cursors.encode("u", 2**31 - 1))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["data"] == [] and response.get_json()["next"] is None


def test_an_events_cursor_is_not_a_users_cursor(scim, product):
    make_user(scim)
    following = product.get("/api/v1/events").get_json()["next"]
    assert_error(product.get(f"/api/v1/users?after={following}"), 400, "invalid_request")


def test_unknown_endpoints_and_methods_are_json(product):
    assert_error(product.get("/api/v1/nope"), 404, "not_found", "No such endpoint")
    response = product.post("/api/v1/users", json_body={})
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
