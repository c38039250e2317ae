"""Attribute selection (scimsvc.scim.projection) on one rendered resource, without a database.

RFC 7644 §3.4.2.5 / §3.9: ``attributes`` replaces the default set, ``excludedAttributes``
removes from it; ``schemas`` and ``id`` always come back. The selection never edits
the resource it is given: that resource shares its values with the stored document.
"""
from __future__ import annotations

import copy

import pytest

from scimsvc.scim.projection import DEFAULT, parse_selection, project, selection_from_args
from tests.scimdata import CORE_USER as CORE, ENTERPRISE


def resource() -> dict:
    return {
        "schemas": [CORE, ENTERPRISE], "id": "u1", "userName": "b@x",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@x", "type": "work", "primary": True}, {"value": "h@x", "type": "home"}],
        "x509Certificates": [{"value": "cert"}, {"display": "only a display"}],
        ENTERPRISE: {"department": "Tours", "manager": {"value": "m1"}},
        "meta": {"resourceType": "User", "location": "https://x/Users/u1"},
    }


@pytest.mark.parametrize("args, expected", [
    ({"excludedAttributes": "emails.type,name.givenName"}, {
        "schemas": [CORE, ENTERPRISE], "id": "u1", "userName": "b@x", "name": {"familyName": "Jensen"},
        "emails": [{"value": "b@x", "primary": True}, {"value": "h@x"}],
        "x509Certificates": [{"value": "cert"}, {"display": "only a display"}],
        ENTERPRISE: {"department": "Tours", "manager": {"value": "m1"}},
        "meta": {"resourceType": "User", "location": "https://x/Users/u1"}}),
    ({"excludedAttributes": f"x509Certificates.display,{ENTERPRISE}:department,{ENTERPRISE}:manager.value,id"}, {
        "schemas": [CORE, ENTERPRISE], "id": "u1", "userName": "b@x",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@x", "type": "work", "primary": True}, {"value": "h@x", "type": "home"}],
        "x509Certificates": [{"value": "cert"}],
        "meta": {"resourceType": "User", "location": "https://x/Users/u1"}}),
    ({"excludedAttributes": f"{ENTERPRISE},emails,name"}, {
        "schemas": [CORE, ENTERPRISE], "id": "u1", "userName": "b@x",
        "x509Certificates": [{"value": "cert"}, {"display": "only a display"}],
        "meta": {"resourceType": "User", "location": "https://x/Users/u1"}}),
    ({"attributes": f"emails.value,NAME.givenName,{ENTERPRISE}:manager.value,password,bogus"}, {
        "schemas": [CORE, ENTERPRISE], "id": "u1", "name": {"givenName": "Barbara"},
        "emails": [{"value": "b@x"}, {"value": "h@x"}], ENTERPRISE: {"manager": {"value": "m1"}}}),
    ({"attributes": f"{ENTERPRISE},{ENTERPRISE}:department,emails,emails.type"}, {
        "schemas": [CORE, ENTERPRISE], "id": "u1",
        "emails": [{"value": "b@x", "type": "work", "primary": True}, {"value": "h@x", "type": "home"}],
        ENTERPRISE: {"department": "Tours", "manager": {"value": "m1"}}}),
])
def test_selection_result_and_the_resource_is_left_alone(args, expected):
    given = resource()
    before = copy.deepcopy(given)
    assert project(given, selection_from_args(args)) == expected
    assert given == before


def test_no_parameter_is_the_default_selection_and_returns_the_resource_itself():
    given = resource()
    assert selection_from_args({}) is DEFAULT
    assert project(given, selection_from_args({"unrelated": "1"})) is given
    assert parse_selection(None, None) is DEFAULT
