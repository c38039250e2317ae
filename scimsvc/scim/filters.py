"""SCIM filters (RFC 7644 §3.4.2.2) parsed and compiled to SQLAlchemy expressions.

Pipeline: scim2-filter-parser's lexer and parser (subclassed here to fix what they
get wrong for us) → a small normalised tree (``Comparison``, ``ValueFilter``,
``And``, ``Or``, ``Not``) → a boolean SQLAlchemy expression over ``users`` (with
``user_values`` reached through ``users.id IN (SELECT user_id …)``).

Every failure is an ``InvalidFilter`` (400, RFC 7644 §3.4.2.2 / §3.12); an attribute
the User schemas do not know is rejected, never dropped. Comparisons are two-valued:
an absent attribute makes ``eq``/``ne``/``co``/… false, so ``not (…)`` is its exact
complement (absent counts as "not equal" only through ``not``).

``compile_comparison`` (one attribute, one operator) is the single place that turns
a comparison into SQL, and ``match_predicate`` the one for ``co``/``sw``/``ew``, so a
faster form (FTS5 trigram, pg_trgm) can be swapped in for one (attribute, operator)
pair without touching the rest. ``sort_terms`` maps ``sortBy`` onto the same columns.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from sly.lex import LexError
from sly.yacc import SlyLogger
from sqlalchemy import String, and_, case, cast, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement, Grouping

from .. import dialect as dialects
from ..errors import InvalidFilter, InvalidValue
from ..models import User, UserValue
from . import schema as scim_schema
from .schema import Attribute, ResolvedPath

# Beyond this nesting (parentheses, not, brackets) a filter is refused: the tree walk
# is recursive and databases cap expression depth. Flat and/or chains do not nest.
MAX_NESTING = 50

# --- Lexer and parser --------------------------------------------------------


# A JSON string literal; no other token of the grammar can contain a double quote.
# (Underscored: inside a sly class body an unknown upper-case name reads as its own name.)
_STRING_LITERAL = r'"(?:[^"\\]|\\.)*"'


def string_literal(raw: str, index: int) -> str:
    """Decode the JSON string literal ``raw`` found at ``index`` of a filter."""
    try:
        value = json.loads(raw)
        value.encode("utf-8")  # a lone surrogate (\ud800) is no text a database can hold
    except ValueError:
        raise InvalidFilter(f"Invalid string literal {shown(raw)} at position "
                            f"{index + 1} of the filter.") from None
    if "\x00" in value:
        raise InvalidFilter("A filter value cannot contain the NUL character.")
    return value


class FilterLexer(SCIMLexer):
    """scim2-filter-parser's lexer with JSON literals done right (RFC 7644 §3.4.2.2 compValue).

    The stock lexer reads only one-digit numbers, does not decode string escapes
    (``"a\\"b"`` breaks), matches ``true``/``false``/``null`` only in lower case and
    as prefixes of attribute names, and loses the difference between ``true`` and
    ``"true"``. Here token values are typed: str, bool, None, int or float.
    """

    tokens = SCIMLexer.tokens

    # true/false/null are recognised as whole words by ATTRNAME below.
    del TRUE, FALSE, NULL  # noqa: F821
    ATTRNAME = SCIMLexer.ATTRNAME

    NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"

    def NUMBER(self, t):  # noqa: F811
        t.value = json.loads(t.value)
        return t

    @_(_STRING_LITERAL)  # noqa: F821
    def COMP_VALUE(self, t):
        t.value = string_literal(t.value, t.index)
        return t

    def ATTRNAME(self, t):  # noqa: F811 (sly: a function after a same-named pattern)
        # Operators in any case are remapped by the base class before this runs.
        word = t.value.lower()
        if word in ("true", "false"):
            t.type, t.value = word.upper(), word == "true"
        elif word == "null":
            t.type, t.value = "NULL", None
        return t

    def error(self, t):
        raise InvalidFilter(
            f"Invalid filter: unexpected character {t.value[0]!r} at position {t.index + 1}."
        )


class FilterParser(SCIMParser):
    """scim2-filter-parser's grammar with the precedence RFC 7644 §3.4.2.2 requires.

    The stock table declares ``("left", OR, AND)``, one level, so ``a or b and c``
    parses as ``(a or b) and c``. Here "not" binds tighter than "and", which binds
    tighter than "or". sly builds grammars from the class body, so the rules are
    re-attached here (the overloads of each rule are chained on the function).
    """

    tokens = FilterLexer.tokens
    log = SlyLogger(io.StringIO())  # the grammar's known conflicts are not news
    precedence = (
        ("left", OR),  # noqa: F821
        ("left", AND),  # noqa: F821
        ("right", NOT),  # noqa: F821
    )

    filter = SCIMParser.filter
    value_path = SCIMParser.value_path
    attr_exp = SCIMParser.attr_exp
    log_exp = SCIMParser.log_exp
    comp_value = SCIMParser.comp_value
    attr_path = SCIMParser.attr_path
    sub_attr = SCIMParser.sub_attr

    def error(self, p):
        if p is None:
            raise InvalidFilter("Invalid filter: it ends too early.")
        shown = json.dumps(p.value) if isinstance(p.value, str) and p.type == "COMP_VALUE" \
            else str(p.value if p.value is not None else "null")
        raise InvalidFilter(
            f"Invalid filter: unexpected {shown} at position {p.index + 1}."
        )


# --- The normalised tree -----------------------------------------------------


@dataclass(frozen=True)
class AttrRef:
    """An attribute path as written: ``[uri:]name[.sub]`` (names not yet resolved)."""

    uri: str | None
    name: str
    sub: str | None = None

    def __str__(self) -> str:
        text = f"{self.uri}:{self.name}" if self.uri else self.name
        return f"{text}.{self.sub}" if self.sub else text


@dataclass(frozen=True)
class Comparison:
    """``attr op value``; ``op`` is lower case; ``value`` is unused for ``pr``."""

    attr: AttrRef
    op: str
    value: Any = None


@dataclass(frozen=True)
class ValueFilter:
    """``attr[filter]``: ``filter`` must hold for one and the same value of ``attr``."""

    attr: AttrRef
    filter: "Node"


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


Node = Union[Comparison, ValueFilter, And, Or, Not]


def shown(text: str) -> str:
    """``text`` made safe to echo in an error detail (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_filter(text: str) -> Node:
    """Parse a SCIM filter (RFC 7644 §3.4.2.2) into the normalised tree.

    and/or chains are flattened; ``emails[type eq "work"].value eq "x"`` becomes
    ``ValueFilter(emails, And(type eq "work", value eq "x"))``. Attribute names are
    not checked here (see ``compile_filter``). Raises InvalidFilter for any lexer
    or parser error.

    IdPs send the same few filters with different values (``userName eq "…"``
    before every create), and the LALR parse was a tenth of a lookup's CPU (make
    bench profile): the filter's shape, its string literals replaced by numbered
    holes, is parsed once and cached, then the decoded literals fill the holes.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidFilter("The filter is empty.")
    literals: list[str] = []

    def hole(match: re.Match[str]) -> str:
        literals.append(string_literal(match.group(0), match.start()))
        return f'"{len(literals) - 1}"'

    try:
        shape = _LITERALS.sub(hole, text)
        tree = _parse_shape(shape)
    except InvalidFilter:
        # Report the error as the filter was written, not as its shape.
        return _parse(text)
    return _fill(tree, literals) if literals else tree


_LITERALS = re.compile(_STRING_LITERAL)


@lru_cache(maxsize=256)
def _parse_shape(shape: str) -> Node:
    return _parse(shape)


def _parse(text: str) -> Node:
    try:
        tree = FilterParser().parse(FilterLexer().tokenize(text))
    except InvalidFilter:
        raise
    except (SCIMParserError, LexError, ValueError, TypeError, AttributeError) as error:
        raise InvalidFilter(f"Invalid filter: {error}") from None
    if tree is None:
        raise InvalidFilter("Invalid filter.")
    return _convert(tree, 0)


def _fill(node: Node, literals: list[str]) -> Node:
    """``node`` with each hole (a string value, the literal's number) replaced by its literal."""
    if isinstance(node, Comparison):
        if isinstance(node.value, str):
            return dataclasses.replace(node, value=literals[int(node.value)])
        return node
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_fill(item, literals) for item in node.items))
    if isinstance(node, Not):
        return Not(_fill(node.item, literals))
    return ValueFilter(node.attr, _fill(node.filter, literals))


def _convert(node: Any, depth: int) -> Node:
    if depth > MAX_NESTING:
        raise InvalidFilter(f"The filter is nested more than {MAX_NESTING} levels deep.")
    node = _unwrap(node)
    if isinstance(node, ast.Filter):
        if node.namespace is not None:  # a bare value path: emails[type eq "work"]
            return ValueFilter(_namespace_ref(node.namespace), _convert(node.expr, depth + 1))
        # A negated Filter (unwrap stops at those).
        return Not(_convert(node.expr, depth + 1))
    if isinstance(node, ast.LogExpr):
        op = node.op.lower()
        items = tuple(_convert(item, depth + 1) for item in _flatten(node, op))
        return And(items) if op == "and" else Or(items)
    if isinstance(node, ast.AttrExpr):
        return _comparison(node, depth)
    raise InvalidFilter("Invalid filter.")


def _unwrap(node: Any) -> Any:
    """Skip plain grouping parentheses (a Filter that is neither negated nor a value path)."""
    while isinstance(node, ast.Filter) and not node.negated and node.namespace is None:
        node = node.expr
    return node


def _flatten(node: ast.LogExpr, op: str) -> list[Any]:
    """The operands of a chain of the same logical operator, in order, without recursion."""
    out, stack = [], [node]
    while stack:
        current = _unwrap(stack.pop())
        if isinstance(current, ast.LogExpr) and current.op.lower() == op:
            stack.append(current.expr2)
            stack.append(current.expr1)
        else:
            out.append(current)
    return out


def _namespace_ref(path: Any) -> AttrRef:
    if not isinstance(path, ast.AttrPath) or not isinstance(path.attr_name, str):
        raise InvalidFilter("Invalid filter: value filters cannot be nested.")
    if path.sub_attr is not None:
        raise InvalidFilter(f"Invalid filter: a value filter applies to "
                            f"'{path.attr_name}', not to one of its sub-attributes.")
    return AttrRef(path.uri, path.attr_name)


def _comparison(node: ast.AttrExpr, depth: int) -> Node:
    op = node.value.lower()
    value = node.comp_value.value if node.comp_value is not None else None
    path = node.attr_path
    if isinstance(path.attr_name, ast.Filter):
        # emails[type eq "work"].value eq "x": the parser moved ".value" onto the
        # value path's namespace. Both conditions must hold for the same value.
        value_path = path.attr_name
        namespace = value_path.namespace
        sub = namespace.sub_attr.value if namespace.sub_attr is not None else None
        outer = AttrRef(namespace.uri, namespace.attr_name if isinstance(namespace.attr_name, str)
                        else "", None)
        if not outer.name:
            raise InvalidFilter("Invalid filter: value filters cannot be nested.")
        inner = _convert(value_path.expr, depth + 1)
        if sub is None and op == "pr":
            return ValueFilter(outer, inner)
        compare = Comparison(AttrRef(None, sub or "value"), op, value)
        return ValueFilter(outer, And((inner, compare)))
    sub = path.sub_attr.value if path.sub_attr is not None else None
    return Comparison(AttrRef(path.uri, path.attr_name, sub), op, value)


# Single-valued attributes with an index of their own, and how the users service looks them up.
INDEXED_EQUALITY = ("userName", "externalId")


def indexed_equality(tree: Node) -> tuple[str, str] | None:
    """``(attribute, value)`` when ``tree`` is a single ``eq`` on userName or externalId.

    That is the lookup IdPs send before every create (``userName eq "…"``, or
    ``externalId eq "…"`` for Entra ID), which the listing serves with one
    prepared query; it means what ``compile_filter`` would make of it.
    """
    if not isinstance(tree, Comparison) or tree.op != "eq" or not isinstance(tree.value, str) \
            or tree.attr.sub is not None:
        return None
    uri = tree.attr.uri
    if uri is not None and uri.rstrip(":").lower() != scim_schema.USER_SCHEMA.lower():
        return None
    resolved = scim_schema.resolve(None, tree.attr.name, None)
    if resolved is None or resolved.attribute.name not in INDEXED_EQUALITY:
        return None
    return resolved.attribute.name, tree.value


# --- Compilation ---------------------------------------------------------------

ORDERING_OPS = ("gt", "ge", "lt", "le")
STRING_OPS = ("co", "sw", "ew")
ALL_OPS = ("eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Target:
    """Where a single value lives in SQL and how to compare it.

    ``folded`` means the column already holds ``fold(value)``; ``column`` means a
    plain column a B-tree index can serve (prefix ranges are worth it).
    """

    expr: Any
    attribute: Attribute
    nullable: bool = True
    folded: bool = False
    column: bool = False

    @property
    def type(self) -> str:
        return self.attribute.type


def compile_filter(text_or_tree: str | Node, *, location_prefix: str = "",
                   dialect: str = "sqlite") -> ColumnElement[bool]:
    """Compile a SCIM filter into a boolean expression over ``User`` (RFC 7644 §3.4.2.2).

    ``location_prefix`` is what ``meta.location`` starts with (``…/Users/``);
    ``dialect`` ("sqlite", "postgresql") only picks index-friendly forms.
    Raises InvalidFilter naming any unknown or unfilterable attribute.
    """
    tree = parse_filter(text_or_tree) if isinstance(text_or_tree, str) else text_or_tree
    return _Compiler(location_prefix, dialect).node(tree, None, 0)


class _Compiler:
    def __init__(self, location_prefix: str, dialect: str):
        self.location_prefix = location_prefix
        self.dialect = dialect

    # ``scope`` is None at the top level, or the ResolvedPath of the complex
    # attribute whose value filter (``attr[...]``) is being compiled. ``negated``
    # says a ``not`` encloses the node: only there can SQL's NULL (an absent value)
    # differ from false, so only there do comparisons get an IS NOT NULL guard
    # (elsewhere the guard would only distract the planner from the index).
    def node(self, node: Node, scope: ResolvedPath | None, depth: int,
             negated: bool = False) -> ColumnElement[bool]:
        if depth > MAX_NESTING:
            raise InvalidFilter(f"The filter is nested more than {MAX_NESTING} levels deep.")
        if isinstance(node, And):
            return _balanced(and_, [self.node(item, scope, depth + 1, negated)
                                    for item in node.items])
        if isinstance(node, Or):
            return _balanced(or_, [self.node(item, scope, depth + 1, negated)
                                   for item in node.items])
        if isinstance(node, Not):
            return not_(self.node(node.item, scope, depth + 1, True))
        if isinstance(node, ValueFilter):
            return self.value_filter(node, scope, depth, negated)
        return self.comparison(node, scope, negated)

    def resolve(self, ref: AttrRef, scope: ResolvedPath | None) -> ResolvedPath:
        if scope is not None:
            # Inside brackets names are sub-attributes of the bracketed attribute.
            if ref.uri is None and ref.sub is None:
                sub = scope.attribute.sub(ref.name)
                if sub is not None:
                    return ResolvedPath(scope.schema, scope.attribute, sub)
            raise InvalidFilter(
                f"Unknown attribute '{ref}' in the filter on '{scope.dotted}': "
                f"use one of its sub-attributes "
                f"({', '.join(s.name for s in scope.attribute.sub_attributes)})."
            )
        resolved = scim_schema.resolve(ref.uri, ref.name, ref.sub)
        if resolved is None and ref.uri and ref.uri.lower() == scim_schema.USER_SCHEMA.lower():
            resolved = scim_schema.resolve(None, ref.name, ref.sub)  # urn:…:User:id
        if resolved is None:
            raise InvalidFilter(f"Unknown attribute '{ref}' in filter.")
        if resolved.leaf.returned == "never":
            raise InvalidFilter(f"The attribute '{ref}' cannot be used in a filter.")
        return resolved

    def value_filter(self, node: ValueFilter, scope: ResolvedPath | None,
                     depth: int, negated: bool) -> ColumnElement[bool]:
        if scope is not None:
            raise InvalidFilter("Invalid filter: value filters cannot be nested.")
        outer = self.resolve(node.attr, None)
        attribute = outer.attribute
        if attribute.type != "complex":
            raise InvalidFilter(f"'{node.attr}' is not a complex attribute: "
                                f"it cannot take a [filter].")
        if attribute.multi_valued:
            if not _is_stored(attribute.name):
                return false()  # groups: never stored, so no value matches
            # A subquery: its WHERE starts un-negated again; IN itself is never NULL.
            return values_match(attribute.name, self.node(node.filter, outer, depth + 1))
        # A single complex value (name[...]): its sub-attributes are plain columns/paths.
        return self.node(node.filter, outer, depth + 1, negated)

    def comparison(self, node: Comparison, scope: ResolvedPath | None,
                   negated: bool) -> ColumnElement[bool]:
        if node.op not in ALL_OPS:
            raise InvalidFilter(f"The operator '{node.op}' is not supported.")
        if scope is None and node.attr.uri is None and node.attr.sub is None \
                and node.attr.name.lower() == "schemas":
            return self.schemas(node)
        resolved = self.resolve(node.attr, scope)
        attribute = resolved.attribute
        if scope is None and attribute.multi_valued:
            if not _is_stored(attribute.name):
                return false()  # groups: readOnly, never stored
            sub = resolved.sub_attribute
            if sub is None and node.op == "pr":
                return values_match(attribute.name, true())
            if sub is None:
                # RFC 7644 §3.4.2.2: "emails eq x" compares each email's value.
                sub = attribute.sub("value")
                if sub is None:
                    raise InvalidFilter(f"'{attribute.name}' has no 'value': name one of its "
                                        f"sub-attributes in the filter.")
            item = ResolvedPath(resolved.schema, attribute, sub)
            return values_match(attribute.name,
                                compile_comparison(self.value_target(item), node.op, node.value,
                                                   self.dialect, guarded=False))
        if scope is not None and attribute.multi_valued:
            return compile_comparison(self.value_target(resolved), node.op, node.value,
                                      self.dialect, guarded=negated)
        if resolved.leaf.type == "complex":
            if node.op != "pr":
                raise InvalidFilter(f"'{node.attr}' is a complex attribute: compare one of its "
                                    f"sub-attributes (e.g. '{attribute.name}."
                                    f"{attribute.sub_attributes[0].name}').")
            return self.complex_present(resolved)
        return compile_comparison(self.user_target(resolved), node.op, node.value, self.dialect,
                                  guarded=negated)

    @staticmethod
    def schemas(node: Comparison) -> ColumnElement[bool]:
        """``schemas`` (RFC 7644 §3.4.2.2, Figure 2): the core URN, plus each extension present.

        Schema URIs compare ignoring case; the multi-valued rule applies (any URN).
        """
        if node.op == "pr":
            return true()
        if not isinstance(node.value, str):
            raise InvalidFilter("'schemas' holds URNs: compare it with a quoted string.")
        wanted = node.value.lower()
        tests = {"eq": lambda u: u == wanted, "ne": lambda u: u != wanted,
                 "co": lambda u: wanted in u, "sw": lambda u: u.startswith(wanted),
                 "ew": lambda u: u.endswith(wanted), "gt": lambda u: u > wanted,
                 "ge": lambda u: u >= wanted, "lt": lambda u: u < wanted,
                 "le": lambda u: u <= wanted}
        if tests[node.op](scim_schema.USER_SCHEMA.lower()):
            return true()
        present = [User.data[(extension.id,)].as_string().is_not(None)
                   for extension in scim_schema.EXTENSIONS if tests[node.op](extension.id.lower())]
        return or_(*present) if present else false()

    @staticmethod
    def complex_present(resolved: ResolvedPath) -> ColumnElement[bool]:
        if resolved.attribute.name == "meta":
            return true()
        # Empty complex values are pruned before storage, so stored means present.
        return User.data[_json_path(resolved)].as_string().is_not(None)

    def user_target(self, resolved: ResolvedPath) -> Target:
        """The SQL for a single-valued attribute of the user (RFC 7643 §4.1, §4.3)."""
        leaf = resolved.leaf
        dotted = resolved.dotted if resolved.extension is None else None
        # Lambdas: building every expression of this table for each comparison was a
        # third of a lookup's filter compilation (make bench profile).
        columns = {
            "id": lambda: Target(User.scim_id, leaf, nullable=False, column=True),
            "externalId": lambda: Target(User.external_id, leaf, column=True),
            "userName": lambda: Target(User.user_name_norm, leaf, nullable=False, folded=True,
                                       column=True),
            "active": lambda: Target(User.active, leaf, nullable=False, column=True),
            "displayName": lambda: Target(User.display_name, leaf, column=True),
            "name.givenName": lambda: Target(User.given_name, leaf, column=True),
            "name.familyName": lambda: Target(User.family_name, leaf, column=True),
            "meta.created": lambda: Target(User.created_at, leaf, nullable=False, column=True),
            "meta.lastModified": lambda: Target(User.updated_at, leaf, nullable=False,
                                                column=True),
            "meta.resourceType": lambda: Target(literal("User", String), leaf, nullable=False),
            "meta.version": lambda: Target(
                literal('W/"') + cast(User.version, String) + literal('"'), leaf, nullable=False),
            "meta.location": lambda: Target(literal(self.location_prefix) + User.scim_id, leaf,
                                            nullable=False),
        }
        if dotted in columns:
            return columns[dotted]()
        return Target(User.data[_json_path(resolved)].as_string(), leaf)

    @staticmethod
    def value_target(resolved: ResolvedPath) -> Target:
        """The SQL for a sub-attribute of one value of a multi-valued attribute."""
        leaf = resolved.leaf
        name = leaf.name
        if name == "value":
            if leaf.case_exact:
                return Target(UserValue.value, leaf, column=True)
            return Target(UserValue.value_norm, leaf, folded=True, column=True)
        if name == "type":
            return Target(UserValue.type, leaf, column=True)
        if name == "primary":
            return Target(UserValue.primary, leaf, column=True)
        if name == "display":
            return Target(UserValue.display, leaf, column=True)
        return Target(UserValue.item[(name,)].as_string(), leaf)


def sort_terms(sort_by: str, descending: bool = False, *,
               location_prefix: str = "") -> list[Any]:
    """ORDER BY terms for ``sortBy`` (RFC 7644 §3.4.2.3).

    Strings sort by their caseExact (folded when case-insensitive); a multi-valued
    attribute sorts by its primary value, else its first; a user without the value
    sorts last when ascending and first when descending. The caller appends users.id
    to make the order total. Raises InvalidValue for a path that names no sortable
    attribute (RFC 7644 §3.12: "the value specified was not compatible with the
    operation").
    """
    urn, rest = scim_schema.split_urn(sort_by.strip())
    name, _, sub = rest.partition(".")
    resolved = None
    if name:
        resolved = scim_schema.resolve(urn, name, sub or None)
        if resolved is None and urn == scim_schema.USER_SCHEMA:
            resolved = scim_schema.resolve(None, name, sub or None)
    if resolved is None or resolved.leaf.returned == "never":
        raise InvalidValue(f"sortBy '{shown(sort_by)}' does not name a sortable attribute.")
    attribute = resolved.attribute
    compiler = _Compiler(location_prefix, "sqlite")
    if attribute.multi_valued:
        sub_attribute = resolved.sub_attribute or attribute.sub("value")
        if sub_attribute is None or not _is_stored(attribute.name):
            raise InvalidValue(f"sortBy '{shown(sort_by)}' does not name a sortable attribute.")
        target = compiler.value_target(ResolvedPath(resolved.schema, attribute, sub_attribute))
        expr = target.expr
        if sub_attribute.type in ("string", "reference") and not sub_attribute.case_exact \
                and not target.folded:
            expr = func.lower(expr)
        # RFC 7644 §3.4.2.3: "the value of the primary attribute, if any, or else the
        # first value in the list".
        expr = (
            select(expr)
            .where(UserValue.user_id == User.id, UserValue.attr == attribute.name)
            .order_by(case((UserValue.primary.is_(True), 0), else_=1), UserValue.position)
            .limit(1)
            .scalar_subquery()
        )
        nullable = True
    else:
        if resolved.leaf.type == "complex":
            raise InvalidValue(f"sortBy '{shown(sort_by)}' is a complex attribute: name one of its "
                               f"sub-attributes (RFC 7644 §3.4.2.3).")
        target = compiler.user_target(resolved)
        leaf = resolved.leaf
        expr = target.expr
        if leaf.type in ("string", "reference") and not leaf.case_exact and not target.folded:
            expr = func.lower(expr)
        nullable = target.nullable
    if descending:
        return ([expr.is_(None).desc()] if nullable else []) + [expr.desc()]
    return ([expr.is_(None)] if nullable else []) + [expr.asc()]


def fold(value: str) -> str:
    """``services.users.fold``, imported late: services.users imports the PATCH engine,
    which may import this module."""
    from ..services.users import fold as service_fold

    return service_fold(value)


def _is_stored(attr: str) -> bool:
    """Whether a multi-valued attribute has its values in user_values (groups has none)."""
    from ..services.users import MULTI_VALUED

    return attr in MULTI_VALUED


class _Group(Grouping):
    """Parentheses that and_/or_ keep (they flatten a plain Grouping of the same operator)."""

    inherit_cache = True
    operator = None


def _balanced(combine: Any, clauses: list[Any], width: int = 64) -> ColumnElement[bool]:
    """``a OR b OR …`` as a tree of parenthesised groups of at most ``width`` terms.

    SQLite parses a flat chain into an expression ``n`` deep and refuses more than
    1000 (SQLITE_MAX_EXPR_DEPTH); grouping keeps the depth near ``width``.
    """
    while len(clauses) > width:
        clauses = [_Group(combine(*clauses[i:i + width]))
                   for i in range(0, len(clauses), width)]
    return combine(*clauses)


def _json_path(resolved: ResolvedPath) -> tuple[str, ...]:
    path: tuple[str, ...] = (resolved.extension,) if resolved.extension else ()
    path += (resolved.attribute.name,)
    if resolved.sub_attribute is not None:
        path += (resolved.sub_attribute.name,)
    return path


def values_match(attr: str, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """True when one value of the multi-valued ``attr`` satisfies ``predicate`` (RFC 7644 §3.4.2.2).

    An uncorrelated ``users.id IN (SELECT user_id …)``: never NULL, so ``not`` stays exact,
    and a selective predicate is answered from ``ix_user_values_lookup``.
    """
    of_attr = UserValue.attr == attr
    if dialects.reads_trigram_index(predicate):
        # The trigram index must drive: with "attr = ?" usable as an index search, SQLite
        # walked every value of attr instead (make bench, 100k users: 25 ms, not 0.9 ms).
        of_attr = UserValue.attr.concat("") == attr
    return User.id.in_(select(UserValue.user_id).where(of_attr, predicate))


def compile_comparison(target: Target, op: str, value: Any, dialect: str = "sqlite", *,
                       guarded: bool = True) -> ColumnElement[bool]:
    """Compile ``target op value`` into an SQL predicate (RFC 7644 §3.4.2.2, Table 3).

    String comparisons follow the attribute's caseExact (RFC 7643 §2.2); ``co``/``sw``/
    ``ew`` match ``%`` and ``_`` literally; gt/ge/lt/le on booleans and binary values
    are invalidFilter, as the RFC requires. An absent value never matches; with
    ``guarded`` the predicate is two-valued (false, not NULL, when the value is
    absent), which it must be under ``not``.
    """
    attribute = target.attribute
    kind = attribute.type
    name = attribute.name
    if op == "pr":
        if kind in ("string", "reference", "binary"):
            return _guard(target, target.expr != "")
        return target.expr.is_not(None) if target.nullable else true()
    if value is None:
        # "eq null" / "ne null": RFC 7643 §2.5 treats null as unassigned.
        if op == "eq":
            return not_(compile_comparison(target, "pr", None, dialect))
        if op == "ne":
            return compile_comparison(target, "pr", None, dialect)
        raise InvalidFilter(f"'{op} null' is not a valid comparison.")
    if kind == "boolean":
        if op not in ("eq", "ne"):
            raise InvalidFilter(f"'{name}' is a boolean: only eq, ne and pr apply to it.")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise InvalidFilter(f"'{name}' is a boolean: compare it with true or false.")
        predicate = target.expr == value if op == "eq" else target.expr != value
        return _guard(target, predicate) if guarded else predicate
    if kind == "dateTime":
        predicate = _compare_time(target, op, value)
        return _guard(target, predicate) if guarded else predicate
    if not isinstance(value, str):
        raise InvalidFilter(f"'{name}' is a string: compare it with a quoted value.")
    if kind == "binary" and op in ORDERING_OPS:
        raise InvalidFilter(f"'{name}' is binary: gt, ge, lt and le do not apply to it.")
    if attribute.case_exact:
        expr = target.expr
    else:
        value = fold(value)
        expr = target.expr if target.folded else func.lower(target.expr)
    if op == "eq":
        predicate = expr == value
    elif op == "ne":
        predicate = expr != value
    elif op in ORDERING_OPS:
        predicate = {"gt": expr > value, "ge": expr >= value,
                     "lt": expr < value, "le": expr <= value}[op]
    else:
        predicate = match_predicate(target, expr, op, value, dialect)
        if op == "co" and expr is UserValue.value_norm:
            # An index-served superset of the matches (trigram index, see dialect.py); the
            # LIKE stays the exact test. make bench: a scan of every value per search.
            candidates = dialects.value_contains_candidates(dialect, UserValue.id, value)
            if candidates is not None:
                predicate = and_(candidates, predicate)
    return _guard(target, predicate) if guarded else predicate


def _guard(target: Target, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """Make a predicate false (not NULL) when the value is absent, so ``not`` is exact."""
    if not target.nullable:
        return predicate
    return and_(target.expr.is_not(None), predicate)


def match_predicate(target: Target, expr: Any, op: str, value: str,
                    dialect: str = "sqlite") -> ColumnElement[bool]:
    """``co`` / ``sw`` / ``ew`` on one attribute (RFC 7644 §3.4.2.2): the swap point.

    ``expr`` is ``target.expr`` folded when the attribute ignores case, and ``value``
    is folded likewise. LIKE … ESCAPE makes ``%`` and ``_`` in ``value`` literal. A
    trigram-index form (FTS5, pg_trgm) for, say, ``emails.value co`` belongs here,
    chosen by ``target`` (``target.expr is UserValue.value_norm``) and ``dialect``.
    """
    exact = target.attribute.case_exact
    ranged = target.column and dialect == "sqlite"
    if value == "":
        return expr.is_not(None)  # every string contains, starts and ends with ""
    if op == "co":
        predicate = expr.contains(value, autoescape=True)
        if exact:
            # SQLite's LIKE ignores ASCII case; replace() never does (both databases).
            predicate = and_(predicate, func.replace(expr, value, "") != expr)
        return predicate
    if op == "sw":
        predicate = expr.startswith(value, autoescape=True)
        if exact:
            predicate = and_(predicate, func.substr(expr, 1, len(value)) == value)
        if ranged:
            upper = _prefix_upper_bound(value)
            # A B-tree range the index can serve; LIKE above keeps it exact.
            bounds = [expr >= value] + ([expr < upper] if upper is not None else [])
            predicate = and_(*bounds, predicate)
        return predicate
    predicate = expr.endswith(value, autoescape=True)
    if exact:
        predicate = and_(predicate,
                         func.substr(expr, func.length(expr) - len(value) + 1) == value)
    return predicate


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (binary order)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    following = last + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be encoded
        following = 0xE000
    return prefix[:-1] + chr(following)


_MS = timedelta(milliseconds=1)


def parse_time(value: Any) -> datetime:
    """Parse an RFC 3339 date-time into naive UTC (how timestamps are stored).

    Raises InvalidFilter if ``value`` is not one.
    """
    if not isinstance(value, str):
        raise InvalidFilter("A date-time must be compared with an RFC 3339 string.")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidFilter(f"'{shown(value)}' is not an RFC 3339 date-time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _floor_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _compare_time(target: Target, op: str, value: Any) -> ColumnElement[bool]:
    """Chronological comparison (RFC 7644 §3.4.2.2) at the precision the client sees.

    Timestamps are stored to the microsecond but rendered to the millisecond
    (``meta.created`` = floor to ms), so a value read back from a resource must
    match it: each operator compares floor_ms(stored) with the given instant,
    written as a range over the raw column so an index can serve it.
    """
    if op in STRING_OPS:
        raise InvalidFilter(f"'{target.attribute.name}' is a date-time: "
                            f"use eq, ne, gt, ge, lt, le or pr.")
    moment = parse_time(value)
    floor = _floor_ms(moment)
    on_boundary = floor == moment
    ceil = floor if on_boundary else floor + _MS
    expr = target.expr
    if op in ("eq", "ne"):
        if not on_boundary:
            predicate = false()
        else:
            predicate = and_(expr >= floor, expr < floor + _MS)
        if op == "ne":
            predicate = not_(predicate)
    elif op == "ge":
        predicate = expr >= ceil
    elif op == "gt":
        predicate = expr >= floor + _MS
    elif op == "lt":
        predicate = expr < ceil
    else:  # le
        predicate = expr < floor + _MS
    return predicate


__all__ = [
    "And", "AttrRef", "Comparison", "FilterLexer", "FilterParser", "Node", "Not", "Or",
    "Target", "ValueFilter", "compile_comparison", "compile_filter", "indexed_equality",
    "parse_filter", "match_predicate", "parse_time", "sort_terms", "values_match",
]
