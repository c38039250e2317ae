"""The marshmallow layer (scimsvc.scim.resource) on its own: what a User body reads into.

RFC 7643 §2.1 (names ignore case), §2.5 (null and empty mean unassigned), §2.2
(readOnly values from a client are ignored) and RFC 7644 §3.3 (unknown attributes
and extensions are ignored); values are kept exactly as sent, Entra's string
booleans excepted. No database: these are pure functions.
"""
from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from scimsvc.errors import InvalidSyntax, InvalidValue
from scimsvc.scim.resource import USER_FIELD, load_attribute, load_document, load_user
from tests.scimdata import CORE_USER as CORE, ENTERPRISE


def test_names_are_canonicalised_whatever_their_case():
    document, password = load_user({
        "USERNAME": "b@x", "name": {"GIVENNAME": "Barbara", "familyname": "Jensen"},
        "Emails": [{"VALUE": "b@x", "Type": "work", "PRIMARY": True}],
        ENTERPRISE.upper(): {"Department": "Tour", "MANAGER": {"Value": "m1"}},
        "PassWord": "secret",
    })
    assert password == "secret"
    assert document == {
        "userName": "b@x", "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "active": True, "emails": [{"value": "b@x", "type": "work", "primary": True}],
        ENTERPRISE: {"department": "Tour", "manager": {"value": "m1"}},
    }


def test_the_document_follows_the_schema_order_not_the_body_order():
    # Stored JSON and responses stay stable whatever order an IdP sends.
    document = load_document({ENTERPRISE: {"department": "D", "employeeNumber": "7"}, "title": "T",
                              "externalId": "e", "userName": "u", "name": {"givenName": "G", "formatted": "F"}})
    assert json.dumps(document) == json.dumps({
        "userName": "u", "name": {"formatted": "F", "givenName": "G"}, "title": "T", "externalId": "e",
        ENTERPRISE: {"employeeNumber": "7", "department": "D"}})


def test_null_and_empty_values_are_unassigned():
    document = load_document({
        "userName": "u", "nickName": None, "name": {"givenName": None}, "emails": [None, {}, {"value": None}],
        "phoneNumbers": [], "addresses": [{"type": "work"}, None], ENTERPRISE: {"manager": {}},
        "title": "",
    })
    # An empty string is a value (only null, {} and [] are unassigned).
    assert document == {"userName": "u", "title": "", "addresses": [{"type": "work"}]}


def test_unknown_readonly_and_unknown_extension_attributes_are_ignored():
    document = load_document({
        "schemas": [CORE], "id": "mine", "meta": {"created": "x"}, "groups": [{"value": "g"}],
        "bogus": 1, "urn:example:ext:1.0:User": {"x": 1}, 7: "non-string key",
        "emails": [{"value": "a@x", "bogus": 2}],
        ENTERPRISE: {"manager": {"value": "m", "displayName": "Boss"}, "bogus": 3},
        "userName": "u",
    })
    assert document == {"userName": "u", "emails": [{"value": "a@x"}], ENTERPRISE: {"manager": {"value": "m"}}}


@pytest.mark.parametrize("sent, read", [
    (True, True), (False, False), ("True", True), (" false ", False), ("TRUE", True),
])
def test_booleans_accept_entras_strings(sent, read):
    assert load_document({"active": sent, "emails": [{"value": "a", "primary": sent}]}) == {
        "active": read, "emails": [{"value": "a", "primary": read}]}


@pytest.mark.parametrize("body, named", [
    ({"userName": 5}, "userName: must be a string"),
    ({"active": "maybe"}, "active: must be a boolean"),
    ({"active": 1}, "active: must be a boolean"),
    ({"name": "Barbara"}, "name: must be a JSON object"),
    ({"name": {"givenName": ["B"]}}, "name.givenName: must be a string"),
    ({"emails": {"value": "a"}}, "emails: must be a JSON array"),
    ({"emails": [None, {"value": "a"}, {"value": 5}]}, "emails[1].value: must be a string"),
    ({"emails": ["a@x"]}, "emails[0]: must be a JSON object"),
    ({"emails": [{"primary": "yes"}]}, "emails[0].primary: must be a boolean"),
    ({ENTERPRISE: {"manager": {"value": 9}}}, f"{ENTERPRISE}.manager.value: must be a string"),
    ({ENTERPRISE: "x"}, f"{ENTERPRISE}: must be a JSON object"),
])
def test_a_wrong_type_is_invalid_value_naming_the_attribute(body, named):
    with pytest.raises(InvalidValue) as error:
        load_document(body)
    assert error.value.detail == "Invalid attribute value: " + named


def test_every_wrong_value_is_reported_at_once():
    with pytest.raises(InvalidValue) as error:
        load_document({"userName": 1, "emails": [{"value": 2}], ENTERPRISE: {"department": 3}})
    assert error.value.detail == ("Invalid attribute value: userName: must be a string, "
                                  f"emails[0].value: must be a string, {ENTERPRISE}.department: must be a string")


def test_load_user_needs_an_object_and_a_user_name():
    with pytest.raises(InvalidSyntax):
        load_user(["userName", "u"])
    for body in ({}, {"userName": "  "}, {"userName": None}):
        with pytest.raises(InvalidValue):
            load_user(body)
    assert load_user({"userName": "u", "active": "False"})[0]["active"] is False


def test_the_document_shares_no_container_with_the_body():
    body = {"userName": "u", "emails": [{"value": "a"}], "name": {"givenName": "G"}}
    document = load_document(body)
    document["emails"][0]["value"] = "changed"
    document["name"]["givenName"] = "changed"
    assert body == {"userName": "u", "emails": [{"value": "a"}], "name": {"givenName": "G"}}


def test_load_attribute_reads_one_attribute_as_the_document_would():
    assert load_attribute(None, "active", "True") is True
    assert load_attribute(None, "emails", [None, {"VALUE": "a"}, {}]) == [{"value": "a"}]
    assert load_attribute(ENTERPRISE, "manager", {"value": "m", "displayName": "Boss"}) == {"value": "m"}
    for unassigned in (None, [], {}, [None], [{}]):
        assert load_attribute(None, "emails" if isinstance(unassigned, list) else "name", unassigned) is None
    with pytest.raises(InvalidValue) as error:
        load_attribute(ENTERPRISE, "department", 5)
    assert error.value.detail == f"Invalid attribute value: {ENTERPRISE}.department: must be a string"


def test_the_fields_are_marshmallow_fields():
    # Anything that drives them the marshmallow way (deserialize) gets the same reading.
    assert USER_FIELD.deserialize({"username": "u", "ACTIVE": "true"}) == {"userName": "u", "active": True}
    with pytest.raises(ValidationError) as error:
        USER_FIELD.deserialize({"emails": [{"value": 1}]})
    assert error.value.messages == {"emails": {0: {"value": ["must be a string"]}}}
