"""PATCH (RFC 7644 §3.5.2) run through the engine alone, on plain documents.

The tables of tests/patchcases.py (also run through the API in tests/api/test_patch.py) (the RFC's examples, each error with its scimType,
the IdP quirks of issue 4), without the API or a database: the stored document is
read from a body by ``load_user`` and the patched one through ``load_document``,
as the users service does.
"""
from __future__ import annotations

import copy
import time

import pytest

from scimsvc.errors import ScimsvcError
from scimsvc.scim.patch.engine import apply_patch
from scimsvc.scim.resource import load_document, load_user, schemas_of
from tests.patchcases import BABS, ERRORS, NOT_PATCHOP, QUIRKS, RFC_EXAMPLES, VALUE_CHECKS
from tests.scimdata import CORE_USER as USER, ENTERPRISE, PATCH_OP



def document(user_name: str = "bjensen@example.com", **attrs) -> dict:
    """The stored document of a User created with this body (what POST stores)."""
    stored, _ = load_user({"schemas": [USER], "userName": user_name, **attrs})
    return stored


def babs() -> dict:
    """RFC 7643 §8.2's full user (abridged), as stored."""
    return document("bjensen@example.com", **BABS)


def body(*operations) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patched(stored: dict, *operations) -> dict:
    """The document as the service would store it after the PATCH, with its ``schemas``."""
    result = apply_patch(stored, body(*operations))
    out = load_document(result.document)
    return {"schemas": schemas_of(out), **out}


def failure(stored: dict, *operations) -> ScimsvcError:
    before = copy.deepcopy(stored)
    with pytest.raises(ScimsvcError) as raised:
        apply_patch(stored, body(*operations))
    assert stored == before
    return raised.value


# --- The RFC 7644 §3.5.2 examples -----------------------------------------------------------

@pytest.mark.parametrize("operations, check", [(ops, check) for _, ops, check in RFC_EXAMPLES],
                         ids=[name for name, _, _ in RFC_EXAMPLES])
def test_rfc_patch_examples(operations, check):
    result = patched(babs(), *operations)
    assert check(result), result
    assert result["userName"] == "bjensen@example.com"


def test_password_is_handed_back_beside_the_document():
    result = apply_patch(babs(), body({"op": "replace", "path": "password", "value": "n3w-Secret"}))
    assert result.password == "n3w-Secret" and "password" not in result.document
    assert not result.password_removed
    result = apply_patch(babs(), body({"op": "remove", "path": "password"}))
    assert result.password is None and result.password_removed


# --- Errors (RFC 7644 §3.5.2, §3.12) ----------------------------------------------------------

# empty_username is refused by the users service (userName is required), not by the engine.
ENGINE_ERRORS = [e for e in ERRORS if e[0] != "empty_username"]


@pytest.mark.parametrize("operations, status, scim_type", [e[1:] for e in ENGINE_ERRORS],
                         ids=[e[0] for e in ENGINE_ERRORS])
def test_patch_errors_change_nothing(operations, status, scim_type):
    error = failure(babs(), *operations)
    assert (error.status, error.scim_type) == (status, scim_type), error.detail
    assert error.detail.startswith("Operations[0]")


@pytest.mark.parametrize("operation, named", VALUE_CHECKS)
def test_each_operation_value_is_checked_and_the_error_names_the_attribute(operation, named):
    error = failure(babs(), {"op": "replace", "path": "nickName", "value": "Changed"}, operation)
    assert error.scim_type == "invalidValue"
    assert error.detail.startswith("Operations[1] (")
    assert error.detail.endswith("Invalid attribute value: " + named)


@pytest.mark.parametrize("message", [m for _, m in NOT_PATCHOP], ids=[n for n, _ in NOT_PATCHOP])
def test_body_that_is_not_a_patchop_is_invalid_syntax(message):
    with pytest.raises(ScimsvcError) as raised:
        apply_patch(document(), message)
    assert raised.value.scim_type == "invalidSyntax"


def test_a_path_sent_again_resolves_and_fails_the_same_way():
    # Resolved paths are cached: a good path must keep its filter, a bad one must keep failing
    # with the same detail (not one prefixed once per earlier request).
    stored = babs()
    for _ in range(2):
        error = failure(stored, {"op": "remove", "path": 'emails[type eq "nope"]'})
        assert error.detail == \
            "Operations[0] (remove emails[type eq \"nope\"]): No value matches 'emails[type eq \"nope\"]'."
        error = failure(stored, {"op": "replace", "path": "emails[type eq ]", "value": "x"})
        assert error.scim_type == "invalidFilter"
        assert error.detail.count("Operations[0]") == 1
    stored = patched(stored, {"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@x"})
    assert stored["emails"][1] == {"value": "h@x", "type": "home"}
    stored = patched(stored, {"op": "replace", "path": 'emails[type eq "home"].value', "value": "i@x"})
    assert stored["emails"][1] == {"value": "i@x", "type": "home"}


