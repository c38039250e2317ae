"""Okta's documented SCIM 2.0 flows, replayed (sources in ``okta_traffic``)."""
from __future__ import annotations

import pytest

from . import okta_traffic as okta_wire
from .replay import expect, expect_error, expect_list


def _create(okta, body=None) -> dict:
    response = okta.post("Users", body or okta_wire.create_user())
    user = expect(response, 201)
    assert response.headers["Location"] == user["meta"]["location"]
    return user


# --- Connection and lookups --------------------------------------------------------------------

def test_connection_test_lists_users_as_a_list_response(okta):
    """[REF11] Saving the integration: GET /Users?startIndex=1&count=2 on an empty tenant."""
    assert expect_list(okta.search(**okta_wire.CONNECTION_TEST_QUERY), total=0) == []


def test_connection_test_with_users_returns_the_first_page_of_count(okta):
    for n in range(3):
        _create(okta, okta_wire.create_user(userName=f"user{n}@okta.local", externalId=f"00u{n}"))
    resources = expect_list(okta.search(**okta_wire.CONNECTION_TEST_QUERY), total=3)
    assert len(resources) == 2
    for user in resources:
        assert {"id", "userName", "active", "meta"} <= user.keys()


def test_lookup_before_create_is_200_with_an_empty_list_never_404(okta):
    """[REF20] "Determine if the User already exists": no match → an empty ListResponse."""
    response = okta.search(okta_wire.LOOKUP_FILTER, **okta_wire.LOOKUP_QUERY)
    assert expect_list(response, total=0) == []


def test_lookup_finds_the_user_once_created(okta):
    created = _create(okta)
    resources = expect_list(okta.search(okta_wire.LOOKUP_FILTER, **okta_wire.LOOKUP_QUERY), total=1)
    assert [r["id"] for r in resources] == [created["id"]]
    assert "password" not in resources[0]


# --- Create --------------------------------------------------------------------------------------

def test_create_with_password_returns_the_user_without_it(okta):
    """[REF20] "Create the User": 201 with the user; ``password`` is returned never (RFC 7643 §4.1.1)."""
    response = okta.post("Users", okta_wire.create_user())
    user = expect(response, 201)
    assert user["id"] and user["userName"] == "test.user@okta.local"
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert user["name"] == {"givenName": "Test", "familyName": "User"}
    assert user["emails"] == [{"primary": True, "value": "test.user@okta.local", "type": "work"}]
    assert user["active"] is True and user["locale"] == "en-US"
    assert "password" not in user
    assert "1mz050nq" not in response.get_data(as_text=True)
    assert response.headers["ETag"] == user["meta"]["version"]
    assert response.headers["Content-Type"].startswith("application/scim+json")


def test_charset_parameter_on_the_media_type_is_accepted(okta):
    """Okta's ``Content-Type: application/scim+json; charset=utf-8``."""
    response = okta.post("Users", okta_wire.create_user(),
                         headers={"Content-Type": "application/scim+json; charset=utf-8"})
    expect(response, 201)


def test_duplicate_differing_only_in_case_is_409_uniqueness(okta):
    """[REF20]: an existing user must answer 409 "to stop the provisioning job"."""
    _create(okta)
    response = okta.post("Users", okta_wire.create_user(userName="Test.User@OKTA.local"))
    expect_error(response, 409, "uniqueness")


def test_spec_suite_required_tests_in_order(okta):
    """[SPEC] the Runscope suite's required tests, in its order."""
    expect_list(okta.search(okta_wire.SPEC_UNKNOWN_USERNAME_FILTER), total=0)   # invalid user by username
    expect_error(okta.get(f"Users/{okta_wire.SPEC_UNKNOWN_ID}"), 404)             # invalid user by ID
    expect_list(okta.search('userName eq "Runscope258Fuhpfuwaw309@atko.com"'), total=0)
    created = _create(okta, okta_wire.spec_user())                                # realistic values
    assert created["active"] is True
    assert created["name"] == {"givenName": "Runscope258", "familyName": "Fuhpfuwaw309"}
    fetched = expect(okta.get(f"Users/{created['id']}"), 200)                      # verify created
    assert fetched["userName"] == "Runscope258Fuhpfuwaw309@atko.com"
    assert fetched["emails"][0]["value"] == created["emails"][0]["value"]
    expect_error(okta.post("Users", okta_wire.spec_user()), 409, "uniqueness")     # same values again
    found = expect_list(okta.search(okta_wire.SPEC_UPPERCASE_FILTER), total=1)     # case sensitivity
    assert found[0]["id"] == created["id"]
    listed = expect_list(okta.search(startIndex=1, count=1), total=1)              # Users endpoint
    assert listed[0]["name"]["familyName"] and listed[0]["emails"][0]["value"]


