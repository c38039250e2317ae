"""The whole path against a real ``scimsvc serve``: an IdP creates and disables a user over SCIM,
the product hears it through a signed webhook and the feed, and asks AuthZEN whether the user may
act. The admin steps are the README's, run as commands."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.receiver import running_receiver, verify
from tests.scimdata import CORE_USER as USER
from tests.system.test_webhooks_server import Instance, _instance

pytestmark = pytest.mark.system

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(port: int, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = ("application/scim+json" if path.startswith("/scim")
                                   else "application/json")
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers=headers)
    try:
        with _opener.open(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def key_for(instance: Instance, team: str, name: str, *permissions: str) -> str:
    role = f"{team}-role"
    args = ["role", "create", role]
    for permission in permissions:
        args += ["--permission", permission]
    instance.admin(*args)
    instance.admin("team", "create", team, "--role", role)
    return json.loads(instance.admin("api-key", "create", "--team", team, "--name", name,
                                     "--json"))["key"]


def decide(port: int, key: str, user: str, action: str) -> dict[str, Any]:
    status, body = call(port, "POST", "/access/v1/evaluation", key, {
        "subject": {"type": "user", "id": user}, "action": {"name": action},
        "resource": {"type": "organization", "id": "default"}})
    assert status == 200, body
    return body


@pytest.fixture
def instance(tmp_path, database_url):
    return _instance(tmp_path, database_url, SCIMSVC_WEBHOOK_RETRY_SECONDS="0.2")


def test_an_idp_create_and_disable_reach_the_product(instance):
    idp = key_for(instance, "idp", "okta", "scim:provision")
    product = key_for(instance, "product", "product-app", "directory:read", "events:read")
    instance.admin("permission", "add", "chat:use", "--title", "Use the chat")
    instance.admin("role", "create", "chatter", "--permission", "chat:use")
    instance.admin("team", "create", "employees", "--role", "chatter")
    instance.admin("provisioning", "assign-team", "employees")

    with running_receiver() as receiver:
        secret = instance.admin("webhook", "add", "product", receiver.url).strip()
        server = instance.serve()
        try:
            port = server.port
            assert decide(port, product, "alice@example.com", "chat:use")["decision"] is False
            status, alice = call(port, "POST", "/scim/v2/Users", idp, {
                "schemas": [USER], "userName": "alice@example.com", "externalId": "00u-alice"})
            assert status == 201, alice
            [created] = receiver.wait_for(1, seconds=10)
            assert verify(secret, receiver.received[0]) == created
            assert (created["type"], created["user"]["id"], created["user"]["permissions"]) == \
                ("user.created", alice["id"], ["chat:use"])
            assert decide(port, product, "alice@example.com", "chat:use") == {"decision": True}

            status, _ = call(port, "PATCH", f"/scim/v2/Users/{alice['id']}", idp, {
                "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                                    "value": False}]})
            assert status == 200
            disabled = receiver.wait_for(2, seconds=10)[1]
            assert verify(secret, receiver.received[1]) == disabled
            assert (disabled["type"], disabled["sequence"], disabled["user"]["permissions"]) == \
                ("user.disabled", created["sequence"] + 1, [])
            denied = decide(port, product, alice["id"], "chat:use")
            assert denied["decision"] is False and denied["context"]["reason"]

            status, feed = call(port, "GET", "/api/v1/events?limit=10", product)
            assert status == 200
            assert [e["id"] for e in feed["data"]] == [created["id"], disabled["id"]]
            # The product's key may read, never provision; the IdP's may provision, never read.
            assert call(port, "GET", "/scim/v2/Users", product)[0] == 403
            assert call(port, "GET", f"/api/v1/users/{alice['id']}", idp)[0] == 403
        finally:
            server.stop()
    assert "Traceback" not in server.log.read_text()