@pytest.mark.parametrize("path, detail", [
    ('emails[colour eq "red"]', "Unknown attribute 'colour' in the emails filter."),
    ('emails[phoneNumbers.type eq "work"]', "Unknown attribute 'phoneNumbers.type' in the emails filter."),
    (f'emails[{ENTERPRISE}:type eq "work"]', f"Unknown attribute '{ENTERPRISE}:type' in the emails filter."),
    ('emails[type[value eq "x"]]', "A value filter cannot contain another (type[...])."),
    ("emails[primary gt true]", "'gt' cannot compare the boolean or null 'primary'."),
    ('emails[value lt null]', "'lt' cannot compare the boolean or null 'value'."),
    ('emails[value ge false]', "'ge' cannot compare the boolean or null 'value'."),
])
def test_value_filter_resolution_errors_name_what_is_wrong(path, detail):
    error = failure(babs(), {"op": "remove", "path": path})
    assert error.scim_type == "invalidFilter"
    assert error.detail == f"Operations[0] (remove {path}): {detail}"


def test_operations_are_atomic_a_late_failure_undoes_the_earlier_ones():
    error = failure(babs(),
                    {"op": "replace", "path": "nickName", "value": "Changed"},
                    {"op": "remove", "path": "emails"},
                    {"op": "remove", "path": 'phoneNumbers[type eq "fax"]'})
    assert error.scim_type == "noTarget" and "Operations[2]" in error.detail


def test_add_of_an_identical_value_does_not_repeat_it():
    stored = babs()
    result = patched(stored, {"op": "add", "path": "emails",
                              "value": [{"Value": "babs@jensen.org", "type": "home"}]})
    assert result["emails"] == stored["emails"]


def test_engine_is_pure_and_leaves_its_input_alone():
    stored = {"userName": "b", "emails": [{"value": "a@x", "type": "work", "primary": True}],
              ENTERPRISE: {"manager": {"value": "m"}}}
    before = copy.deepcopy(stored)
    result = apply_patch(stored, body(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@x"},
        {"op": "remove", "path": f"{ENTERPRISE}:manager"},
        {"op": "add", "path": "emails", "value": [{"value": "c@x", "primary": True}]},
    ))
    assert stored == before
    assert result.document["emails"] == [{"value": "b@x", "type": "work", "primary": False},
                                         {"value": "c@x", "primary": True}]


# --- Value filters, as PATCH has always evaluated them --------------------------------------

@pytest.mark.parametrize("path, removed", [
    # ne holds for a value without the sub-attribute (unlike ?filter=, where absent never matches).
    ('emails[display ne "x"]', ["bjensen@example.com", "babs@jensen.org"]),
    ('emails[primary ne true]', ["babs@jensen.org"]),
    ('emails[type eq "WORK"]', ["bjensen@example.com"]),  # type: caseExact false
    ('emails[primary eq "True"]', ["bjensen@example.com"]),  # a boolean given as a string
    ('emails[primary eq "true"]', ["bjensen@example.com"]),
    ('emails[primary pr]', ["bjensen@example.com"]),
    ('emails[display pr]', []),
    ('emails[value gt "c"]', []),
    ('emails[value gt "bjensen@example.com"]', []),
    ('emails[value ge "bjensen@example.com"]', ["bjensen@example.com"]),
    ('emails[value lt "BJ"]', ["babs@jensen.org"]),  # folded: value is caseExact false
    ('emails[value lt 5]', []),  # ordering of mismatched types is false
    ('emails[value co 5]', []),
    ('emails[not (primary eq true) and not (type eq "work")]', ["babs@jensen.org"]),
    ('emails[type eq "home" or value sw "BJ"]', ["bjensen@example.com", "babs@jensen.org"]),
    ('emails[emails.type eq "home"]', ["babs@jensen.org"]),  # the parent's name may qualify
    (f'emails[{USER}:type eq "home"]', ["babs@jensen.org"]),
])
def test_value_filters_select_what_patch_always_selected(path, removed):
    stored = babs()
    emails = [e["value"] for e in stored["emails"]]
    if not removed:
        assert failure(stored, {"op": "remove", "path": path}).scim_type == "noTarget"
        return
    result = patched(stored, {"op": "remove", "path": path})
    assert [e["value"] for e in result.get("emails", [])] == [e for e in emails if e not in removed]