# --- Import paging -------------------------------------------------------------------------------

def test_import_walks_pages_of_100_and_sees_each_user_exactly_once(okta):
    """[REF20] "Retrieve Users": startIndex=1, 101, 201 with count=100 until totalResults."""
    created = set()
    for n in range(250):
        created.add(_create(okta, {"schemas": [okta_wire.CORE], "userName": f"import{n:03}@okta.local",
                                   "name": {"givenName": "Import", "familyName": f"U{n:03}"},
                                   "emails": [{"value": f"import{n:03}@okta.local", "primary": True}],
                                   "active": True})["id"])
    seen: list[str] = []
    start = 1
    while True:
        page = expect(okta.search(startIndex=start, count=100), 200)
        assert page["totalResults"] == 250 and page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"]) <= 100
        seen += [user["id"] for user in page["Resources"]]
        start += 100
        if start > page["totalResults"]:
            break
    assert len(seen) == 250 and set(seen) == created
    # "The SCIM server must consistently return the same ordering of results".
    again = [u["id"] for u in expect(okta.search(startIndex=101, count=100), 200)["Resources"]]
    assert again == seen[100:200]


# --- Profile update (GET, then full PUT) ---------------------------------------------------------

def test_profile_update_is_get_then_put_of_the_whole_body(okta):
    """[REF20] "Update a specific User (PUT)": the PUT carries id, meta and groups."""
    created = _create(okta)
    current = expect(okta.get(f"Users/{created['id']}"), 200)
    body = okta_wire.put_user(created["id"])
    response = okta.put(f"Users/{created['id']}", body)
    updated = expect(response, 200)
    assert updated["id"] == created["id"]
    assert updated["name"] == {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    assert updated["emails"][0]["display"] == "test.user@okta.local"
    assert updated["meta"]["created"] == current["meta"]["created"]
    assert updated["meta"]["version"] != current["meta"]["version"]
    assert response.headers["ETag"] == updated["meta"]["version"]
    # PUT replaces: what the body left out (externalId, displayName, locale) is gone.
    assert "externalId" not in updated and "locale" not in updated
    assert expect(okta.get(f"Users/{created['id']}"), 200) == updated


def test_put_with_a_password_sets_it_and_never_returns_it(okta):
    """AIW apps sync passwords through PUT ([REF20] "Update a specific User (PATCH)" note)."""
    created = _create(okta)
    response = okta.put(f"Users/{created['id']}", okta_wire.put_user(created["id"], password="n3wP4ss!"))
    updated = expect(response, 200)
    assert "password" not in updated
    assert "n3wP4ss!" not in response.get_data(as_text=True)


def test_put_renaming_to_a_taken_username_is_409_uniqueness(okta):
    """Okta renames through the same full PUT; a name another user holds is RFC 7644 §3.5.1's 409."""
    created = _create(okta)
    _create(okta, okta_wire.create_user(userName="taken@okta.local", externalId="00u2"))
    response = okta.put(f"Users/{created['id']}", okta_wire.put_user(created["id"], userName="Taken@Okta.local"))
    expect_error(response, 409, "uniqueness")
    assert expect(okta.get(f"Users/{created['id']}"), 200)["userName"] == "test.user@okta.local"


def test_put_that_changes_nothing_keeps_the_version(okta):
    created = _create(okta)
    first = expect(okta.put(f"Users/{created['id']}", okta_wire.put_user(created["id"])), 200)
    second = expect(okta.put(f"Users/{created['id']}", okta_wire.put_user(created["id"])), 200)
    assert second["meta"]["version"] == first["meta"]["version"]


def test_put_deactivation_from_an_aiw_app_keeps_the_user_visible(okta):
    """AIW apps deactivate with a PUT of ``active: false`` instead of PATCH."""
    created = _create(okta)
    updated = expect(okta.put(f"Users/{created['id']}", okta_wire.put_user(created["id"], active=False)), 200)
    assert updated["active"] is False
    found = expect_list(okta.search(okta_wire.LOOKUP_FILTER), total=1)
    assert found[0]["active"] is False


# --- Deactivate and reactivate (path-less PATCH) -------------------------------------------------

def test_deactivate_and_reactivate_with_pathless_replace(okta):
    """[REF20] "Update a specific User (PATCH)": {"op":"replace","value":{"active":false}}."""
    created = _create(okta)
    off = expect(okta.patch(f"Users/{created['id']}", okta_wire.set_active(False)), 200)
    assert off["active"] is False and off["userName"] == created["userName"]
    assert off["name"] == created["name"] and off["emails"] == created["emails"]
    assert expect(okta.get(f"Users/{created['id']}"), 200)["active"] is False
    on = expect(okta.patch(f"Users/{created['id']}", okta_wire.set_active(True)), 200)
    assert on["active"] is True
    assert int(on["meta"]["version"][3:-1]) > int(off["meta"]["version"][3:-1])


def test_password_sync_with_pathless_patch_sets_it_and_never_returns_it(okta):
    """OIN integrations sync passwords with PATCH ([REF20] lists "Syncing the user password"
    among the PATCH operations); the body is the deactivation request's shape with ``password``."""
    created = _create(okta)
    body = {"schemas": [okta_wire.PATCH_OP], "Operations": [{"op": "replace", "value": {"password": "s3cr3t!!"}}]}
    response = okta.patch(f"Users/{created['id']}", body)
    updated = expect(response, 200)
    assert "password" not in updated and "s3cr3t!!" not in response.get_data(as_text=True)
    assert updated["meta"]["version"] != created["meta"]["version"]
    assert {k: v for k, v in updated.items() if k != "meta"} == {k: v for k, v in created.items() if k != "meta"}


def test_deactivating_an_inactive_user_changes_nothing(okta):
    created = _create(okta)
    first = expect(okta.patch(f"Users/{created['id']}", okta_wire.set_active(False)), 200)
    again = expect(okta.patch(f"Users/{created['id']}", okta_wire.set_active(False)), 200)
    assert again["meta"]["version"] == first["meta"]["version"]


# --- The tolerance is narrow ---------------------------------------------------------------------

@pytest.mark.parametrize("operation, scim_types", [
    ({"op": "frobnicate", "value": {"active": False}}, ("invalidSyntax", "invalidValue")),
    ({"op": "replace", "value": {"active": "nope"}}, ("invalidValue",)),
    ({"op": "replace", "path": "id", "value": "x"}, ("mutability",)),
])
def test_invalid_patch_operations_get_the_rfc_errors(okta, operation, scim_types):
    """RFC 7644 §3.5.2 / §3.12: a bad op, a non-boolean, a readOnly target → 400, nothing changes."""
    created = _create(okta)
    body = {"schemas": [okta_wire.PATCH_OP], "Operations": [operation]}
    expect_error(okta.patch(f"Users/{created['id']}", body), 400, scim_types)
    assert expect(okta.get(f"Users/{created['id']}"), 200) == created


def test_put_without_username_is_400(okta):
    created = _create(okta)
    body = okta_wire.put_user(created["id"])
    del body["userName"]
    expect_error(okta.put(f"Users/{created['id']}", body), 400, "invalidValue")


def test_filter_on_an_unknown_attribute_is_invalid_filter(okta):
    expect_error(okta.search('nickname_typo eq "x"'), 400, "invalidFilter")


def test_bearer_typed_into_okta_authorization_field_is_401(okta):
    """docs/idp/okta.md: Okta adds ``Bearer``; a key pasted with it arrives as ``Bearer Bearer <key>``."""
    response = okta.get("Users?startIndex=1&count=2", headers={"Authorization": f"Bearer Bearer {okta.key}"})
    expect_error(response, 401)
