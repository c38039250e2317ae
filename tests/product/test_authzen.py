"""AuthZEN Access Evaluation (single and batch) and the PDP metadata."""
from __future__ import annotations

import pytest

from tests.conftest import make_user
from tests.product.conftest import assert_error

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def people(admin, scim):
    """alice (active, chat:use through staff), dora (disabled, same team), rex (removed)."""
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("permission", "add", "models:admin", "--title", "Administer models")
    admin("role", "create", "chatter", "--permission", "chat:use")
    admin("team", "create", "staff", "--role", "chatter")
    admin("provisioning", "assign-team", "staff")
    alice = make_user(scim, "alice@example.com")
    dora = make_user(scim, "dora@example.com")
    scim.patch(f"Users/{dora['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    rex = make_user(scim, "rex@example.com")
    scim.delete(f"Users/{rex['id']}")
    return {"alice": alice, "dora": dora, "rex": rex}


def ask(product, subject_id, action="chat:use", org="default", **extra):
    body = {"subject": {"type": "user", "id": subject_id}, "action": {"name": action},
            "resource": {"type": "organization", "id": org}, **extra}
    response = product.post("/access/v1/evaluation", json_body=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_an_active_user_holding_the_permission_is_permitted(people, product):
    assert ask(product, "alice@example.com") == {"decision": True}
    assert ask(product, "ALICE@example.com") == {"decision": True}  # userName ignores case
    assert ask(product, people["alice"]["id"]) == {"decision": True}  # or the SCIM id


@pytest.mark.parametrize("subject, action, org, reason", [
    ("nobody@example.com", "chat:use", "default", "user unknown"),
    ("dora@example.com", "chat:use", "default", "user not active (disabled)"),
    ("rex@example.com", "chat:use", "default", "user not active (removed)"),
    ("alice@example.com", "models:admin", "default", "permission 'models:admin' not held"),
    ("alice@example.com", "no:such", "default", "permission 'no:such' not held"),
    ("alice@example.com", "chat:use", "other-org", "resource is not this API key's organization"),
])
def test_denials_say_why(people, product, subject, action, org, reason):
    assert ask(product, subject, action, org) == {"decision": False, "context": {"reason": reason}}


def test_a_removed_user_is_denied_by_scim_id_too(people, product):
    assert ask(product, people["rex"]["id"])["context"]["reason"] == "user not active (removed)"


def test_access_follows_admin_changes_at_once(people, admin, product):
    admin("team", "remove-role", "staff", "chatter")
    assert ask(product, "alice@example.com")["decision"] is False
    admin("team", "add-role", "staff", "chatter")
    assert ask(product, "alice@example.com")["decision"] is True


@pytest.mark.parametrize("body, message", [
    ({}, "'subject' is required"),
    ({"subject": {"type": "user"}, "action": {"name": "a:b"},
      "resource": {"type": "organization", "id": "default"}}, "'subject.id' is required"),
    ({"subject": {"type": "user", "id": "a"}, "action": {},
      "resource": {"type": "organization", "id": "default"}}, "'action.name' is required"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "a:b"}}, "'resource' is required"),
    ([1, 2], "must be a JSON object"),
])
def test_malformed_requests_are_json_400s(product, body, message):
    assert_error(product.post("/access/v1/evaluation", json_body=body), 400, "invalid_request",
                 message)


def test_a_body_that_is_not_json_is_a_json_400(product):
    response = product.client.post("/access/v1/evaluation", data="{nope",
                                    headers={"Authorization": f"Bearer {product.key}",
                                             "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request", "not valid JSON")


def test_batch_with_defaults_and_each_semantic(people, product):
    body = {
        "subject": {"type": "user", "id": "alice@example.com"},
        "resource": {"type": "organization", "id": "default"},
        "evaluations": [
            {"action": {"name": "chat:use"}},
            {"action": {"name": "models:admin"}},
            {"action": {"name": "chat:use"}, "subject": {"type": "user", "id": "dora@example.com"}},
            {"action": {"name": "chat:use"}},
        ],
    }
    all_of = product.post("/access/v1/evaluations", json_body=body).get_json()
    assert [e["decision"] for e in all_of["evaluations"]] == [True, False, False, True]
    assert all_of["evaluations"][2]["context"]["reason"] == "user not active (disabled)"

    body["options"] = {"evaluations_semantic": "deny_on_first_deny"}
    assert [e["decision"] for e in product.post("/access/v1/evaluations", json_body=body)
            .get_json()["evaluations"]] == [True, False]
    body["options"] = {"evaluations_semantic": "permit_on_first_permit"}
    assert [e["decision"] for e in product.post("/access/v1/evaluations", json_body=body)
            .get_json()["evaluations"]] == [True]
    body["options"] = {"evaluations_semantic": "sometimes"}
    assert_error(product.post("/access/v1/evaluations", json_body=body), 400, "invalid_request",
                 "evaluations_semantic")


def test_batch_item_errors_are_denials_and_no_items_is_a_single_evaluation(people, product):
    body = {"action": {"name": "chat:use"}, "resource": {"type": "organization", "id": "default"},
            "evaluations": [{"subject": {"type": "user", "id": "alice@example.com"}}, {}, 7]}
    answers = product.post("/access/v1/evaluations", json_body=body).get_json()["evaluations"]
    assert answers[0] == {"decision": True}
    assert answers[1]["decision"] is False and answers[1]["context"]["error"]["status"] == 400
    assert answers[2]["decision"] is False

    single = {"subject": {"type": "user", "id": "alice@example.com"},
              "action": {"name": "chat:use"}, "resource": {"type": "organization", "id": "default"}}
    assert product.post("/access/v1/evaluations", json_body=single).get_json() == {"decision": True}
    assert product.post("/access/v1/evaluations", json_body={**single, "evaluations": []}) \
        .get_json() == {"decision": True}


def test_the_request_id_is_echoed(people, product):
    body = {"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "chat:use"},
            "resource": {"type": "organization", "id": "default"}}
    response = product.post("/access/v1/evaluation", json_body=body,
                            headers={"X-Request-ID": "pep-req-42"})
    assert response.headers["X-Request-Id"] == "pep-req-42"


def test_pdp_metadata(app):
    response = app.test_client().get("/.well-known/authzen-configuration")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == {
        "policy_decision_point": "https://scim.example.test",
        "access_evaluation_endpoint": "https://scim.example.test/access/v1/evaluation",
        "access_evaluations_endpoint": "https://scim.example.test/access/v1/evaluations",
    }