@pytest.mark.parametrize("path, created", [
    ('emails[type eq "other"].value', {"type": "other", "value": "n@x"}),
    ('emails[type eq "other" and display eq "D"].value', {"type": "other", "display": "D", "value": "n@x"}),
    ('emails[type eq "other" and (display eq "D")].value', {"type": "other", "display": "D", "value": "n@x"}),
])
def test_an_eq_only_filter_that_matches_nothing_creates_the_value_it_pins(path, created):
    result = patched(babs(), {"op": "add", "path": path, "value": "n@x"})
    assert result["emails"][-1] == created


@pytest.mark.parametrize("path", [
    'emails[type eq "other" or type eq "x"].value', 'emails[not (type eq "work")].value',
    'emails[type ne "work" and type eq "other"].value', 'emails[type eq null].value',
    'emails[value co "zz"].value',
])
def test_a_filter_that_pins_nothing_is_still_no_target(path):
    stored = document(emails=[{"value": "a@x", "type": "work"}])
    assert failure(stored, {"op": "add", "path": path, "value": "n@x"}).scim_type == "noTarget"


# --- IdP quirks (issue 4), narrow -------------------------------------------------------------

@pytest.mark.parametrize("operations, check", [(ops, check) for _, ops, check in QUIRKS],
                         ids=[name for name, _, _ in QUIRKS])
def test_idp_quirks(operations, check):
    result = patched(babs(), *operations)
    assert check(result), result


def test_enterprise_extension_added_to_a_user_without_it():
    result = patched(document(), {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Ops"})
    assert result[ENTERPRISE] == {"department": "Ops"}
    assert result["schemas"] == [USER, ENTERPRISE]


def test_quirks_stay_narrow_a_filter_that_pins_nothing_is_still_no_target():
    error = failure(babs(), {"op": "replace", "path": 'emails[value co "nomatch"].value', "value": "a@b.c"})
    assert error.scim_type == "noTarget"


# --- Linear in the attribute's size (issue 15) ------------------------------------------------

def _many_emails(n: int) -> dict:
    return document(emails=[{"value": f"a{i}@example.com", "type": "work"} for i in range(n)])


def _ops(*operations) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


@pytest.mark.parametrize("operation", [
    {"op": "remove", "path": 'emails[value sw "a"]'},
    {"op": "add", "path": "emails", "value": [{"value": f"b{i}@example.com"} for i in range(20_000)]},
    {"op": "remove", "path": "emails", "value": [{"value": f"a{i}@example.com"} for i in range(20_000)]},
], ids=["remove-filtered", "add-many", "remove-listed"])
def test_patch_of_20000_values_is_linear(operation):
    doc = _many_emails(20_000)
    started = time.perf_counter()
    result = apply_patch(doc, _ops(operation)).document
    assert time.perf_counter() - started < 3  # was minutes: O(n·m) comparisons
    expected = 40_000 if operation["op"] == "add" else 0
    assert len(result.get("emails", [])) == expected


def test_add_keeps_only_values_not_already_there_and_repeats_within_the_request():
    doc = document(emails=[{"value": "a@x", "type": "work"}, {"value": "b@x", "primary": True}])
    added = [{"type": "work", "value": "a@x"}, {"value": "b@x", "primary": True},
             {"value": "c@x"}, {"value": "c@x"}, {"value": "b@x"}]
    result = apply_patch(doc, _ops({"op": "add", "path": "emails", "value": added})).document
    assert [e["value"] for e in result["emails"]] == ["a@x", "b@x", "c@x", "c@x", "b@x"]


def test_remove_listed_values_ignores_primary_and_matches_other_sub_attributes():
    doc = document(emails=[{"value": "a@x", "type": "work"}, {"value": "a@x", "type": "home"},
                           {"value": "b@x", "primary": True}, {"value": "c@x"}])
    listed = [{"value": "a@x", "type": "home"}, {"value": "b@x", "primary": False}]
    result = apply_patch(doc, _ops({"op": "remove", "path": "emails", "value": listed})).document
    assert result["emails"] == [{"value": "a@x", "type": "work"}, {"value": "c@x"}]


def test_a_filter_literal_is_folded_once_not_once_per_value(monkeypatch):
    # remove emails[value eq "<900 KB>"] on 1,000 emails lowercased the literal 1,000 times
    # (~0.9 GB of str.lower, under the write lock); it is folded when the filter is compiled.
    from scimsvc.scim.filters import evaluate
    literal = "X" * 900_000
    folds = []
    real_fold = evaluate.fold
    monkeypatch.setattr(evaluate, "fold", lambda value: folds.append(len(value)) or real_fold(value))
    doc = _many_emails(1_000)
    doc["emails"].append({"value": literal.lower(), "type": "work"})
    result = apply_patch(doc, _ops({"op": "remove", "path": f'emails[value eq "{literal}"]'})).document
    assert len(result["emails"]) == 1_000 and all(e["value"] != literal.lower() for e in result["emails"])
    assert folds.count(len(literal)) == 2  # the literal once, the one matching value once
