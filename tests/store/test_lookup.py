"""The lookup IdPs send before every create: ``filter=userName eq "…"`` / ``externalId eq "…"``.

It is served by a prepared query (``services.users.find_users``) instead of the
general filter compiler; these tests hold it to the general path's answers.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import make_user, provision_key
from tests.scimdata import CORE_USER as CORE


NAMES = ["bjensen@example.com", "Élodie.Ünal@Example.com", "ΣΊΣΥΦΟΣ@example.gr", "x_y%z@example.com",
         "straße@example.de"]


def lookup(scim, text, **params):
    query = "&".join([f"filter={quote(text)}"] + [f"{k}={v}" for k, v in params.items()])
    response = scim.get(f"Users?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def ids(body):
    return [user["id"] for user in body["Resources"]]


@pytest.fixture
def people(scim):
    return {name: make_user(scim, name, externalId=f"ext-{i}") for i, name in enumerate(NAMES)}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("spelling", [str, str.upper, str.lower, str.swapcase])
def test_user_name_lookup_matches_the_general_filter(scim, people, name, spelling):
    asked = spelling(name)
    fast = lookup(scim, f'userName eq "{asked}"')
    # "and userName pr" takes the general compiler; both must give the same answer.
    general = lookup(scim, f'userName eq "{asked}" and userName pr')
    assert fast == general
    if asked.lower() == name.lower():
        assert ids(fast) == [people[name]["id"]]
        assert fast["totalResults"] == 1 and fast["itemsPerPage"] == 1
        assert fast["Resources"][0]["meta"]["location"].endswith(people[name]["id"])


def test_lookup_by_urn_qualified_name_and_any_letter_case_of_the_attribute(scim, people):
    expected = [people["bjensen@example.com"]["id"]]
    assert ids(lookup(scim, f'{CORE}:userName eq "bjensen@example.com"')) == expected
    assert ids(lookup(scim, 'USERNAME EQ "BJENSEN@EXAMPLE.COM"')) == expected
    assert ids(lookup(scim, f'{CORE}:externalId eq "ext-0"')) == expected


def test_external_id_lookup_is_case_exact(scim, people):
    assert ids(lookup(scim, 'externalId eq "ext-1"')) == [people[NAMES[1]]["id"]]
    assert lookup(scim, 'externalId eq "EXT-1"')["totalResults"] == 0


def test_lookup_finds_no_removed_user(scim, people):
    target = people["bjensen@example.com"]
    assert scim.delete(f"Users/{target['id']}").status_code == 204
    assert lookup(scim, 'userName eq "bjensen@example.com"')["totalResults"] == 0
    assert lookup(scim, 'externalId eq "ext-0"')["totalResults"] == 0


def test_shared_external_id_pages_and_counts_like_any_filter(scim):
    created = [make_user(scim, f"twin{i}@example.com", externalId="shared") for i in range(3)]
    body = lookup(scim, 'externalId eq "shared"', count=2)
    assert body["totalResults"] == 3 and body["itemsPerPage"] == 2
    assert ids(body) == [u["id"] for u in created[:2]]
    body = lookup(scim, 'externalId eq "shared"', count=5)
    assert body["totalResults"] == 3 and ids(body) == [u["id"] for u in created]
    body = lookup(scim, 'externalId eq "shared"', count=0)
    assert body["totalResults"] == 3 and body["Resources"] == []
    assert lookup(scim, 'externalId eq "shared"', startIndex=3)["Resources"][0]["id"] == created[2]["id"]


def test_a_full_first_page_of_a_lookup_adds_only_a_count(app, scim, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("reads SQLite's own trace")
    from tests.sqltrace import is_select, sqlite_statements

    created = [make_user(scim, f"twin{i}@example.com", externalId="shared") for i in range(3)]
    lookup(scim, 'externalId eq "shared"', count=2)  # warm: the key check's last-used write
    with sqlite_statements(app) as seen:
        body = lookup(scim, 'externalId eq "shared"', count=2)
    assert body["totalResults"] == 3 and ids(body) == [u["id"] for u in created[:2]]
    on_users = [s for s in seen if is_select(s) and "FROM users" in s]
    # The page (the prepared lookup) and one COUNT: the page is not read a second time.
    assert len(on_users) == 2, on_users
    assert sum("count(*)" in s.lower() for s in on_users) == 1


def test_lookup_applies_attribute_selection(scim, people):
    body = lookup(scim, 'userName eq "bjensen@example.com"', attributes="userName")
    assert body["Resources"] == [{"schemas": [CORE], "id": people["bjensen@example.com"]["id"],
                                  "userName": "bjensen@example.com"}]


def test_lookup_stays_inside_the_organization(scim, admin, app):
    make_user(scim, "shared@example.com", externalId="same")
    admin("org", "create", "other", "--name", "Other Inc")
    other_key = provision_key(admin, org="other", name="other-idp")
    other = type(scim)(app.test_client(), other_key)
    assert lookup(other, 'userName eq "shared@example.com"')["totalResults"] == 0
    assert lookup(other, 'externalId eq "same"')["totalResults"] == 0
