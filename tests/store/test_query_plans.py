"""The hot queries of an IdP's traffic are answered from indexes, never by reading every user.

Each test sends a real request through the app, records every SELECT it ran,
and asks SQLite for its plan (``EXPLAIN QUERY PLAN``, with the same
parameters): lookups by userName/externalId/id, a list page and its total at
any depth, and the ``co``/``sw`` searches of docs/performance.md. A plan line
``SCAN users`` or ``SCAN user_values`` (a full table or full index walk) fails.
The planner has no statistics here, as on a server that never ran ANALYZE.
"""
from __future__ import annotations

import pytest

from scimsvc.extensions import db

from tests.conftest import make_user
from tests.sqltrace import is_select, query_plan, sqlite_statements

FULL_SCANS = ("SCAN users", "SCAN user_values", "SCAN team_members", "SCAN user_buckets")


@pytest.fixture(autouse=True)
def _sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's")


@pytest.fixture
def people(scim):
    made = {}
    for n, (given, family) in enumerate([("Barbara", "Jensen"), ("Jo", "Johnson"),
                                         ("Ann", "Jones"), ("Hui", "Li"), ("Zed", "Shaw")]):
        user_name = f"{given.lower()}.{family.lower()}@example.com"
        made[user_name] = make_user(
            scim, user_name, externalId=f"ext-{n}", name={"givenName": given, "familyName": family},
            emails=[{"value": user_name, "type": "work", "primary": True}])
    return made


def plans_of(app, send) -> list[tuple[str, list[str]]]:
    """Run ``send()`` and return (statement, plan lines) for every SELECT it made."""
    with sqlite_statements(app) as seen:
        response = send()
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(statement, query_plan(app, statement)) for statement in seen if is_select(statement)]


def user_plans(app, send) -> list[str]:
    """The plans of the statements that read users (the key check and settings are not)."""
    found = [" | ".join(lines) for statement, lines in plans_of(app, send)
             if "FROM users" in statement or "user_buckets" in statement]
    assert found, "the request read no user"
    return found


def assert_no_full_scan(plans: list[str]) -> None:
    for plan in plans:
        for scan in FULL_SCANS:
            # "SCAN users" is a walk of the whole table or of one of its indexes.
            assert f"{scan} " not in plan + " ", plan


@pytest.mark.parametrize("expression,index", [
    ('userName eq "{user_name}"', "uq_users_tenant_username (tenant_id=? AND user_name_norm=?)"),
    ('externalId eq "ext-2"', "ix_users_tenant_external_id (tenant_id=? AND external_id=? AND deleted_at=?)"),
    ('id eq "{id}"', "(scim_id=?)"),
])
def test_lookup_before_create_is_one_index_search(app, scim, people, expression, index):
    user = people["ann.jones@example.com"]
    expression = expression.format(user_name="ANN.Jones@example.com", id=user["id"])
    plans = user_plans(app, lambda: scim.get(f"Users?filter={expression}"))
    assert any(index in plan for plan in plans), plans
    assert_no_full_scan(plans)


def test_get_by_id_is_one_index_search(app, scim, people):
    user = people["hui.li@example.com"]
    plans = user_plans(app, lambda: scim.get(f"Users/{user['id']}"))
    assert any("(scim_id=?)" in plan for plan in plans), plans
    assert_no_full_scan(plans)


@pytest.mark.parametrize("start", [1, 3, 5])
def test_list_page_and_total_never_read_the_users_before_the_page(app, scim, people, start):
    plans = user_plans(app, lambda: scim.get(f"Users?startIndex={start}&count=2"))
    # totalResults and the page's first bucket come from user_buckets' primary key ...
    assert any("SEARCH user_buckets USING INDEX sqlite_autoindex_user_buckets_1 (tenant_id=?)"
               in plan for plan in plans), plans
    # ... and the page is a range of ids from that bucket on, not an OFFSET from the first user.
    assert any("SEARCH users USING" in plan and "id>?" in plan for plan in plans), plans
    assert_no_full_scan(plans)


def test_contains_on_emails_is_answered_from_the_trigram_index(app, scim, people):
    plans = user_plans(app, lambda: scim.get('Users?filter=emails.value co "johns"&count=10'))
    assert any("dx_user_values_trigram VIRTUAL TABLE" in plan for plan in plans), plans
    assert_no_full_scan(plans)


def test_starts_with_on_family_name_is_an_index_range(app, scim, people):
    plans = user_plans(app, lambda: scim.get('Users?filter=name.familyName sw "Jo"&count=10'))
    assert any("dx_users_tenant_family_lower (tenant_id=? AND <expr>>? AND <expr><?)" in plan
               for plan in plans), plans
    assert_no_full_scan(plans)


@pytest.mark.parametrize("expression,expected", [
    ('emails.value co "johns"', {"jo.johnson@example.com"}),
    ('emails.value co "O.J"', {"jo.johnson@example.com"}),  # folded, as emails are caseExact=false
    ('emails.value co "n@ex"', {"barbara.jensen@example.com", "jo.johnson@example.com"}),
    ('emails.value co "ex"', None),  # shorter than a trigram: the LIKE alone, same answer
    ('name.familyName sw "jo"', {"jo.johnson@example.com", "ann.jones@example.com"}),
    ('name.familyName sw "JOHN"', {"jo.johnson@example.com"}),
])
def test_indexed_searches_find_exactly_what_a_scan_finds(scim, people, expression, expected):
    body = scim.get(f"Users?filter={expression}").get_json()
    found = {r["userName"] for r in body["Resources"]}
    if expected is None:
        expected = set(people)
    assert found == expected
    assert body["totalResults"] == len(expected)
