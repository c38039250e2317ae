"""Whole filters evaluated on plain dict resources (RFC 7644 §3.4.2.2), no database.

The people and expected sets are tests/filtercases.py's, which tests/store/test_filters.py
checks the SQL path against: ``resource_predicate`` must mean what ``store.search`` compiles.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from scimsvc.errors import InvalidFilter
from scimsvc.scim.filters.evaluate import matches_resource, resource_predicate
from scimsvc.scim.filters.tree import parse_filter
from scimsvc.scim.resource import dump_user, load_user
from tests.filtercases import (
    BAD_FILTERS, EVERYONE, GROUP_BAD_FILTERS, GROUP_CASES, GROUP_MEMBERS, GROUP_PEOPLE, group_filter, MORE_CASES, ORACLE_PEOPLE, PEOPLE, RFC_EXAMPLES, UNKNOWN_ATTRIBUTES,
    _oracle_filter,
)
from tests.scimdata import CORE_USER as CORE, ENTERPRISE

LOCATION = "https://scim.example.com/scim/v2/Users/"


def rendered(user_name: str, created: datetime | None = None, **attrs) -> dict:
    """The resource GET /Users/{id} returns for a User created with this body."""
    document, _ = load_user({"schemas": [CORE], "userName": user_name, **attrs})
    created = created or datetime.now(timezone.utc).replace(tzinfo=None)
    scim_id = str(uuid.uuid4())
    user = SimpleNamespace(data=document, created_at=created, updated_at=created,
                           scim_id=scim_id, version=1)
    return dump_user(user, LOCATION + scim_id)


RESOURCES = [rendered(name, **attrs) for name, attrs in PEOPLE.items()]


def matched(text: str, resources=RESOURCES) -> set[str]:
    test = resource_predicate(parse_filter(text))
    return {resource["userName"] for resource in resources if test(resource)}


@pytest.mark.parametrize("text,expected", RFC_EXAMPLES, ids=[t for t, _ in RFC_EXAMPLES])
def test_rfc_7644_example_filters(text, expected):
    assert matched(text) == expected


# tests/test_filters.py's MORE_CASES, as the SQL path answers them.
@pytest.mark.parametrize("text,expected", MORE_CASES, ids=[t for t, _ in MORE_CASES])
def test_filter(text, expected):
    assert matched(text) == expected


GROUP_IDS = {name: str(uuid.uuid4()) for name in GROUP_MEMBERS}


def _with_groups(user_name: str) -> dict:
    resource = rendered(user_name)
    groups = [{"value": GROUP_IDS[name], "$ref": f"https://scim.example.com/scim/v2/Groups/"
               f"{GROUP_IDS[name]}", "display": name, "type": "direct"}
              for name, members in GROUP_MEMBERS.items() if user_name in members]
    return {**resource, "groups": groups} if groups else resource


@pytest.mark.parametrize("text,expected", GROUP_CASES, ids=[t for t, _ in GROUP_CASES])
def test_group_filters_mean_what_the_sql_compiles(text, expected):
    assert matched(group_filter(text, GROUP_IDS), [_with_groups(p) for p in GROUP_PEOPLE]) == expected


@pytest.mark.parametrize("text", GROUP_BAD_FILTERS)
def test_group_filters_the_sql_refuses_are_invalid(text):
    with pytest.raises(InvalidFilter):
        resource_predicate(parse_filter(text))


def test_id_is_exact_and_meta_location_and_version_compare_as_rendered():
    resource = RESOURCES[2]
    scim_id = resource["id"]
    assert matched(f'id eq "{scim_id}"') == {"jsmith"}
    assert matched(f'id eq "{scim_id.upper()}"') == set()
    assert matched(f'id sw "{scim_id[:8]}"') == {"jsmith"}
    assert matched(f'meta.location eq "{resource["meta"]["location"]}"') == {"jsmith"}
    assert matched('meta.version eq "W/\\"1\\""') == EVERYONE


def test_meta_timestamps_compare_as_times_at_the_precision_returned():
    stored = datetime(2026, 11, 28, 10, 52, 9, 97531)  # microseconds, rendered to the millisecond
    resources = [rendered("jsmith", created=stored)]
    created = resources[0]["meta"]["created"]
    assert created == "2026-11-28T10:52:09.097Z"
    for op, expected in [("eq", True), ("ge", True), ("le", True), ("gt", False), ("lt", False),
                         ("ne", False)]:
        assert matched(f'meta.created {op} "{created}"', resources) == ({"jsmith"} if expected else set()), op
    # Between two milliseconds: never equal, and ordered by the instant.
    assert matched('meta.created eq "2026-11-28T10:52:09.0975Z"', resources) == set()
    assert matched('meta.created lt "2026-11-28T10:52:09.0975Z"', resources) == {"jsmith"}
    assert matched('meta.created gt "2026-11-28T10:52:09.0965Z"', resources) == {"jsmith"}
    # The same instant written with another offset is the same time.
    moment = datetime.fromisoformat(created).astimezone(timezone(timedelta(hours=2)))
    assert matched(f'meta.created eq "{moment.isoformat(timespec="milliseconds")}"', resources) \
        == {"jsmith"}


def test_a_filter_of_150_comparisons_works():
    names = [f"nobody{i}" for i in range(149)] + ["bjensen"]
    assert matched(" or ".join(f'userName eq "{name}"' for name in names)) == {"bjensen"}
    nested = " and ".join(f'(userName ne "nobody{i}" or title pr)' for i in range(150))
    assert matched(nested) == EVERYONE


def test_case_insensitive_comparison_folds_non_ascii_letters():
    resources = [rendered("Émile@Example.com", displayName="ÉMILE Zola",
                          name={"givenName": "Émile", "familyName": "Zola"},
                          emails=[{"value": "Émile@Example.com", "type": "Work"}], title="Écrivain")]
    for text in ['userName eq "émile@example.com"', 'displayName eq "émile zola"',
                 'displayName sw "émile"', 'name.givenName eq "ÉMILE"', 'title co "écri"',
                 'emails.value eq "émile@EXAMPLE.com"', 'emails[type eq "WORK"]']:
        assert matched(text, resources) == {"Émile@Example.com"}, text


def test_an_absent_value_fails_every_comparison_so_not_is_the_complement():
    # Unlike PATCH's value filters, where ne holds on an absent sub-attribute.
    resource = rendered("dora")
    for text in ['title ne "x"', 'title eq "x"', 'title co ""', 'emails.display ne "x"',
                 'emails[display ne "x"]', f'{ENTERPRISE}:department ne "x"']:
        tree = parse_filter(text)
        assert not matches_resource(tree, resource), text
        assert matches_resource(parse_filter(f"not ({text})"), resource), text


@pytest.mark.parametrize("text,named", UNKNOWN_ATTRIBUTES, ids=[t for t, _ in UNKNOWN_ATTRIBUTES])
def test_unknown_attribute_is_invalid_filter_naming_it(text, named):
    with pytest.raises(InvalidFilter) as error:
        resource_predicate(parse_filter(text))
    assert named in error.value.detail


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_bad_filter_is_invalid_filter(text):
    with pytest.raises(InvalidFilter):
        resource_predicate(parse_filter(text))


def test_errors_are_raised_before_any_resource_is_seen():
    # As in SQL, a bad comparison behind a false one is still refused.
    with pytest.raises(InvalidFilter):
        resource_predicate(parse_filter('userName eq "nobody" and active gt true'))


# --- Agreement with tests/test_filters.py's direct reading of the RFC (its SQL oracle) ------

def test_evaluation_agrees_with_the_direct_reading_the_sql_is_checked_against():
    resources = [rendered(name, **attrs) for name, attrs in ORACLE_PEOPLE.items()]
    rnd = random.Random(7643)
    for _ in range(300):
        text, predicate = _oracle_filter(rnd)
        assert matched(text, resources) == {r["userName"] for r in resources if predicate(r)}, text
