"""Rate limits: per API key, and per client address for refused requests; 429 with Retry-After."""
from __future__ import annotations

import limits
import pytest

from scimsvc.config import ConfigError
from scimsvc import config, create_app
from tests.conftest import ScimClient, _close, _test_app, provision_key
from tests.live import redis_url
from tests.scimdata import ERROR
from tests.services.test_audit import Statements, events, tenant_id

INVENTED = "scimsvc_0123456789ab_" + "A" * 43


@pytest.fixture
def limited(tmp_path, database_url, admin, request):
    """An app on the test's (initialised) database with the limits the test's marker gives."""
    made = []

    def build(**config):
        app = _test_app(tmp_path, database_url, **config)
        made.append(app)
        return app

    yield build
    for app in made:
        _close(app)


def assert_429(response, scim: bool = True) -> dict:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    if scim:
        assert response.mimetype == "application/scim+json"
        assert body["schemas"] == [ERROR] and body["status"] == "429"
    return body


def test_a_key_over_its_limit_gets_429_with_retry_after(limited, admin, api_key, monkeypatch):
    app = limited(SCIMSVC_RATE_LIMIT_PER_KEY="3 per minute")
    scim = ScimClient(app.test_client(), api_key)
    assert [scim.get("ServiceProviderConfig").status_code for _ in range(3)] == [200] * 3
    statements = Statements(app, monkeypatch)
    try:
        body = assert_429(scim.get("Users"))
        writes = [s for s in statements.seen if s.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")]
    finally:
        statements.close()
    assert "this API key" in body["detail"] and writes == []
    assert_429(scim.post("Users", json={"userName": "x@example.com"}))  # every route shares it
    # Another key has a budget of its own.
    other = provision_key(admin, name="other", team="idp2", role="scim-provisioner2")
    assert ScimClient(app.test_client(), other).get("Users").status_code == 200
    [event] = [e for e in events(app) if e["refusal"]]
    assert (event["organization"], event["apiKey"]["name"], event["refusal"]) == \
        (tenant_id(app), "okta", {"reason": "rate_limited", "requests": 2})


def test_refused_requests_from_an_address_get_429_but_valid_keys_do_not(limited, api_key):
    app = limited(SCIMSVC_RATE_LIMIT_REFUSED="2 per minute")
    flood = ScimClient(app.test_client(), INVENTED)
    assert [flood.get("Users").status_code for _ in range(2)] == [401, 401]
    body = assert_429(flood.get("Users"))
    assert "refused requests from this address" in body["detail"]
    assert app.test_client().get("/scim/v2/Users").status_code == 429  # no key: same address
    # From another address the budget is whole; a valid key is never counted or blocked here.
    other = app.test_client().get("/scim/v2/Users", headers={"Authorization": f"Bearer {INVENTED}"},
                                  environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401
    assert ScimClient(app.test_client(), api_key).get("Users").status_code == 200
    reasons = sorted((e["refusal"]["reason"], e["refusal"]["requests"], e["clientAddress"])
                     for e in events(app) if e["refusal"])
    assert reasons == [("rate_limited", 2, "127.0.0.1"), ("unknown", 1, "192.0.2.7"),
                       ("unknown", 2, "127.0.0.1")]


def test_health_probes_are_never_limited(limited):
    app = limited(SCIMSVC_RATE_LIMIT_REFUSED="1 per minute", SCIMSVC_RATE_LIMIT_PER_KEY="1 per minute")
    client = app.test_client()
    assert {client.get("/healthz").status_code for _ in range(5)} == {200}


def test_defaults_are_far_above_what_an_idp_sends(app):
    # Entra's gallery rule: 25 requests/s per tenant sustained; Okta imports in bursts.
    per_key = limits.parse_many(config.DEFAULTS["SCIMSVC_RATE_LIMIT_PER_KEY"])
    per_second = min(item.amount / item.get_expiry() for item in per_key)
    assert per_second >= 4 * 25


@pytest.mark.parametrize("name, value", [("SCIMSVC_RATE_LIMIT_PER_KEY", "lots"),
                                         ("SCIMSVC_RATE_LIMIT_REFUSED", "5 per fortnight"),
                                         ("SCIMSVC_RATE_LIMIT_STORAGE", "mysql://x")])
def test_a_bad_setting_is_one_line(tmp_path, database_url, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": database_url})


def test_off_turns_a_limit_off(tmp_path, database_url, admin, api_key, monkeypatch):
    monkeypatch.setenv("SCIMSVC_RATE_LIMIT_PER_KEY", "off")
    monkeypatch.setenv("SCIMSVC_RATE_LIMIT_REFUSED", "1 per minute")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": database_url})
    try:
        assert app.config["SCIMSVC_RATE_LIMIT_PER_KEY"] == ""
        scim = ScimClient(app.test_client(), api_key)
        assert {scim.get("Users").status_code for _ in range(5)} == {200}
        flood = ScimClient(app.test_client(), INVENTED)
        assert [flood.get("Users").status_code for _ in range(2)] == [401, 429]
    finally:
        _close(app)


@pytest.mark.skipif(redis_url() is None, reason="no Redis on 127.0.0.1:6379 (.ci/run starts one)")
def test_two_apps_on_one_database_share_the_limit_through_redis(limited, api_key):
    """Two servers (apps) of one deployment count one key's requests together in Redis."""
    first = limited(SCIMSVC_RATE_LIMIT_PER_KEY="4 per minute", SCIMSVC_RATE_LIMIT_STORAGE=redis_url())
    second = limited(SCIMSVC_RATE_LIMIT_PER_KEY="4 per minute", SCIMSVC_RATE_LIMIT_STORAGE=redis_url())
    a, b = ScimClient(first.test_client(), api_key), ScimClient(second.test_client(), api_key)
    assert [a.get("Users").status_code, b.get("Users").status_code,
            a.get("Users").status_code, b.get("Users").status_code] == [200] * 4
    assert_429(a.get("Users"))
    assert_429(b.get("Users"))


def test_an_unreachable_redis_falls_back_to_memory_instead_of_failing(limited, api_key):
    app = limited(SCIMSVC_RATE_LIMIT_PER_KEY="2 per minute",
                  SCIMSVC_RATE_LIMIT_STORAGE="redis://127.0.0.1:1/0")
    scim = ScimClient(app.test_client(), api_key)
    assert [scim.get("Users").status_code for _ in range(3)] == [200, 200, 429]
