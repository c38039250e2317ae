"""SCIM filters compiled to SQL (RFC 7644 §3.4.2.2), against a real SQLite file.

Users are created through the API; every filter goes through GET /Users. The first
table holds every example filter of RFC 7644 §3.4.2.2 (Figure 2 and the text).
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from scimsvc.errors import InvalidFilter
from scimsvc.extensions import db
from scimsvc.scim.filters import And, Comparison, Not, Or, ValueFilter, parse_filter
from tests.conftest import make_user
from tests.sqltrace import is_select, query_plan, sqlite_statements

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
MANAGER_ID = "26118915-6090-4610-87e4-49d8ca9f808d"

PEOPLE = {
    "bjensen": dict(
        externalId="bjensen-ext",
        name={"familyName": "Jensen", "givenName": "Barbara", "formatted": "Ms. Barbara J Jensen"},
        title="Tour Guide", userType="Employee", nickName="Babs",
        emails=[{"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"}],
        ims=[{"value": "bjensen@foo.com", "type": "xmpp"}],
        addresses=[{"type": "work", "streetAddress": "100 Universal City Plaza",
                    "locality": "Hollywood", "postalCode": "91608", "country": "US"}],
        **{ENTERPRISE: {"department": "Tour Operations", "employeeNumber": "701984",
                        "manager": {"value": MANAGER_ID}}},
    ),
    "Jomalley@Example.com": dict(
        name={"familyName": "O'Malley", "givenName": "Jo"}, userType="Intern",
        emails=[{"value": "jo@example.org", "type": "work"}],
    ),
    "jsmith": dict(
        title="", userType="Contractor", nickName="js/x",
        emails=[{"value": "JSmith@Example.COM", "type": "home"}],
        ims=[{"value": "js@foo.com", "type": "xmpp"}],
    ),
    "alice_100%": dict(userType="Contractor", nickName="a%b_c", active=False),
}
EVERYONE = set(PEOPLE)


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


RFC_EXAMPLES = [
    ('userName eq "bjensen"', {"bjensen"}),
    ('name.familyName co "O\'Malley"', {"Jomalley@Example.com"}),
    ('userName sw "J"', {"Jomalley@Example.com", "jsmith"}),
    (f'{CORE}:userName sw "J"', {"Jomalley@Example.com", "jsmith"}),
    ('title pr', {"bjensen"}),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', EVERYONE),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', EVERYONE),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', set()),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', set()),
    ('title pr and userType eq "Employee"', {"bjensen"}),
    ('title pr or userType eq "Intern"', {"bjensen", "Jomalley@Example.com"}),
    (f'schemas eq "{ENTERPRISE}"', {"bjensen"}),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
     {"bjensen"}),
    ('userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
     {"alice_100%"}),
    ('userType eq "Employee" and (emails.type eq "work")', {"bjensen"}),
    ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
     {"bjensen"}),
    ('emails[type eq "work" and value co "@example.com"] or '
     'ims[type eq "xmpp" and value co "@foo.com"]', {"bjensen", "jsmith"}),
]


@pytest.mark.parametrize("text,expected", RFC_EXAMPLES, ids=[t for t, _ in RFC_EXAMPLES])
def test_rfc_7644_example_filters(scim, people, text, expected):
    assert matched(scim, text) == expected


MORE_CASES = [
    # "and" binds tighter than "or" (RFC 7644 §3.4.2.2); the parser's stock table gets it wrong.
    ('userName eq "jsmith" or userName eq "bjensen" and active eq false', {"jsmith"}),
    ('active eq false and userName eq "bjensen" or userName eq "jsmith"', {"jsmith"}),
    ('(userName eq "jsmith" or userName eq "bjensen") and active eq true', {"jsmith", "bjensen"}),
    ('not (userName eq "jsmith") and not (userName eq "bjensen")',
     {"Jomalley@Example.com", "alice_100%"}),
    ('not (not (userName eq "jsmith"))', {"jsmith"}),
    # Attribute names and operators ignore case; userName's values too (caseExact false).
    ('USERNAME EQ "BJENSEN"', {"bjensen"}),
    ('Name.FamilyName Co "JEN"', {"bjensen"}),
    ('userName eq "jomalley@example.COM"', {"Jomalley@Example.com"}),
    ('emails.value eq "jsmith@example.com"', {"jsmith"}),
    ('emails eq "BJENSEN@example.com"', {"bjensen"}),
    # id and externalId are caseExact.
    ('externalId eq "bjensen-ext"', {"bjensen"}),
    ('externalId eq "BJENSEN-EXT"', set()),
    ('externalId sw "BJ"', set()),
    ('externalId co "SEN"', set()),
    ('externalId ew "EXT"', set()),
    ('externalId ew "-ext"', {"bjensen"}),
    # % and _ (and the escape character) match literally.
    ('userName co "%"', {"alice_100%"}),
    ('userName co "_"', {"alice_100%"}),
    ('userName co "e%1"', set()),
    ('userName sw "alice_1"', {"alice_100%"}),
    ('userName ew "0%"', {"alice_100%"}),
    ('nickName co "a%b"', {"alice_100%"}),
    ('nickName ew "_c"', {"alice_100%"}),
    ('nickName co "/"', {"jsmith"}),
    ('nickName co "s/x"', {"jsmith"}),
    # pr: absent and empty are both "not present"; not (pr) is their complement.
    ('title pr', {"bjensen"}),
    ('not (title pr)', {"Jomalley@Example.com", "jsmith", "alice_100%"}),
    ('title eq null', {"Jomalley@Example.com", "jsmith", "alice_100%"}),
    ('emails pr', {"bjensen", "Jomalley@Example.com", "jsmith"}),
    ('not (emails pr)', {"alice_100%"}),
    ('phoneNumbers pr', set()),
    ('name pr', {"bjensen", "Jomalley@Example.com"}),
    ('externalId pr', {"bjensen"}),
    # An absent value matches no comparison; "not" gives the exact complement.
    ('title ne "Tour Guide"', {"jsmith"}),
    ('not (title eq "Tour Guide")', {"Jomalley@Example.com", "jsmith", "alice_100%"}),
    ('not (nickName co "b")', {"Jomalley@Example.com", "jsmith"}),
    # Ordering of strings (folded) and booleans.
    ('userName gt "j"', {"Jomalley@Example.com", "jsmith"}),
    ('userName lt "b"', {"alice_100%"}),
    ('userName ge "jsmith"', {"jsmith"}),
    ('userName le "BJENSEN"', {"bjensen", "alice_100%"}),
    ('active eq true', {"bjensen", "Jomalley@Example.com", "jsmith"}),
    ('active ne true', {"alice_100%"}),
    ('active eq False', {"alice_100%"}),
    # Enterprise extension, URN-qualified, also sub-attributes (manager.value).
    (f'{ENTERPRISE}:department eq "tour operations"', {"bjensen"}),
    (f'{ENTERPRISE.upper()}:Department sw "Tour"', {"bjensen"}),
    (f'{ENTERPRISE}:manager.value eq "{MANAGER_ID}"', {"bjensen"}),
    (f'{ENTERPRISE}:employeeNumber pr', {"bjensen"}),
    (f'{ENTERPRISE}:manager pr', {"bjensen"}),
    (f'schemas eq "{CORE}"', EVERYONE),
    # Value paths and sub-attributes of multi-valued attributes.
    ('emails[type eq "work"].value ew "example.org"', {"Jomalley@Example.com"}),
    ('emails[type eq "work"].value eq "babs@jensen.org"', set()),  # same value, not any value
    ('emails[not (type eq "work")]', {"bjensen", "jsmith"}),
    ('emails[primary eq true]', {"bjensen"}),
    ('emails[type eq "HOME" and value co "jensen"]', {"bjensen"}),
    ('emails[type eq "home"] and not (emails[type eq "work"])', {"jsmith"}),
    ('addresses[type eq "work" and postalCode eq "91608"]', {"bjensen"}),
    ('addresses.locality eq "hollywood"', {"bjensen"}),
    ('name[givenName eq "barbara" and familyName sw "j"]', {"bjensen"}),
    ('name.formatted co "Barbara J"', {"bjensen"}),
    # meta and the attributes the service computes.
    ('meta.resourceType eq "User"', EVERYONE),
    ('meta.resourceType eq "Group"', set()),
    ('meta.created lt "2999-01-01T00:00:00+02:00"', EVERYONE),
    # groups is a schema attribute the service never stores: valid, matches nothing.
    ('groups pr', set()),
    ('groups.value eq "x"', set()),
    ('not (groups pr)', EVERYONE),
]


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


UNKNOWN_ATTRIBUTES = [
    ('bogus eq "x"', "bogus"),
    ('userName eq "x" and bogus pr', "bogus"),
    ('userName eq "x" or bogus pr', "bogus"),
    ('not (bogus pr)', "bogus"),
    ('emails[bogus eq "x"]', "bogus"),
    ('emails.bogus eq "x"', "emails.bogus"),
    ('name.bogus eq "x"', "name.bogus"),
    (f'{ENTERPRISE}:bogus eq "x"', "bogus"),
    ('urn:example:unknown:2.0:User:department eq "x"', "department"),
    ('bogus[type eq "x"]', "bogus"),
    ('password eq "secret"', "password"),
]


@pytest.mark.parametrize("text,named", UNKNOWN_ATTRIBUTES, ids=[t for t, _ in UNKNOWN_ATTRIBUTES])
def test_unknown_attribute_is_invalid_filter_naming_it(scim, people, text, named):
    assert named in invalid(scim, text)["detail"]


BAD_FILTERS = [
    'userName eq', 'userName eq "x', 'userName xx "x"', 'userName regex "x"',
    '(userName eq "x"', 'userName eq "x")', 'userName eq "x" and', 'and userName eq "x"',
    'not userName eq "x"', "userName eq 'x'", 'userName eq "x" ~', 'emails[type eq "work"',
    'emails[type eq "w"][value eq "x"]', 'emails[type eq "w" and ims[type pr]]',
    'userName eq "a\\qb"', 'userName eq "x"\nor title pr',
    'userName eq "\\ud800"', 'userName eq "a\\u0000b"',
    # RFC 7644 §3.4.2.2: gt/ge/lt/le on booleans (and binary) are invalidFilter.
    'active gt true', 'emails[primary lt true]', 'x509Certificates.value ge "MII"',
    # Complex attributes need a sub-attribute; values must fit the attribute's type.
    'name eq "Barbara"', 'name gt "a"', f'{ENTERPRISE}:manager eq "x"',
    'active co "t"', 'active eq "yes"', 'userName eq 12', 'userName eq true',
    'meta.created gt "yesterday"', 'meta.created co "2011"', 'meta.lastModified eq 5',
    'userName gt null', 'userName[value eq "x"]', 'schemas eq 1',
    'not (' * 60 + 'userName pr' + ')' * 60,
]


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_bad_filter_is_invalid_filter(scim, people, text):
    invalid(scim, text)


def test_deeply_grouped_filter_is_fine(scim, people):
    assert matched(scim, "(" * 200 + 'userName eq "bjensen"' + ")" * 200) == {"bjensen"}


def test_invalid_filter_in_search_request_too(scim, people):
    response = scim.post("Users/.search", json={"filter": 'bogus eq "x"'})
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidFilter"


# --- The parser alone ---------------------------------------------------------


def comparison(name, op, value=None, sub=None, uri=None):
    from scimsvc.scim.filters import AttrRef

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
     "USING INDEX ix_users_tenant_external_id (tenant_id=? AND external_id=?)"),
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

ORACLE_PEOPLE = {
    "Ann@Example.com": dict(displayName="Ann Ö", title="", nickName="a_%",
                            name={"familyName": "Österberg", "givenName": "Ann"},
                            emails=[{"value": "Ann@Example.com", "type": "work", "primary": True},
                                    {"value": "ann@home.org", "type": "home"}],
                            **{ENTERPRISE: {"department": "R&D"}}),
    "bob": dict(title="Boss", name={"familyName": "bob"}, active=False,
                emails=[{"value": "BOB@example.com", "type": "Work"}]),
    "carl_1": dict(displayName="", nickName="Carl", externalId="C-1",
                   emails=[{"value": "c@x.org"}], **{ENTERPRISE: {"department": "r&d",
                                                                "manager": {"value": "M"}}}),
    "dora": dict(),
}
ORACLE_STRINGS = ["userName", "displayName", "title", "nickName", "name.familyName",
                  "name.givenName", "externalId", f"{ENTERPRISE}:department",
                  f"{ENTERPRISE}:manager.value", "emails.value", "emails.type", "emails"]
ORACLE_VALUES = ["ann@example.com", "ANN", "a", "b", "Ö", "ö", "", "_", "%", "r&d", "R&D", "C-1",
                 "c-1", "work", "m", "boss", "org", "Carl", "zz"]
STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]


def _values_of(resource, path):
    """The values a (dotted, possibly URN-qualified) path names in a returned resource."""
    if path.startswith(ENTERPRISE + ":"):
        resource, path = resource.get(ENTERPRISE, {}), path[len(ENTERPRISE) + 1:]
    name, _, sub = path.partition(".")
    value = resource.get(name)
    if isinstance(value, list):
        return [item.get(sub or "value") for item in value]
    if isinstance(value, dict):
        return [value.get(sub)]
    return [value]


def _holds(value, op, operand, exact):
    if op == "pr":
        return value is not None and value != ""
    if value is None:
        return False
    if isinstance(value, bool):
        return (value == operand) if op == "eq" else (value != operand)
    if not exact:
        value, operand = value.lower(), operand.lower()
    return {"eq": value == operand, "ne": value != operand, "co": operand in value,
            "sw": value.startswith(operand), "ew": value.endswith(operand),
            "gt": value > operand, "ge": value >= operand, "lt": value < operand,
            "le": value <= operand}[op]


def _oracle_filter(rnd, depth=0):
    roll = rnd.random()
    if depth < 3 and roll < 0.25:
        join = rnd.choice(["and", "or"])
        left, right = _oracle_filter(rnd, depth + 1), _oracle_filter(rnd, depth + 1)
        return (f"({left[0]}) {join} ({right[0]})",
                (lambda r, a=left[1], b=right[1], j=join: a(r) and b(r) if j == "and"
                 else a(r) or b(r)))
    if depth < 3 and roll < 0.35:
        inner = _oracle_filter(rnd, depth + 1)
        return f"not ({inner[0]})", (lambda r, f=inner[1]: not f(r))
    if roll < 0.45:
        kind, op = rnd.choice(["work", "home"]), rnd.choice(["co", "sw", "eq"])
        operand = rnd.choice(ORACLE_VALUES)
        text = f'emails[type eq "{kind}" and value {op} "{operand}"]'

        def same_item(r, kind=kind, op=op, operand=operand):
            return any(_holds(item.get("type"), "eq", kind, False)
                       and _holds(item.get("value"), op, operand, False)
                       for item in r.get("emails", []))
        return text, same_item
    if roll < 0.5:
        operand = rnd.choice([True, False])
        op = rnd.choice(["eq", "ne"])
        return (f"active {op} {str(operand).lower()}",
                lambda r, op=op, v=operand: _holds(r["active"], op, v, True))
    path, op = rnd.choice(ORACLE_STRINGS), rnd.choice(STRING_OPS)
    operand = rnd.choice(ORACLE_VALUES)
    exact = path == "externalId"
    text = f"{path} pr" if op == "pr" else f'{path} {op} "{operand}"'
    return text, (lambda r, p=path, o=op, v=operand, e=exact:
                  any(_holds(value, o, v, e) for value in _values_of(r, p)))


def test_sql_filters_agree_with_evaluating_the_rfc_semantics_in_python(scim):
    resources = [make_user(scim, name, **attrs) for name, attrs in ORACLE_PEOPLE.items()]
    rnd = random.Random(7643)
    for _ in range(300):
        text, predicate = _oracle_filter(rnd)
        expected = {r["userName"] for r in resources if predicate(r)}
        assert matched(scim, text) == expected, text
