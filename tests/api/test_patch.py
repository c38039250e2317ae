"""PATCH (RFC 7644 §3.5.2): the RFC's own examples, each error, and the IdP quirks of issue 4.

Every case runs through the API against a real SQLite file: the user is created
with POST, patched, and the response and a fresh GET are compared with what the
RFC says. The RFC's Group examples (``members``) are replayed on the User's
``roles``, the multi-valued complex attribute of the same shape.
"""
from __future__ import annotations

import pytest

from tests.conftest import make_user
from tests.patchcases import BABS, ERRORS, NOT_PATCHOP, QUIRKS, RFC_EXAMPLES, VALUE_CHECKS
from tests.scimdata import PATCH_OP, ENTERPRISE, CORE_USER as USER


def babs(scim) -> dict:
    """RFC 7643 §8.2's full user (abridged), created through the API."""
    return make_user(scim, "bjensen@example.com", **BABS)


def patch(scim, user_id, *operations, headers=None):
    return scim.patch(f"Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)},
                      headers=headers)


def ok(scim, user_id, *operations) -> dict:
    response = patch(scim, user_id, *operations)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["ETag"] == body["meta"]["version"]
    assert scim.get(f"Users/{user_id}").get_json() == body  # stored, not just echoed
    return body


# --- The RFC 7644 §3.5.2 examples -----------------------------------------------------------

@pytest.mark.parametrize("operations, check", [(ops, check) for _, ops, check in RFC_EXAMPLES],
                         ids=[name for name, _, _ in RFC_EXAMPLES])
def test_rfc_patch_examples(scim, operations, check):
    user = babs(scim)
    body = ok(scim, user["id"], *operations)
    assert check(body), body
    assert body["meta"]["version"] == 'W/"2"'
    assert body["id"] == user["id"] and body["userName"] == "bjensen@example.com"


# --- Errors (RFC 7644 §3.5.2, §3.12) ----------------------------------------------------------

