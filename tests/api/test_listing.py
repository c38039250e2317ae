"""GET /Users and POST /Users/.search (RFC 7644 §3.4.2-§3.4.3, §3.9).

Paging, sorting and attribute selection, with users created through the API.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import event

from scimsvc.extensions import db
from tests.conftest import ScimClient, make_user, provision_key
from tests.scimdata import LIST_RESPONSE, SEARCH_REQUEST, ENTERPRISE, CORE_USER as CORE


def list_users(scim, **params):
    response = scim.get("Users?" + urlencode(params) if params else "Users")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/scim+json"
    return response.get_json()


def names(body) -> list[str]:
    return [resource["userName"] for resource in body["Resources"]]


def error(response, status=400, scim_type="invalidValue") -> str:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["scimType"] == scim_type
    return body["detail"]


@pytest.fixture
def seven(scim):
    """Seven users, created in this order."""
    return [make_user(scim, f"user{i}@example.com") for i in range(7)]


def test_empty_list_is_a_list_response(scim):
    body = list_users(scim)
    assert body == {"schemas": [LIST_RESPONSE], "totalResults": 0, "itemsPerPage": 0,
                    "startIndex": 1, "Resources": []}


def test_list_returns_full_resources_with_meta(scim):
    created = make_user(scim, "bjensen@example.com", name={"givenName": "Barbara"})
    body = list_users(scim)
    assert body["totalResults"] == 1 and body["itemsPerPage"] == 1
    (resource,) = body["Resources"]
    assert resource == created  # the same representation as GET /Users/{id}


def test_walking_pages_visits_every_user_once(scim, seven):
    seen, pages = [], []
    start = 1
    while True:
        body = list_users(scim, startIndex=start, count=3)
        assert body["totalResults"] == 7
        assert body["startIndex"] == start
        assert body["itemsPerPage"] == len(body["Resources"])
        if not body["Resources"]:
            break
        pages.append(body["itemsPerPage"])
        seen.extend(r["id"] for r in body["Resources"])
        start += body["itemsPerPage"]
    assert pages == [3, 3, 1]
    assert sorted(seen) == sorted(u["id"] for u in seven)
    assert len(set(seen)) == 7


def test_walking_sorted_pages_with_ties_visits_every_user_once(scim):
    for i in range(7):
        make_user(scim, f"tie{i}@example.com", name={"familyName": "Same"})
    seen = []
    for start in (1, 3, 5, 7):
        body = list_users(scim, sortBy="name.familyName", startIndex=start, count=2)
        seen.extend(names(body))
    assert sorted(seen) == [f"tie{i}@example.com" for i in range(7)]


@pytest.mark.parametrize("start", ["0", "-5"])
def test_start_index_below_one_means_one(scim, seven, start):
    body = list_users(scim, startIndex=start, count=2)
    assert body["startIndex"] == 1
    assert names(body) == ["user0@example.com", "user1@example.com"]


def test_start_index_past_the_end_returns_no_resources(scim, seven):
    body = list_users(scim, startIndex=50)
    assert body["totalResults"] == 7 and body["itemsPerPage"] == 0 and body["Resources"] == []
    body = list_users(scim, startIndex=str(10**30))
    assert body["totalResults"] == 7 and body["Resources"] == []


@pytest.mark.parametrize("count", ["0", "-3"])
def test_count_zero_or_negative_returns_only_total_results(scim, seven, count):
    body = list_users(scim, count=count)
    assert body["totalResults"] == 7
    assert body["itemsPerPage"] == 0
    assert body["Resources"] == []


def test_count_defaults_and_is_clamped_to_the_published_maximum(app, scim, seven):
    app.config["SCIMSVC_DEFAULT_COUNT"] = 4
    app.config["SCIMSVC_MAX_COUNT"] = 5
    assert list_users(scim)["itemsPerPage"] == 4
    assert list_users(scim, count=100)["itemsPerPage"] == 5
    config = scim.get("ServiceProviderConfig").get_json()
    assert config["filter"]["maxResults"] == 5


@pytest.mark.parametrize("params", [
    {"count": "ten"}, {"count": "1.5"}, {"startIndex": "x"}, {"startIndex": "2e3"},
    {"count": "0x10"},
])
def test_non_integer_paging_is_invalid_value(scim, params):
    error(scim.get("Users?" + urlencode(params)))


def test_removed_users_are_not_listed_or_counted(scim, seven):
    assert scim.delete(f"Users/{seven[0]['id']}").status_code == 204
    body = list_users(scim)
    assert body["totalResults"] == 6
    assert "user0@example.com" not in names(body)


def test_users_of_another_organization_are_invisible(app, admin, scim, seven):
    admin("org", "create", "other")
    other = ScimClient(app.test_client(), provision_key(admin, org="other"))
    make_user(other, "user0@example.com")  # same name, other tenant
    body = list_users(other)
    assert body["totalResults"] == 1
    assert list_users(scim, filter='userName eq "user0@example.com"')["totalResults"] == 1
    assert list_users(scim)["totalResults"] == 7


# --- Sorting (RFC 7644 §3.4.2.3) --------------------------------------------------


@pytest.fixture
def sortable(scim):
    make_user(scim, "carol", name={"familyName": "cooper"},
              emails=[{"value": "z@example.com"}, {"value": "c@example.com", "primary": True}])
    make_user(scim, "Bob", name={"familyName": "Baker"},
              emails=[{"value": "b@example.com"}, {"value": "a@example.com"}])
    make_user(scim, "alice", emails=[{"value": "y@example.com"}])
    make_user(scim, "dave", name={"familyName": "Adams"})


def test_sort_by_user_name_ignores_case(scim, sortable):
    assert names(list_users(scim, sortBy="userName")) == ["alice", "Bob", "carol", "dave"]
    assert names(list_users(scim, sortBy="USERNAME", sortOrder="Descending")) == \
        ["dave", "carol", "Bob", "alice"]


def test_sort_puts_missing_values_last_ascending_and_first_descending(scim, sortable):
    assert names(list_users(scim, sortBy="name.familyName")) == ["dave", "Bob", "carol", "alice"]
    assert names(list_users(scim, sortBy="name.familyName", sortOrder="descending")) == \
        ["alice", "carol", "Bob", "dave"]


def test_sort_by_multi_valued_attribute_uses_primary_else_first_value(scim, sortable):
    # carol: primary c@; Bob: first b@; alice: y@; dave: none.
    assert names(list_users(scim, sortBy="emails")) == ["Bob", "carol", "alice", "dave"]
    assert names(list_users(scim, sortBy="emails.value", sortOrder="descending")) == \
        ["dave", "alice", "carol", "Bob"]


def test_sort_by_a_boolean_sub_attribute(scim, sortable):
    # Only carol's chosen email has "primary"; the others have no value: last when
    # ascending, first when descending (RFC 7644 §3.4.2.3), then in creation order.
    assert names(list_users(scim, sortBy="emails.primary")) == ["carol", "Bob", "alice", "dave"]
    assert names(list_users(scim, sortBy="emails.primary", sortOrder="descending")) == \
        ["Bob", "alice", "dave", "carol"]
    bob = only(list_users(scim, filter='userName eq "Bob"'))
    scim.put(f"Users/{bob['id']}", json={"schemas": [CORE], "userName": "Bob", "active": False})
    assert names(list_users(scim, sortBy="active"))[0] == "Bob"


def test_sort_by_meta_created_and_with_a_filter(scim, sortable):
    assert names(list_users(scim, sortBy="meta.created", sortOrder="descending")) == \
        ["dave", "alice", "Bob", "carol"]
    body = list_users(scim, sortBy="userName", filter="emails pr", count=2, startIndex=2)
    assert body["totalResults"] == 3
    assert names(body) == ["Bob", "carol"]


def test_sort_order_without_sort_by_is_ignored(scim, sortable):
    assert names(list_users(scim, sortOrder="descending")) == ["carol", "Bob", "alice", "dave"]


@pytest.mark.parametrize("params", [
    {"sortBy": "bogus"}, {"sortBy": "name"}, {"sortBy": "password"}, {"sortBy": "name.bogus"},
    {"sortBy": "userName", "sortOrder": "up"},
])
def test_bad_sort_is_invalid_value(scim, params):
    error(scim.get("Users?" + urlencode(params)))


# --- Attribute selection (RFC 7644 §3.4.2.5, §3.9) ------------------------------------


@pytest.fixture
def bjensen(scim):
    return make_user(
        scim, "bjensen@example.com", externalId="b-1", displayName="Babs", password="s3cret!",
        name={"givenName": "Barbara", "familyName": "Jensen"},
        emails=[{"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@example.org", "type": "home"}],
        **{ENTERPRISE: {"department": "Tours", "manager": {"value": "m-1", "displayName": "X"}}},
    )


def only(body):
    (resource,) = body["Resources"]
    return resource


def test_attributes_select_and_always_return_id_and_schemas(scim, bjensen):
    resource = only(list_users(scim, attributes="userName,name.givenName,emails.value"))
    assert resource == {
        "schemas": [CORE, ENTERPRISE], "id": bjensen["id"], "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara"},
        "emails": [{"value": "bjensen@example.com"}, {"value": "babs@example.org"}],
    }


def test_attributes_are_case_insensitive_and_may_be_urn_qualified(scim, bjensen):
    resource = only(list_users(scim, attributes=f"DISPLAYNAME,{CORE}:userName,"
                                                f"{ENTERPRISE}:manager.value"))
    assert resource == {
        "schemas": [CORE, ENTERPRISE], "id": bjensen["id"], "displayName": "Babs",
        "userName": "bjensen@example.com", ENTERPRISE: {"manager": {"value": "m-1"}},
    }
    resource = only(list_users(scim, attributes=f"{ENTERPRISE},meta.created"))
    assert resource[ENTERPRISE] == bjensen[ENTERPRISE]
    assert resource["meta"] == {"created": bjensen["meta"]["created"]}
    assert "userName" not in resource


def test_attributes_never_return_password_and_ignore_unknown_names(scim, bjensen):
    resource = only(list_users(scim, attributes="password,bogus,id"))
    assert resource == {"schemas": [CORE, ENTERPRISE], "id": bjensen["id"]}


def test_excluded_attributes_remove_from_the_default_set(scim, bjensen):
    resource = only(list_users(scim, excludedAttributes="emails,meta,name.familyName,id,"
                                                        f"{ENTERPRISE}:department"))
    assert resource["id"] == bjensen["id"]  # returned: always
    assert "emails" not in resource and "meta" not in resource
    assert resource["name"] == {"givenName": "Barbara"}
    assert resource[ENTERPRISE] == {"manager": {"value": "m-1"}}
    assert resource["userName"] == "bjensen@example.com"
    resource = only(list_users(scim, excludedAttributes=ENTERPRISE))
    assert ENTERPRISE not in resource and resource["emails"] == bjensen["emails"]


def test_attributes_and_excluded_attributes_together_are_invalid_value(scim, bjensen):
    error(scim.get("Users?attributes=userName&excludedAttributes=emails"))


def test_selection_applies_to_get_post_and_put(scim, bjensen):
    response = scim.get(f"Users/{bjensen['id']}?attributes=userName")
    assert response.status_code == 200
    assert response.get_json() == {"schemas": [CORE, ENTERPRISE], "id": bjensen["id"],
                                   "userName": "bjensen@example.com"}
    response = scim.post("Users?excludedAttributes=meta,emails",
                         json={"schemas": [CORE], "userName": "new@example.com",
                               "emails": [{"value": "new@example.com"}]})
    assert response.status_code == 201
    body = response.get_json()
    assert "meta" not in body and "emails" not in body and body["userName"] == "new@example.com"
    assert response.headers["Location"].endswith(f"/Users/{body['id']}")
    assert response.headers["ETag"]
    response = scim.put(f"Users/{body['id']}?attributes=displayName",
                        json={"schemas": [CORE], "userName": "new@example.com",
                              "displayName": "New"})
    assert response.status_code == 200
    assert response.get_json() == {"schemas": [CORE], "id": body["id"], "displayName": "New"}


# --- POST /Users/.search (RFC 7644 §3.4.3) -------------------------------------------


def test_search_request_is_the_same_as_get(scim, sortable):
    request = {"schemas": [SEARCH_REQUEST], "filter": "emails pr", "sortBy": "userName",
               "sortOrder": "descending", "startIndex": 1, "count": 2,
               "attributes": ["userName", "emails.value"]}
    response = scim.post("Users/.search", json=request)
    assert response.status_code == 200
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == 3 and body["itemsPerPage"] == 2 and body["startIndex"] == 1
    assert names(body) == ["carol", "Bob"]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName", "emails"}
    same = list_users(scim, filter="emails pr", sortBy="userName", sortOrder="descending",
                      startIndex=1, count=2, attributes="userName,emails.value")
    assert body == same


def test_search_at_the_root_searches_users(scim, sortable):
    response = scim.post(".search", json={"schemas": [SEARCH_REQUEST],
                                          "filter": 'userName eq "BOB"'})
    assert response.status_code == 200
    assert names(response.get_json()) == ["Bob"]


def test_search_request_errors(scim, sortable):
    error(scim.post("Users/.search", json=["not", "an", "object"]), scim_type="invalidSyntax")
    error(scim.post("Users/.search", data="{nope"), scim_type="invalidSyntax")
    error(scim.post("Users/.search", json={"count": "many"}))
    error(scim.post("Users/.search", json={"startIndex": True}))
    error(scim.post("Users/.search", json={"attributes": 5}))
    error(scim.post("Users/.search", json={"filter": 'userName eq "x" and'}),
          scim_type="invalidFilter")
    error(scim.post("Users/.search", json={"filter": 7}), scim_type="invalidFilter")


def test_search_needs_a_key(scim):
    response = scim.post("Users/.search", json={}, key="scim_bogus")
    assert response.status_code == 401


def test_empty_search_request_lists_everyone(scim, sortable):
    body = scim.post("Users/.search", json={"schemas": [SEARCH_REQUEST]}).get_json()
    assert body["totalResults"] == 4


def test_overlong_filter_is_refused(app, scim):
    app.config["SCIMSVC_MAX_FILTER_LENGTH"] = 50
    detail = error(scim.get("Users?" + urlencode({"filter": 'userName eq "' + "x" * 60 + '"'})),
                   scim_type="invalidFilter")
    assert "50" in detail


# --- One COUNT and one page query, whatever the page size ------------------------------


def _user_queries(app, scim, path):
    with app.app_context():
        engine = db.engine
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM users" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert scim.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return statements


def test_listing_runs_one_count_and_one_page_query(app, scim, seven):
    statements = _user_queries(app, scim, "Users?filter=emails%20pr%20or%20userName%20pr"
                                          "&sortBy=emails&count=7")
    assert len(statements) == 2
    assert "LIMIT" in statements[0]  # the page first: a first page with room left is the total
    assert "count(*)" in statements[1]


def test_a_first_page_with_room_left_needs_no_count(app, scim, seven):
    statements = _user_queries(app, scim, "Users?filter=userName%20sw%20%22user%22&count=50")
    assert len(statements) == 1 and "count(*)" not in statements[0]
    body = scim.get("Users?filter=userName%20sw%20%22user%22&count=50").get_json()
    assert body["totalResults"] == body["itemsPerPage"] == len(body["Resources"])


def _checkouts(app, scim, path) -> int:
    with app.app_context():
        pool = db.engine.pool
    assert scim.get(path).status_code == 200  # warm: the journal_reads setting is cached
    taken = []
    listener = lambda *args: taken.append(args)  # noqa: E731
    event.listen(pool, "checkout", listener)
    try:
        assert scim.get(path).status_code == 200
    finally:
        event.remove(pool, "checkout", listener)
    return len(taken)


def test_an_unfiltered_page_holds_one_pooled_connection(app, scim, seven):
    # The key check and the bucket-ordered page share the request's driver connection; a
    # second checkout (an unused read connection) cost every page of an IdP's import.
    assert _checkouts(app, scim, "Users?startIndex=3&count=2") == 1
    # A filter the lookup fast path does not serve is compiled and run on the read connection.
    assert _checkouts(app, scim, "Users?filter=userName%20sw%20%22user%22&count=2") == 2


def test_search_request_numbers_may_be_integral_json_numbers(scim, seven):
    body = scim.post("Users/.search", json={"count": 2.0, "startIndex": "3"}).get_json()
    assert body["itemsPerPage"] == 2 and body["startIndex"] == 3
    assert names(body) == ["user2@example.com", "user3@example.com"]
    error(scim.post("Users/.search", json={"count": 2.5}))
