"""SCIM filters compiled to SQL (RFC 7644 §3.4.2.2), against a real SQLite file.

Users are created through the API; every filter goes through GET /Users. The first
table holds every example filter of RFC 7644 §3.4.2.2 (Figure 2 and the text).
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from scimsvc.extensions import db
from tests.conftest import make_user
from tests.sqltrace import is_select, query_plan, sqlite_statements
from tests.filtercases import (
    BAD_FILTERS, EVERYONE, MORE_CASES, ORACLE_PEOPLE, PEOPLE, RFC_EXAMPLES, UNKNOWN_ATTRIBUTES,
    _oracle_filter,
)
from tests.scimdata import ENTERPRISE, CORE_USER as CORE


@pytest.fixture
def people(scim):
    return {name: make_user(scim, name, **attrs) for name, attrs in PEOPLE.items()}


def search(scim, text: str):
    return scim.get("Users?" + urlencode({"filter": text}))


def matched(scim, text: str) -> set[str]:
    response = search(scim, text)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["totalResults"] == len(body["Resources"])
    return {resource["userName"] for resource in body["Resources"]}


@pytest.mark.parametrize("text,expected", RFC_EXAMPLES, ids=[t for t, _ in RFC_EXAMPLES])
def test_rfc_7644_example_filters(scim, people, text, expected):
    assert matched(scim, text) == expected


@pytest.mark.parametrize("text,expected", MORE_CASES, ids=[t for t, _ in MORE_CASES])
def test_filter(scim, people, text, expected):
    assert matched(scim, text) == expected


def test_filter_on_id_is_exact(scim, people):
    scim_id = people["jsmith"]["id"]
    assert matched(scim, f'id eq "{scim_id}"') == {"jsmith"}
    assert matched(scim, f'id eq "{scim_id.upper()}"') == set()
    assert matched(scim, f'id sw "{scim_id[:8]}"') == {"jsmith"}


def test_filter_on_meta_location_and_version(scim, people):
    resource = people["jsmith"]
    assert matched(scim, f'meta.location eq "{resource["meta"]["location"]}"') == {"jsmith"}
    version = resource["meta"]["version"].replace('"', '\\"')
    assert "jsmith" in matched(scim, f'meta.version eq "{version}"')


def test_meta_timestamps_compare_as_times_at_the_precision_returned(scim, people):
    created = people["jsmith"]["meta"]["created"]  # e.g. 2026-11-28T10:52:09.097Z
    assert matched(scim, f'meta.created eq "{created}"') == {"jsmith"}
    assert "jsmith" in matched(scim, f'meta.created ge "{created}"')
    assert "jsmith" in matched(scim, f'meta.created le "{created}"')
    assert "jsmith" not in matched(scim, f'meta.created gt "{created}"')
    assert "jsmith" not in matched(scim, f'meta.created lt "{created}"')
    assert "jsmith" not in matched(scim, f'meta.created ne "{created}"')
    # The same instant written with another offset is the same time.
    moment = datetime.fromisoformat(created).astimezone(timezone(timedelta(hours=2)))
    assert matched(scim, f'meta.created eq "{moment.isoformat(timespec="milliseconds")}"') \
        == {"jsmith"}


def test_removed_users_never_match(scim, people):
    assert scim.delete(f"Users/{people['jsmith']['id']}").status_code == 204
    assert matched(scim, 'userName eq "jsmith"') == set()
    assert "jsmith" not in matched(scim, "userName pr")


def test_a_filter_of_150_comparisons_works(scim, people):
    names = [f"nobody{i}" for i in range(149)] + ["bjensen"]
    text = " or ".join(f'userName eq "{name}"' for name in names)
    assert matched(scim, text) == {"bjensen"}
    nested = " and ".join(f'(userName ne "nobody{i}" or title pr)' for i in range(150))
    assert matched(scim, nested) == EVERYONE


def invalid(scim, text: str) -> dict:
    response = search(scim, text)
    assert response.status_code == 400, response.get_json()
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["scimType"] == "invalidFilter"
    assert body["status"] == "400"
    return body


@pytest.mark.parametrize("text,named", UNKNOWN_ATTRIBUTES, ids=[t for t, _ in UNKNOWN_ATTRIBUTES])
def test_unknown_attribute_is_invalid_filter_naming_it(scim, people, text, named):
    assert named in invalid(scim, text)["detail"]


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_bad_filter_is_invalid_filter(scim, people, text):
    invalid(scim, text)


def test_deeply_grouped_filter_is_fine(scim, people):
    assert matched(scim, "(" * 200 + 'userName eq "bjensen"' + ")" * 200) == {"bjensen"}


def test_invalid_filter_in_search_request_too(scim, people):
    response = scim.post("Users/.search", json={"filter": 'bogus eq "x"'})
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidFilter"


# --- Index use (RFC 7644 §3.4.2.2 lookups by the IdPs) ---------------------------


def _plans_of_user_queries(app, scim, text):
    """Run GET /Users?filter=text and EXPLAIN each query it sent that reads users."""
    with sqlite_statements(app) as seen:
        assert search(scim, text).status_code == 200
    statements = [statement for statement in seen
                  if is_select(statement) and "FROM users" in statement]
    # The page, and a COUNT unless the first page was not full (search_users).
    assert 1 <= len(statements) <= 2, statements
    return [" | ".join(query_plan(app, statement)) for statement in statements]


@pytest.mark.parametrize("text,index", [
    ('userName eq "BJensen"',
     "USING INDEX uq_users_tenant_username (tenant_id=? AND user_name_norm=?)"),
    ('externalId eq "bjensen-ext"',
     "INDEX ix_users_tenant_external_id (tenant_id=? AND external_id=? AND deleted_at=?)"),
    ('id eq "{id}"', "(scim_id=?)"),
    ('userName sw "bj"', "USING INDEX uq_users_tenant_username "
                         "(tenant_id=? AND user_name_norm>? AND user_name_norm<?)"),
    ('emails.value eq "bjensen@example.com"',
     "SEARCH user_values USING INDEX ix_user_values_lookup (attr=? AND value_norm=?)"),
])
def test_lookups_are_answered_from_an_index(app, scim, people, text, index):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    text = text.replace("{id}", people["bjensen"]["id"])
    for plan in _plans_of_user_queries(app, scim, text):
        assert index in plan, plan
        assert "SCAN users" not in plan, plan


def test_case_insensitive_comparison_folds_non_ascii_letters(scim):
    make_user(scim, "Émile@Example.com", displayName="ÉMILE Zola",
              name={"givenName": "Émile", "familyName": "Zola"},
              emails=[{"value": "Émile@Example.com", "type": "Work"}],
              title="Écrivain")
    for text in ['userName eq "émile@example.com"', 'displayName eq "émile zola"',
                 'displayName sw "émile"', 'name.givenName eq "ÉMILE"', 'title co "écri"',
                 'emails.value eq "émile@EXAMPLE.com"', 'emails[type eq "WORK"]']:
        assert matched(scim, text) == {"Émile@Example.com"}, text


def test_a_filter_longer_than_sqlite_expression_depth_works(app, scim, people):
    # SQLite refuses expressions more than 1000 deep; a flat 1500-way "or" must not reach it.
    app.config["SCIMSVC_MAX_FILTER_LENGTH"] = 100_000
    text = " or ".join(["id pr"] * 1500)
    assert matched(scim, text) == EVERYONE
    text = " or ".join(f'emails.value eq "n{i}"' for i in range(1499))
    text += ' or emails eq "jo@example.org"'
    assert matched(scim, text) == {"Jomalley@Example.com"}


# --- No input is a 500 -------------------------------------------------------------

FUZZ_ATTRIBUTES = [
    "userName", "emails", "emails.value", "emails.primary", "name", "name.familyName",
    "meta.created", "meta.version", "meta.resourceType", "active", "title", "schemas", "id",
    f"{ENTERPRISE}:manager.value", f"{ENTERPRISE}:manager", f"{CORE}:userName",
    "addresses.locality", "x509Certificates.value", "groups", "password", "bogus",
]
FUZZ_SUBS = ["type", "value", "primary", "display", "locality", "bogus"]
FUZZ_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ"]
FUZZ_VALUES = ['"x"', '"2020-01-01T00:00:00Z"', "true", "null", "12", "-1.5e3", '""',
               '"%_/"', '"é"', '"W/\\"1\\""', '"2020-13-01"']


def _random_filter(rnd, depth=0):
    def comparison(names):
        op = rnd.choice(FUZZ_OPS)
        name = rnd.choice(names)
        return f"{name} pr" if op == "pr" else f"{name} {op} {rnd.choice(FUZZ_VALUES)}"

    roll = rnd.random()
    if depth > 3 or roll < 0.35:
        return comparison(FUZZ_ATTRIBUTES)
    if roll < 0.5:
        inner = " and ".join(comparison(FUZZ_SUBS) for _ in range(rnd.randint(1, 2)))
        inner = f"not ({inner})" if rnd.random() < 0.3 else inner
        tail = f".{comparison(FUZZ_SUBS)}" if rnd.random() < 0.3 else ""
        return f"{rnd.choice(['emails', 'addresses', 'name', 'groups', 'userName'])}[{inner}]{tail}"
    if roll < 0.6:
        return f"not ({_random_filter(rnd, depth + 1)})"
    join = rnd.choice(["and", "or", "AND"])
    return f"({_random_filter(rnd, depth + 1)}) {join} {_random_filter(rnd, depth + 1)}"


def test_generated_filters_sorts_and_selections_never_fail_the_server(scim, people):
    rnd = random.Random(2026)
    answered = {200: 0, 400: 0}
    for _ in range(400):
        body = {"filter": _random_filter(rnd)}
        if rnd.random() < 0.3:
            body["sortBy"] = rnd.choice(FUZZ_ATTRIBUTES + ["emails.type", "name.givenName"])
        if rnd.random() < 0.3:
            body["attributes"] = [rnd.choice(FUZZ_ATTRIBUTES) for _ in range(2)]
        response = scim.post("Users/.search", json=body)
        assert response.status_code in answered, (body, response.get_json())
        answered[response.status_code] += 1
    assert answered[200] > 50 and answered[400] > 50  # both paths were exercised


# --- The SQL agrees with a direct reading of the RFC ------------------------------------

def test_sql_filters_agree_with_evaluating_the_rfc_semantics_in_python(scim):
    resources = [make_user(scim, name, **attrs) for name, attrs in ORACLE_PEOPLE.items()]
    rnd = random.Random(7643)
    for _ in range(300):
        text, predicate = _oracle_filter(rnd)
        expected = {r["userName"] for r in resources if predicate(r)}
        assert matched(scim, text) == expected, text
