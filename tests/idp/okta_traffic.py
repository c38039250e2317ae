"""Okta's SCIM 2.0 traffic, transcribed from Okta's own documentation.

Sources (each body below names the one it comes from):
- [REF20] "SCIM 2.0 Protocol Reference" — "Okta and SCIM Version 2.0",
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
  (okta/okta-developer-docs, docs/reference/scim/scim-20/index.md).
- [REF11] "Okta and SCIM Version 1.1",
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-11 — the connection
  test ("After saving the configuration, Okta makes two requests": ``GET /Users?startIndex=1&count=2``).
- [SPEC] Okta's "SCIM 2.0 Spec Test" (Runscope/BlazeMeter suite,
  https://developer.okta.com/standards/SCIM/SCIMFiles/Okta-SCIM-20-SPEC-Test.json, distributed
  from https://developer.okta.com/docs/guides/scim-provisioning-integration-test/main/):
  its "Required Test" steps and the "realistic value" user it creates.

- [CAPTURE] an Okta engineer's capture of the request Okta sent to deactivate a user
  (oktadeveloper/okta-blog-archive, pull request #1956, "Update SCIM doc with API payload
  JSONs", 2018): its headers are ``HEADERS`` below.

Values are kept as Okta prints them; the ids in [REF20] are the server's, so the
replays substitute the id our server assigned.
"""
from __future__ import annotations

import copy

from tests.scimdata import CORE_USER as CORE, PATCH_OP

USER_AGENT = "Okta SCIM Client 1.0.0"  # [REF20], every request
# [CAPTURE]: the SCIM media type with a charset parameter; servers must accept it.
CONTENT_TYPE = "application/scim+json; charset=utf-8"
# [CAPTURE]: the other headers Okta sends besides Authorization, Content-Type and User-Agent.
HEADERS = {"Accept": "application/scim+json", "Accept-Charset": "utf-8",
           "Accept-Encoding": "gzip,deflate"}

# [REF11] "Okta makes two requests to your SCIM server" when the integration is saved;
# the query parameters "are always constant".
CONNECTION_TEST_QUERY = {"startIndex": 1, "count": 2}

# [REF20] "Determine if the User already exists":
# GET /scim/v2/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100
LOOKUP_FILTER = 'userName eq "test.user@okta.local"'
LOOKUP_QUERY = {"startIndex": 1, "count": 100}

# [REF20] "Create the User": POST /scim/v2/Users
_CREATE_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {
        "givenName": "Test",
        "familyName": "User"
    },
    "emails": [{
        "primary": True,
        "value": "test.user@okta.local",
        "type": "work"
    }],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True
}

# [REF20] "Update the User" (PUT): Okta GETs the user, changes the attributes that
# changed, and PUTs the whole body back — ``id``, ``groups`` and ``meta`` included.
# For AIW custom apps "all SCIM operations that update a User object, including
# [activation, deactivation, password sync], are always sent through a PUT", so the
# replays also PUT with ``password`` and with ``active: false``.
_PUT_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
    "userName": "test.user@okta.local",
    "name": {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User"
    },
    "emails": [{
        "primary": True,
        "value": "test.user@okta.local",
        "type": "work",
        "display": "test.user@okta.local"
    }],
    "active": True,
    "groups": [],
    "meta": {
        "resourceType": "User"
    }
}

# [REF20] "Update a specific User (PATCH)": deactivation. Reactivation is the same
# request with ``true`` (OIN integrations: "Activating a user", "Deactivating a user").
_SET_ACTIVE = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{
        "op": "replace",
        "value": {
            "active": False
        }
    }]
}

# [SPEC] "Required Test: Create Okta user with realistic values" — the suite generates
# a random name; this is one it produced (Runscope258 / Fuhpfuwaw309).
_SPEC_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "Runscope258Fuhpfuwaw309@atko.com",
    "name": {"givenName": "Runscope258", "familyName": "Fuhpfuwaw309"},
    "emails": [{"primary": True, "value": "Runscope258Fuhpfuwaw309@atko.com", "type": "work"}],
    "displayName": "Runscope258 Fuhpfuwaw309",
    "active": True,
}
# [SPEC] "Required Test: Test invalid User by username" / "... by ID".
SPEC_UNKNOWN_USERNAME_FILTER = 'userName eq "abcdefgh@atko.com"'
SPEC_UNKNOWN_ID = "010101"
# [SPEC] "Required Test: Username Case Sensitivity Check".
SPEC_UPPERCASE_FILTER = 'userName eq "RUNSCOPE258FUHPFUWAW309@ATKO.COM"'


def create_user(**changes) -> dict:
    """The [REF20] create body, with top-level attributes replaced by ``changes``."""
    return {**copy.deepcopy(_CREATE_USER), **changes}


def put_user(scim_id: str, **changes) -> dict:
    """The [REF20] PUT body for the user ``scim_id``, with ``changes`` applied."""
    return {**copy.deepcopy(_PUT_USER), "id": scim_id, **changes}


def set_active(active: bool) -> dict:
    """The [REF20] path-less PATCH that deactivates (or reactivates) a user."""
    body = copy.deepcopy(_SET_ACTIVE)
    body["Operations"][0]["value"]["active"] = active
    return body


def spec_user(**changes) -> dict:
    """The [SPEC] "realistic values" user."""
    return {**copy.deepcopy(_SPEC_USER), **changes}
