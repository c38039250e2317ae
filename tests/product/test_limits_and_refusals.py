"""The product's APIs (/api/v1, /access/v1) share the SCIM API's rate limits and refusal path:
429 with Retry-After in their JSON, refusals counted, summarised, journaled in the key's
organization."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from scimsvc import metrics
from scimsvc.services import keys
from tests.conftest import ScimClient, _close, _test_app
from tests.product.conftest import ProductClient, assert_error, product_key
from tests.services.test_audit import Statements, events, tenant_id

INVENTED = "scimsvc_0123456789ab_" + "A" * 43
EVALUATION = {"subject": {"type": "user", "id": "alice@example.com"},
              "action": {"name": "directory:read"},
              "resource": {"type": "organization", "id": "default"}}


@pytest.fixture
def limited(tmp_path, database_url, admin):
    made = []

    def build(**config):
        app = _test_app(tmp_path, database_url, **config)
        made.append(app)
        return app

    yield build
    for app in made:
        _close(app)


def _calls(client: ProductClient):
    """One call to each keyed product route."""
    return [client.get("/api/v1/users"), client.get("/api/v1/users/nobody"),
            client.get("/api/v1/events"),
            client.post("/access/v1/evaluation", json_body=EVALUATION),
            client.post("/access/v1/evaluations", json_body={"evaluations": [EVALUATION]})]


def assert_product_429(response) -> str:
    body = assert_error(response, 429, "too_many_requests")
    assert int(response.headers["Retry-After"]) >= 1
    return body["error"]["message"]


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
            or s.upper().startswith("BEGIN IMMEDIATE")]


def test_a_product_key_over_its_limit_gets_a_json_429_on_every_route(limited, admin):
    app = limited(SCIMSVC_RATE_LIMIT_PER_KEY="5 per minute")
    key = product_key(admin, "directory:read", "events:read")
    client = ProductClient(app.test_client(), key)
    assert [r.status_code for r in _calls(client)] == [200, 404, 200, 200, 200]
    for response in _calls(client):  # every route shares the key's budget
        assert "this API key" in assert_product_429(response)
    # Public metadata is not limited; another key has a budget of its own.
    assert app.test_client().get("/.well-known/authzen-configuration").status_code == 200
    other = ProductClient(app.test_client(), product_key(admin, "directory:read", name="other",
                                                         team="other"))
    assert other.get("/api/v1/users").status_code == 200
    [event] = [e for e in events(app) if e["refusal"]]
    assert (event["organization"], event["apiKey"]["name"], event["refusal"]) == \
        (tenant_id(app), "product", {"reason": "rate_limited", "requests": 5})


def test_the_scim_and_product_apis_share_one_keys_budget(limited, admin):
    app = limited(SCIMSVC_RATE_LIMIT_PER_KEY="3 per minute")
    key = product_key(admin, "scim:provision", "directory:read")
    scim, product = ScimClient(app.test_client(), key), ProductClient(app.test_client(), key)
    assert scim.get("Users").status_code == 200
    assert product.get("/api/v1/users").status_code == 200
    assert scim.get("Users").status_code == 200
    assert_product_429(product.get("/api/v1/users"))
    scim_429 = scim.get("Users")
    assert scim_429.status_code == 429 and scim_429.mimetype == "application/scim+json"
    assert scim_429.get_json()["status"] == "429"


def test_refused_product_requests_from_an_address_get_429_but_valid_keys_do_not(limited, admin):
    app = limited(SCIMSVC_RATE_LIMIT_REFUSED="2 per minute")
    valid = ProductClient(app.test_client(), product_key(admin, "directory:read"))
    flood = ProductClient(app.test_client(), INVENTED)
    assert [flood.get("/api/v1/users").status_code for _ in range(2)] == [401, 401]
    assert "refused requests from this address" in assert_product_429(flood.get("/api/v1/users"))
    assert_product_429(ProductClient(app.test_client(), None).post("/access/v1/evaluation",
                                                                   json_body=EVALUATION))
    # The address's budget is the SCIM API's too.
    assert app.test_client().get("/scim/v2/Users").status_code == 429
    # From another address it is whole; a valid key is never counted or blocked here.
    other = app.test_client().get("/api/v1/events", headers={"Authorization": f"Bearer {INVENTED}"},
                                  environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401
    assert valid.get("/api/v1/users").status_code == 200
    assert {app.test_client().get("/.well-known/authzen-configuration").status_code
            for _ in range(3)} == {200}
    assert {app.test_client().get(path).status_code for path in ("/healthz", "/readyz")} == {200}
    reasons = sorted((e["refusal"]["reason"], e["refusal"]["requests"], e["clientAddress"], e["path"])
                     for e in events(app) if e["refusal"])
    # One row per (address, reason) and minute, whichever API; it names the first path.
    assert reasons == [("rate_limited", 3, "127.0.0.1", "/api/v1/users"),
                       ("unknown", 1, "192.0.2.7", "/api/v1/events"),
                       ("unknown", 2, "127.0.0.1", "/api/v1/users")]


def _refused(reason: str) -> float:
    return metrics.REFUSALS.labels(reason)._value.get()


def test_product_refusals_are_counted_and_summarised_without_a_write(app, admin, monkeypatch):
    before = {reason: _refused(reason) for reason in ("no_key", "unknown", "malformed")}
    statements = Statements(app, monkeypatch)
    try:
        for _ in range(3):
            assert_error(ProductClient(app.test_client(), INVENTED).get("/api/v1/users"),
                         401, "unauthorized")
            assert_error(ProductClient(app.test_client(), None).post(
                "/access/v1/evaluation", json_body=EVALUATION), 401, "unauthorized")
        assert_error(app.test_client().get("/api/v1/events", headers={"Authorization": "Basic x"}),
                     401, "unauthorized")
        seen = list(statements.seen)
    finally:
        statements.close()
    assert _writes(seen) == []
    assert {reason: _refused(reason) - count for reason, count in before.items()} == \
        {"no_key": 3, "unknown": 3, "malformed": 1}
    # One row per (address, reason) for the minute, in no organization.
    events(app)  # journals what is counted
    rows = json.loads(admin("audit", "list", "--refusals", "--json").stdout)
    assert sorted((e["organization"], e["refusal"]["reason"], e["refusal"]["requests"],
                   e["clientAddress"], e["path"]) for e in rows) == [
        (None, "malformed", 1, "127.0.0.1", "/api/v1/events"),
        (None, "no_key", 3, "127.0.0.1", "/access/v1/evaluation"),
        (None, "unknown", 3, "127.0.0.1", "/api/v1/users")]
    assert json.loads(admin("audit", "list", "--json").stdout) == []


@pytest.mark.parametrize("state", ["revoked", "expired", "forbidden"])
def test_a_known_product_keys_refusal_is_journaled_in_its_organization(admin, app, state,
                                                                       monkeypatch):
    admin("org", "create", "beta")
    admin("--org", "beta", "role", "create", "reader", "--permission", "directory:read")
    admin("--org", "beta", "team", "create", "product", "--role", "reader")
    secret = admin("--org", "beta", "api-key", "create", "--team", "product", "--name",
                   "beta-product", "--expires-in", "1").stdout.strip()
    if state == "revoked":
        admin("--org", "beta", "api-key", "revoke", "beta-product", "--yes")
    elif state == "expired":
        later = keys.utcnow() + timedelta(days=2)
        monkeypatch.setattr(keys, "utcnow", lambda: later)
    else:
        admin("--org", "beta", "team", "remove-role", "product", "reader")
    before = _refused(state)
    client = ProductClient(app.test_client(), secret)
    statements = Statements(app, monkeypatch)
    try:
        for _ in range(3):
            assert client.get("/api/v1/users").status_code == (403 if state == "forbidden" else 401)
        seen = list(statements.seen)
    finally:
        statements.close()
    assert _writes(seen) == []
    assert _refused(state) - before == 3
    [event] = events(app)
    assert (event["organization"], event["apiKey"]["name"], event["refusal"], event["path"]) == \
        (tenant_id(app, "beta"), "beta-product", {"reason": state, "requests": 3}, "/api/v1/users")
    beta = json.loads(admin("--org", "beta", "audit", "list", "--json").stdout)
    assert [e["refusal"] for e in beta] == [{"reason": state, "requests": 3}]
    assert json.loads(admin("audit", "list", "--json").stdout) == []
    assert json.loads(admin("audit", "list", "--refusals", "--json").stdout) == []
