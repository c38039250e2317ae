"""The filter grammar and tree alone (RFC 7644 §3.4.2.2): precedence, literals, shape cache, errors."""
from __future__ import annotations

import pytest

from scimsvc.errors import InvalidFilter
from scimsvc.scim.filters.tree import And, AttrRef, Comparison, Not, Or, ValueFilter, parse_filter

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def comparison(name, op, value=None, sub=None, uri=None):
    return Comparison(AttrRef(uri, name, sub), op, value)


def test_parser_gives_and_precedence_over_or():
    assert parse_filter('a pr or b pr and c pr') == Or((
        comparison("a", "pr"), And((comparison("b", "pr"), comparison("c", "pr")))))
    assert parse_filter('a pr and b pr or c pr') == Or((
        And((comparison("a", "pr"), comparison("b", "pr"))), comparison("c", "pr")))
    assert parse_filter('not (a pr) and b pr') == And((Not(comparison("a", "pr")),
                                                       comparison("b", "pr")))


def test_parser_reads_json_literals():
    assert parse_filter('a eq "x\\"y\\u00e9"').value == 'x"yé'
    assert parse_filter('a eq 12').value == 12
    assert parse_filter('a eq -1.5e2').value == -150.0
    assert parse_filter('a eq TRUE').value is True
    assert parse_filter('a eq "true"').value == "true"
    assert parse_filter('a eq null').value is None
    # A name that starts like a literal is a name.
    assert parse_filter('nullable pr') == comparison("nullable", "pr")


def test_filters_of_one_shape_keep_their_own_values():
    # Parses are cached by shape (literals taken out); each filter still gets its own values,
    # in order, even when a value looks like another literal or a hole's number.
    assert parse_filter('userName eq "alice"').value == "alice"
    assert parse_filter('userName eq "bob"').value == "bob"
    assert parse_filter('a eq "1" and (b eq "0" or not (c sw "q\\"r"))') == And((
        comparison("a", "eq", "1"),
        Or((comparison("b", "eq", "0"), Not(comparison("c", "sw", 'q"r')))),
    ))
    assert parse_filter('emails[type eq "home" and value co "x"] and a eq 5') == And((
        ValueFilter(comparison("emails", "pr").attr, And((
            comparison("type", "eq", "home"), comparison("value", "co", "x")))),
        comparison("a", "eq", 5),
    ))


@pytest.mark.parametrize("text, detail", [
    ('userName eq "ab', "unexpected character '\"' at position 13"),
    ('userName eq "a\\qb"', 'Invalid string literal "a\\qb" at position 13'),
    ('userName eq "abc" "def"', "def"),
])
def test_filter_errors_name_the_filter_as_written(text, detail):
    with pytest.raises(InvalidFilter) as error:
        parse_filter(text)
    assert detail in str(error.value.detail)


def test_parser_normalises_value_paths():
    tree = parse_filter('emails[type eq "work"].value eq "x"')
    assert tree == ValueFilter(comparison("emails", "pr").attr, And((
        comparison("type", "eq", "work"), comparison("value", "eq", "x"))))
    assert parse_filter(f'{ENTERPRISE}:manager.value eq "m"') == comparison(
        "manager", "eq", "m", sub="value", uri=ENTERPRISE)


def test_parser_flattens_long_chains_without_recursion():
    tree = parse_filter(" or ".join(f'a eq "{i}"' for i in range(2000)))
    assert isinstance(tree, Or) and len(tree.items) == 2000


@pytest.mark.parametrize("text", ["", "a", "a eq", "a eq 'x'", "(a pr", "a pr)", "a pr b pr"])
def test_parser_errors_are_invalid_filter(text):
    with pytest.raises(InvalidFilter):
        parse_filter(text)


@pytest.mark.parametrize("text", [
    'userName eq "\\ud800"', 'userName eq "a\\u0000b"', 'not (' * 60 + 'userName pr' + ')' * 60,
    'emails[type eq "w"][value eq "x"]',
])
def test_literals_and_nesting_the_tree_refuses(text):
    with pytest.raises(InvalidFilter):
        parse_filter(text)


def test_deep_grouping_is_not_nesting():
    assert parse_filter("(" * 200 + 'userName eq "bjensen"' + ")" * 200) == \
        comparison("userName", "eq", "bjensen")
