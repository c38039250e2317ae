"""The filter tables (RFC 7644 §3.4.2.2): sample people, filters with the users each must match,
the invalid ones, and a direct Python reading of the RFC to check generated filters against.
Run in SQL through the API (tests/store) and on plain resources (tests/scim).
"""
from __future__ import annotations

from tests.scimdata import CORE_USER as CORE, ENTERPRISE, MANAGER_ID

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
    # These people are in no group (tests/api/test_groups.py filters members).
    ('groups pr', set()),
    ('groups.value eq "x"', set()),
    ('not (groups pr)', EVERYONE),
]


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


# Filters on the users' IdP groups: tests/api/test_groups.py runs them through the SQL, with
# real groups, tests/scim/test_filter_evaluate.py through the evaluator, on rendered users.
# ``{Engineering}`` stands for that group's id.
GROUP_PEOPLE = ("ann", "bob", "cat", "dan")
GROUP_MEMBERS = {"Engineering": ("ann", "bob"), "Sales": ("bob", "cat")}
GROUP_CASES = [
    ('groups.value eq "{Engineering}"', {"ann", "bob"}),
    ('groups eq "{Engineering}"', {"ann", "bob"}),
    ('groups[value eq "{Engineering}"]', {"ann", "bob"}),
    ('groups.display eq "engineering"', {"ann", "bob"}),
    ('groups[display eq "SALES" and not (value eq "x")]', {"bob", "cat"}),
    ('groups[display eq "Sales" and value eq "{Engineering}"]', set()),
    ('groups.value ne "{Engineering}"', {"bob", "cat"}),
    ('groups.display ne "sales"', {"ann", "bob"}),
    ('groups pr', {"ann", "bob", "cat"}),
    ('groups.display pr', {"ann", "bob", "cat"}),
    ('not (groups pr)', {"dan"}),
    ('not (groups.value eq "{Engineering}")', {"cat", "dan"}),
    ('groups.value eq "{ENGINEERING}"', set()),
]
GROUP_BAD_FILTERS = ['groups.value co "x"', 'groups.value gt "a"', 'groups.type eq "direct"',
                     'groups.$ref pr', 'groups.value eq 12', 'groups[type eq "direct"]',
                     'groups.display sw "E"']


def group_filter(text: str, ids: dict[str, str]) -> str:
    """``text`` with ``{Name}`` as that group's id, ``{NAME}`` as the id in upper case."""
    for name, scim_id in ids.items():
        text = text.replace("{" + name + "}", scim_id).replace("{" + name.upper() + "}", scim_id.upper())
    return text
