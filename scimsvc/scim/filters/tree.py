"""The normalised filter tree (RFC 7644 §3.4.2.2) and ``parse_filter``, which builds it.

``Comparison``, ``ValueFilter``, ``And``, ``Or`` and ``Not`` are what every consumer
reads: ``scimsvc.store.search`` compiles them to SQL, ``evaluate`` runs them in
Python. Names are kept as written; each consumer resolves them against the
schema. Every failure is an ``InvalidFilter`` (400, RFC 7644 §3.4.2.2 / §3.12).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Union

from scim2_filter_parser import ast

from ...errors import InvalidFilter
from .. import schema as scim_schema
from ..schema import ResolvedPath
from .grammar import STRING_LITERALS, parse_ast, shown, string_literal

# Deeper filters are refused: the tree walks recurse and databases cap expression depth.
MAX_NESTING = 50


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


def parse_filter(text: str) -> Node:
    """Parse a SCIM filter (RFC 7644 §3.4.2.2) into the normalised tree.

    and/or chains are flattened; ``emails[type eq "work"].value eq "x"`` becomes
    ``ValueFilter(emails, And(type eq "work", value eq "x"))``. Attribute names are
    not checked here (each consumer resolves them). Raises InvalidFilter for any
    lexer or parser error.
    """
    # IdPs send the same few filters with other values and the LALR parse is costly:
    # the shape (literals as numbered holes) is parsed once, then the literals fill it.
    if not isinstance(text, str) or not text.strip():
        raise InvalidFilter("The filter is empty.")
    literals: list[str] = []

    def hole(match: re.Match[str]) -> str:
        literals.append(string_literal(match.group(0), match.start()))
        return f'"{len(literals) - 1}"'

    try:
        shape = STRING_LITERALS.sub(hole, text)
        tree = _parse_shape(shape) if len(shape) <= MAX_CACHED_SHAPE else _parse(shape)
    except InvalidFilter:
        # Report the error as the filter was written, not as its shape.
        return _parse(text)
    return _fill(tree, literals) if literals else tree


# The shape is client text and its tree grows with it: only short shapes are kept,
# so the cache holds at most 256 entries of MAX_CACHED_SHAPE characters each.
MAX_CACHED_SHAPE = 512


@lru_cache(maxsize=256)
def _parse_shape(shape: str) -> Node:
    return _parse(shape)


def _parse(text: str) -> Node:
    return _convert(parse_ast(text), 0)


def _fill(node: Node, literals: list[str]) -> Node:
    """Return ``node`` with each hole (a string value, the literal's number) replaced by its literal."""
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
    """Return the operands of a chain of the same logical operator, in order, without recursion."""
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
    """Return ``(attribute, value)`` when ``tree`` is a single ``eq`` on userName or externalId.

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
        try:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
            raise InvalidFilter(f"'{shown(value)}' is outside the years 1 to 9999 in UTC.") from None
    return parsed


__all__ = [
    "MAX_NESTING", "And", "AttrRef", "Comparison", "Node", "Not", "Or", "ValueFilter",
    "indexed_equality", "parse_filter", "parse_time",
]


ORDERING_OPS = ("gt", "ge", "lt", "le")
STRING_OPS = ("co", "sw", "ew")
ALL_OPS = ("eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le")


def resolve_ref(ref: AttrRef, scope: ResolvedPath | None) -> ResolvedPath:
    """Resolve a filter's attribute against the User schemas, or inside ``scope``'s brackets.

    Raises InvalidFilter naming an unknown or unfilterable attribute.
    """
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


def boolean_operand(op: str, name: str, value: Any) -> bool:
    """The boolean a comparison with a boolean attribute compares with ("True" read as true).

    Raises InvalidFilter for an operator other than eq/ne or a value that is no boolean.
    """
    if op not in ("eq", "ne"):
        raise InvalidFilter(f"'{name}' is a boolean: only eq, ne and pr apply to it.")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        raise InvalidFilter(f"'{name}' is a boolean: compare it with true or false.")
    return value