@pytest.mark.parametrize("operations, status, scim_type", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_patch_errors_change_nothing(scim, operations, status, scim_type):
    user = babs(scim)
    response = patch(scim, user["id"], *operations)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body["scimType"] == scim_type
    assert scim.get(f"Users/{user['id']}").get_json() == user


@pytest.mark.parametrize("operation, named", VALUE_CHECKS)
def test_each_operation_value_is_checked_and_the_error_names_the_attribute(scim, operation, named):
    # Each operation's value is read through the field of the attribute it targets;
    # a wrong type anywhere fails the whole PATCH, naming the operation and attribute.
    user = babs(scim)
    response = patch(scim, user["id"], {"op": "replace", "path": "nickName", "value": "Changed"}, operation)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["scimType"] == "invalidValue"
    assert body["detail"].startswith("Operations[1] (")
    assert body["detail"].endswith("Invalid attribute value: " + named)
    assert scim.get(f"Users/{user['id']}").get_json() == user


@pytest.mark.parametrize("body", [m for _, m in NOT_PATCHOP], ids=[n for n, _ in NOT_PATCHOP])
def test_body_that_is_not_a_patchop_is_invalid_syntax(scim, body):
    user = make_user(scim)
    response = scim.patch(f"Users/{user['id']}", json=body)
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidSyntax"


def test_a_path_sent_again_resolves_and_fails_the_same_way(scim):
    # Resolved paths are cached: a good path must keep its filter, a bad one must keep failing
    # with the same detail (not one prefixed once per earlier request).
    user = babs(scim)
    for _ in range(2):
        response = patch(scim, user["id"], {"op": "remove", "path": 'emails[type eq "nope"]'})
        assert response.status_code == 400
        assert response.get_json()["detail"] == \
            "Operations[0] (remove emails[type eq \"nope\"]): No value matches 'emails[type eq \"nope\"]'."
        response = patch(scim, user["id"], {"op": "replace", "path": "emails[type eq ]", "value": "x"})
        assert response.get_json()["scimType"] == "invalidFilter"
        assert response.get_json()["detail"].count("Operations[0]") == 1
    body = ok(scim, user["id"], {"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@x"})
    assert body["emails"][1] == {"value": "h@x", "type": "home"}
    body = ok(scim, user["id"], {"op": "replace", "path": 'emails[type eq "home"].value', "value": "i@x"})
    assert body["emails"][1] == {"value": "i@x", "type": "home"}


def test_operations_are_atomic_a_late_failure_undoes_the_earlier_ones(scim):
    user = babs(scim)
    response = patch(scim, user["id"],
                     {"op": "replace", "path": "nickName", "value": "Changed"},
                     {"op": "remove", "path": "emails"},
                     {"op": "remove", "path": 'phoneNumbers[type eq "fax"]'})
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "noTarget"
    assert "Operations[2]" in response.get_json()["detail"]
    assert scim.get(f"Users/{user['id']}").get_json() == user


def test_patch_that_changes_nothing_keeps_the_version(scim):
    user = babs(scim)
    response = patch(scim, user["id"], {"op": "replace", "path": "nickName", "value": "Babs"},
                     {"op": "replace", "value": {"active": True}})
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'
    assert response.get_json()["meta"]["lastModified"] == user["meta"]["lastModified"]


def test_add_of_an_identical_value_does_not_repeat_it(scim):
    user = babs(scim)
    body = ok(scim, user["id"], {"op": "add", "path": "emails",
                                 "value": [{"Value": "babs@jensen.org", "type": "home"}]})
    assert body["emails"] == user["emails"]
    assert body["meta"]["version"] == 'W/"1"'


def test_each_change_bumps_the_version_and_etag(scim):
    user = make_user(scim)
    first = patch(scim, user["id"], {"op": "replace", "path": "nickName", "value": "a"})
    second = patch(scim, user["id"], {"op": "replace", "path": "nickName", "value": "b"})
    assert (first.headers["ETag"], second.headers["ETag"]) == ('W/"2"', 'W/"3"')


def test_patch_username_to_a_taken_name_is_409(scim):
    make_user(scim, "alice@example.com")
    bob = make_user(scim, "bob@example.com")
    response = patch(scim, bob["id"], {"op": "replace", "path": "userName", "value": "ALICE@example.com"})
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    assert scim.get(f"Users/{bob['id']}").get_json()["userName"] == "bob@example.com"


def test_patch_username_case_change_of_own_name_is_allowed(scim):
    user = make_user(scim, "bob@example.com")
    body = ok(scim, user["id"], {"op": "replace", "path": "userName", "value": "Bob@Example.com"})
    assert body["userName"] == "Bob@Example.com"


def test_patch_if_match_stale_is_412_and_current_is_200(scim):
    user = make_user(scim)
    op = {"op": "replace", "path": "nickName", "value": "x"}
    stale = patch(scim, user["id"], op, headers={"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert scim.get(f"Users/{user['id']}").get_json() == user
    fresh = patch(scim, user["id"], op, headers={"If-Match": user["meta"]["version"]})
    assert fresh.status_code == 200


def test_patch_unknown_user_is_404(scim):
    response = patch(scim, "nope", {"op": "replace", "path": "nickName", "value": "x"})
    assert response.status_code == 404
    assert response.get_json()["status"] == "404"


def test_patch_password_replaces_the_hash(app, scim):
    from scimsvc.extensions import db
    from scimsvc.models import User

    user = make_user(scim, password="first-Secret1")
    with app.app_context():
        before = db.session.scalar(db.select(User.password_hash).where(User.scim_id == user["id"]))
    body = ok(scim, user["id"], {"op": "replace", "path": "password", "value": "second-Secret2"})
    with app.app_context():
        after = db.session.scalar(db.select(User.password_hash).where(User.scim_id == user["id"]))
    assert before and after and before != after and "second" not in after
    assert "password" not in body and body["meta"]["version"] == 'W/"2"'


# --- IdP quirks (issue 4), narrow -------------------------------------------------------------

@pytest.mark.parametrize("operations, check", [(ops, check) for _, ops, check in QUIRKS],
                         ids=[name for name, _, _ in QUIRKS])
def test_idp_quirks(scim, operations, check):
    user = babs(scim)
    body = ok(scim, user["id"], *operations)
    assert check(body), body


def test_enterprise_extension_added_to_a_user_without_it(scim):
    user = make_user(scim)
    body = ok(scim, user["id"], {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Ops"})
    assert body[ENTERPRISE] == {"department": "Ops"}
    assert body["schemas"] == [USER, ENTERPRISE]


def test_quirks_stay_narrow_a_filter_that_pins_nothing_is_still_no_target(scim):
    user = babs(scim)
    response = patch(scim, user["id"],
                     {"op": "replace", "path": 'emails[value co "nomatch"].value', "value": "a@b.c"})
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "noTarget"


def test_patch_response_honours_attributes_and_excluded_attributes(scim):
    user = babs(scim)
    operations = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nickName", "value": "Bee"}]}
    body = scim.patch(f"Users/{user['id']}?attributes=nickName", json=operations).get_json()
    assert body["nickName"] == "Bee" and body["id"] == user["id"]
    assert "emails" not in body and "name" not in body
    body = scim.patch(f"Users/{user['id']}?excludedAttributes=emails,{ENTERPRISE}", json=operations).get_json()
    assert "emails" not in body and ENTERPRISE not in body and body["nickName"] == "Bee"


def test_engine_is_pure_and_leaves_its_input_alone():
    import copy

    from scimsvc.scim.patch.engine import apply_patch

    document = {"userName": "b", "emails": [{"value": "a@x", "type": "work", "primary": True}],
                ENTERPRISE: {"manager": {"value": "m"}}}
    before = copy.deepcopy(document)
    result = apply_patch(document, {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@x"},
        {"op": "remove", "path": f"{ENTERPRISE}:manager"},
        {"op": "add", "path": "emails", "value": [{"value": "c@x", "primary": True}]},
    ]})
    assert document == before
    assert result.document["emails"] == [{"value": "b@x", "type": "work", "primary": False},
                                         {"value": "c@x", "primary": True}]


def test_concurrent_patches_to_one_user_lose_no_update(app, scim):
    """Read-modify-write under concurrency: writers take the lock first, so each sees the last."""
    import threading

    from tests.conftest import ScimClient

    user = make_user(scim)
    errors = []

    def writer(name):
        client = ScimClient(app.test_client(), scim.key)
        for i in range(8):
            response = patch(client, user["id"], {"op": "add", "path": "roles", "value": [{"value": f"{name}-{i}"}]})
            if response.status_code != 200:
                errors.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    body = scim.get(f"Users/{user['id']}").get_json()
    assert sorted(r["value"] for r in body["roles"]) == sorted(f"{n}-{i}" for n in "abc" for i in range(8))
    assert body["meta"]["version"] == 'W/"25"'


# --- A password is hashed before the write lock (scrypt is ~65 ms of CPU) -------------------

def _verifies(stored: str, password: str) -> bool:
    import hashlib

    _, n, r, p, salt, digest = stored.split("$")
    return hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                          p=int(p), dklen=32).hex() == digest


@pytest.mark.parametrize("operations, ahead", [
    ([{"op": "replace", "path": "password", "value": "N3w-Secret"}], True),
    ([{"op": "Replace", "value": {"password": "N3w-Secret", "active": False}}], True),
    ([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password",
       "value": "N3w-Secret"}], True),
    # Only applies to the stored user (an empty one has no work email to remove): hashed under
    # the lock, still correctly.
    ([{"op": "remove", "path": 'emails[type eq "work"]'},
      {"op": "replace", "path": "password", "value": "N3w-Secret"}], False),
], ids=["path", "pathless", "urn", "needs_stored_user"])
def test_a_patched_password_is_hashed_outside_the_write_transaction(app, scim, monkeypatch,
                                                                     operations, ahead):
    from scimsvc.extensions import db
    from scimsvc.models import User
    from scimsvc.services import users

    user = make_user(scim, emails=[{"value": "w0@example.com", "type": "work"}])
    in_transaction = []
    real = users.hash_password

    def watched(password):
        in_transaction.append(db.session().in_transaction())
        return real(password)

    monkeypatch.setattr(users, "hash_password", watched)
    response = patch(scim, user["id"], *operations)
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalar(db.select(User.password_hash).where(User.scim_id == user["id"]))
    assert _verifies(stored, "N3w-Secret")
    assert in_transaction == ([False] if ahead else [True])


def test_post_and_put_hash_outside_the_write_transaction(app, scim, monkeypatch):
    from scimsvc.extensions import db
    from scimsvc.services import users

    in_transaction = []
    real = users.hash_password
    monkeypatch.setattr(users, "hash_password",
                        lambda password: in_transaction.append(db.session().in_transaction())
                        or real(password))
    user = make_user(scim, password="First-Secret1")
    body = {"schemas": [USER], "userName": user["userName"],
            "password": "Second-Secret2"}
    assert scim.put(f"Users/{user['id']}", json=body).status_code == 200
    assert in_transaction == [False, False]
