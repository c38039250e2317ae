"""A product-side client (plain JSON) and keys holding the product's permissions."""
from __future__ import annotations

import json

import pytest

from tests.conftest import Admin, ScimClient


class ProductClient:
    """The Flask test client sending a bearer key and JSON, as a product's backend would."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def request(self, method, path, json_body=None, headers=None, key=None):
        sent = {"Accept": "application/json"}
        token = key if key is not None else self.key
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        kwargs = {"headers": sent}
        if json_body is not None:
            kwargs["json"] = json_body
        return self.client.open(path, method=method, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)


def product_key(admin: Admin, *permissions: str, name: str = "product", team: str = "product",
                org: str | None = None) -> str:
    """A key of a new team whose role grants ``permissions``."""
    prefix = ["--org", org] if org else []
    role = f"{team}-role"
    grants = [arg for action in permissions for arg in ("--permission", action)]
    admin(*prefix, "role", "create", role, *grants)
    admin(*prefix, "team", "create", team, "--role", role)
    result = admin(*prefix, "api-key", "create", "--team", team, "--name", name, "--json")
    return json.loads(result.stdout)["key"]


@pytest.fixture
def product(app, admin, scim) -> ProductClient:
    """A client whose key may read the directory and the feed (scim: the IdP's client)."""
    return ProductClient(app.test_client(), product_key(admin, "directory:read", "events:read"))


def assert_error(response, status: int, code: str, message_part: str = "") -> dict:
    """The response is the product APIs' JSON error with this status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert message_part in body["error"]["message"]
    return body


__all__ = ["ProductClient", "ScimClient", "product_key", "assert_error"]
