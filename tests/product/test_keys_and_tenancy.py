"""Which key may call which API, and a key of organization B never sees organization A."""
from __future__ import annotations

import pytest

from tests.conftest import ScimClient, make_user, provision_key
from tests.product.conftest import ProductClient, assert_error, product_key
from tests.scimdata import CORE_USER

EVALUATION = {"subject": {"type": "user", "id": "alice@example.com"},
              "action": {"name": "scim:provision"},
              "resource": {"type": "organization", "id": "default"}}


def _calls(client: ProductClient, user_id: str):
    """(name, response) of one call to each API with the client's key."""
    scim = ScimClient(client.client, client.key)
    return {
        "scim": scim.get("Users").status_code,
        "users": client.get("/api/v1/users").status_code,
        "user": client.get(f"/api/v1/users/{user_id}").status_code,
        "events": client.get("/api/v1/events").status_code,
        "evaluation": client.post("/access/v1/evaluation", json_body=EVALUATION).status_code,
        "evaluations": client.post("/access/v1/evaluations", json_body=EVALUATION).status_code,
    }


@pytest.mark.parametrize("permissions, allowed", [
    (("scim:provision",), {"scim"}),
    (("directory:read",), {"users", "user", "evaluation", "evaluations"}),
    (("events:read",), {"events"}),
    (("directory:read", "events:read"), {"users", "user", "events", "evaluation", "evaluations"}),
])
def test_each_api_needs_its_permission(app, admin, scim, permissions, allowed):
    alice = make_user(scim, "alice@example.com")
    client = ProductClient(app.test_client(), product_key(admin, *permissions))
    statuses = _calls(client, alice["id"])
    assert {name for name, status in statuses.items() if status == 200} == allowed
    assert {status for name, status in statuses.items() if name not in allowed} <= {403}


def test_a_refusal_names_the_missing_permission_in_json(app, admin, scim):
    only_scim = ProductClient(app.test_client(), scim.key)
    body = assert_error(only_scim.get("/api/v1/users"), 403, "forbidden")
    assert "'Read users and their access' (directory:read)" in body["error"]["message"]
    body = assert_error(only_scim.get("/api/v1/events"), 403, "forbidden")
    assert "(events:read)" in body["error"]["message"]
    response = only_scim.get("/api/v1/users")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("key", [None, "scimsvc_000000000000_" + "x" * 43])
def test_no_key_or_an_unknown_key_is_a_json_401(app, admin, key):
    client = ProductClient(app.test_client(), key)
    for response in (client.get("/api/v1/users"), client.get("/api/v1/events"),
                     client.post("/access/v1/evaluation", json_body=EVALUATION)):
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_taking_the_role_from_the_team_locks_the_product_key_out(app, admin, scim):
    client = ProductClient(app.test_client(), product_key(admin, "directory:read"))
    assert client.get("/api/v1/users").status_code == 200
    admin("team", "remove-role", "product", "product-role")
    assert_error(client.get("/api/v1/users"), 403, "forbidden")


@pytest.fixture
def org_b(app, admin):
    """Organization b with its own IdP key and a product key of the same names as default's."""
    admin("org", "create", "b")
    idp = ScimClient(app.test_client(), provision_key(admin, org="b"))
    product = ProductClient(app.test_client(),
                            product_key(admin, "directory:read", "events:read", org="b"))
    return idp, product


def test_organization_b_never_sees_a_users_decisions_or_events(app, admin, scim, org_b):
    admin("role", "create", "everyone", "--permission", "directory:read")
    admin("team", "create", "employees", "--role", "everyone")
    admin("provisioning", "assign-team", "employees")
    alice = make_user(scim, "alice@example.com", externalId="a-1",
                      emails=[{"value": "alice@example.com"}])
    idp_b, product_b = org_b

    assert_error(product_b.get(f"/api/v1/users/{alice['id']}"), 404, "not_found")
    for query in ("", "userName=alice@example.com", "email=alice@example.com",
                  "externalId=a-1", "team=employees", "permission=directory:read",
                  "status=active"):
        assert product_b.get(f"/api/v1/users?{query}").get_json()["data"] == [], query
    assert product_b.get("/api/v1/events").get_json()["data"] == []

    # Asking about A's organization, or about A's user in B, is denied.
    about_a = {"subject": {"type": "user", "id": "alice@example.com"},
               "action": {"name": "directory:read"},
               "resource": {"type": "organization", "id": "default"}}
    assert product_b.post("/access/v1/evaluation", json_body=about_a).get_json()["decision"] is False
    in_b = {**about_a, "resource": {"type": "organization", "id": "b"}}
    assert product_b.post("/access/v1/evaluation", json_body=in_b).get_json() == \
        {"decision": False, "context": {"reason": "user unknown"}}
    by_id = {**in_b, "subject": {"type": "user", "id": alice["id"]}}
    assert product_b.post("/access/v1/evaluation", json_body=by_id).get_json()["decision"] is False

    # B's own user with the same userName is B's, and B's feed has only B's event.
    bob = idp_b.post("Users", json={"schemas": [CORE_USER], "userName": "alice@example.com"})
    assert bob.status_code == 201
    feed_b = product_b.get("/api/v1/events").get_json()["data"]
    assert [(e["user"]["id"], e["organization"], e["sequence"]) for e in feed_b] == \
        [(bob.get_json()["id"], "b", 1)]
    events_a = ProductClient(app.test_client(),
                             product_key(admin, "events:read", name="feed", team="feed"))
    assert [e["user"]["id"] for e in events_a.get("/api/v1/events").get_json()["data"]] == \
        [alice["id"]]
