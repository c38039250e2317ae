"""Send requests the way an identity provider does: its headers, its raw JSON bytes.

The fixtures in ``okta_traffic``, ``entra_traffic`` and ``other_traffic`` are the
bodies; this module is the wire. Bodies are serialised with ``json.dumps`` and
sent as bytes, so key order, casing and string-typed booleans reach the server
exactly as transcribed.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from tests.conftest import SCIM
from tests.scimdata import LIST_RESPONSE, ERROR

ROOT = "/scim/v2"


class IdP:
    """One identity provider's HTTP client against the Flask test app."""

    def __init__(self, client, key: str, *, user_agent: str, content_type: str = SCIM,
                 accept: str | None = SCIM, extra_headers: dict[str, str] | None = None):
        self.client = client
        self.key = key
        self.user_agent = user_agent
        self.content_type = content_type
        self.accept = accept
        self.extra_headers = dict(extra_headers or {})

    def send(self, method: str, path: str, body: Any = None, *, headers: dict | None = None):
        url = path if path.startswith("/") else f"{ROOT}/{path}"
        sent = {"Authorization": f"Bearer {self.key}", "User-Agent": self.user_agent}
        if self.accept:
            sent["Accept"] = self.accept
        sent.update(self.extra_headers)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            sent["Content-Type"] = self.content_type
        sent.update(headers or {})
        return self.client.open(url, method=method, data=data, headers=sent)

    def get(self, path, **kw):
        return self.send("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.send("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.send("PUT", path, body, **kw)

    def patch(self, path, body, **kw):
        return self.send("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.send("DELETE", path, **kw)

    def search(self, filter_expr: str | None = None, **params):
        """GET /Users with a filter, percent-encoded as the IdPs send it."""
        query = []
        if filter_expr is not None:
            query.append("filter=" + quote(filter_expr, safe=""))
        query += [f"{name}={value}" for name, value in params.items()]
        return self.get("Users" + ("?" + "&".join(query) if query else ""))


def body(response) -> dict:
    """The JSON body, asserting the SCIM media type every IdP expects on a body."""
    assert response.headers.get("Content-Type", "").startswith(SCIM), response.headers
    return response.get_json()


def expect(response, status: int) -> dict:
    """Assert the status (showing the body when it differs) and return the JSON body, if any."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.get_data(as_text=True)}")
    return body(response) if response.get_data() else {}


def expect_error(response, status: int, scim_types: tuple[str, ...] | str | None = None) -> dict:
    """Assert an RFC 7644 §3.12 error body: schemas, status as a string, and the scimType."""
    error = expect(response, status)
    assert error["schemas"] == [ERROR]
    assert error["status"] == str(status)
    assert isinstance(error.get("detail", ""), str)
    if scim_types is not None:
        wanted = (scim_types,) if isinstance(scim_types, str) else scim_types
        assert error.get("scimType") in wanted, error
    return error


def expect_list(response, *, total: int) -> list[dict]:
    """Assert a ListResponse (RFC 7644 §3.4.2) with integer counters; return its Resources."""
    page = expect(response, 200)
    assert page["schemas"] == [LIST_RESPONSE]
    assert page["totalResults"] == total
    for counter in ("totalResults", "itemsPerPage", "startIndex"):
        # Okta: "itemsPerPage, startIndex, and totalResults values need to be exchanged as integers".
        assert type(page[counter]) is int, (counter, page[counter])
    resources = page.get("Resources", [])
    assert page["itemsPerPage"] == len(resources)
    return resources
