"""Evaluate a filter tree (RFC 7644 §3.4.2.2) in Python, against one value or one resource.

``matches_value`` is PATCH's: a value filter resolved against its attribute
(``patch.paths``) tested on one complex value. ``resource_predicate`` compiles a
whole filter into a test of one rendered User resource, meaning what
``scimsvc.store.search`` makes of it in SQL. Both compare through ``holds``.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from ...errors import InvalidFilter
from .. import schema
from ..schema import Attribute, ResolvedPath, fold
from .grammar import shown
from .tree import (ALL_OPS, MAX_NESTING, ORDERING_OPS, STRING_OPS, And, Comparison, Node,
                   Not, Or, ValueFilter, boolean_operand, parse_time, resolve_ref)


Predicate = Callable[[Mapping[str, Any]], bool]


# --- Shared comparison ----------------------------------------------------------


def folded(value: Any, attribute: Attribute) -> Any:
    """Return ``value`` folded when it is a string of a case-insensitive attribute (RFC 7643 §2.2)."""
    if isinstance(value, str) and not attribute.case_exact:
        return fold(value)
    return value


def holds(op: str, actual: Any, expected: Any) -> bool:
    """Tell whether ``actual op expected`` holds for two present, already folded values.

    co/sw/ew need two strings and gt/ge/lt/le two values of one kind other than
    boolean; any other pair makes them false.
    """
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op in STRING_OPS:
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        return {"co": expected in actual, "sw": actual.startswith(expected),
                "ew": actual.endswith(expected)}[op]
    if isinstance(actual, bool) or isinstance(expected, bool) \
            or isinstance(actual, str) != isinstance(expected, str):
        return False
    return {"gt": actual > expected, "ge": actual >= expected,
            "lt": actual < expected, "le": actual <= expected}[op]


# --- One complex value (PATCH) ----------------------------------------------------


def _as_bool(value: Any) -> Any:
    # Entra writes roles[primary eq "True"]: a boolean compared with a string.
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def matches_value(node: Node, item: Any, parent: Attribute) -> bool:
    """Tell whether the value filter ``node`` holds for ``item``, one value of ``parent``
    (``value_predicate`` compiled for one test)."""
    return value_predicate(node, parent)(item)


def value_predicate(node: Node, parent: Attribute) -> Predicate:
    """Compile the value filter ``node`` into a test of one value of ``parent``.

    Each Comparison of ``node`` names a sub-attribute of ``parent`` by its canonical
    name (``patch.paths.parse_value_filter``). pr means not None, "", [] or {};
    booleans given as "true"/"false" strings compare as booleans. Each literal is
    folded once here, not once per value tested: PATCH tests every value of a
    multi-valued attribute, and a literal may be as long as the request.
    """
    if isinstance(node, And):
        tests = [value_predicate(operand, parent) for operand in node.items]
        return lambda item: all(test(item) for test in tests)
    if isinstance(node, Or):
        tests = [value_predicate(operand, parent) for operand in node.items]
        return lambda item: any(test(item) for test in tests)
    if isinstance(node, Not):
        test = value_predicate(node.item, parent)
        return lambda item: not test(item)
    attribute = parent.sub(node.attr.name)
    name, op = attribute.name, node.op

    def actual_of(item: Any) -> Any:
        actual = item.get(name) if isinstance(item, dict) else None
        return _as_bool(actual) if attribute.type == "boolean" else actual

    if op == "pr":
        return lambda item: (item.get(name) if isinstance(item, dict) else None) \
            not in (None, "", [], {})
    expected = node.value
    if attribute.type == "boolean":
        expected = _as_bool(expected)
    expected = folded(expected, attribute)
    if op == "eq":
        return lambda item: (actual := actual_of(item)) is not None \
            and holds("eq", folded(actual, attribute), expected)
    # PATCH's historic rule: ne holds on an absent value (a resource filter says false there).
    if op == "ne":
        return lambda item: (actual := actual_of(item)) is None \
            or holds("ne", folded(actual, attribute), expected)
    if expected is None:
        return _never
    return lambda item: (actual := actual_of(item)) is not None \
        and holds(op, folded(actual, attribute), expected)


# --- A whole resource -------------------------------------------------------------


def resource_predicate(tree: Node) -> Predicate:
    """Compile ``tree`` into a test of one rendered User resource (RFC 7644 §3.4.2.2).

    Names resolve against the User schemas; a multi-valued attribute matches when
    one of its values does, ``attr[...]`` when one and the same value does; strings
    fold unless caseExact; date-times compare as instants at the millisecond the
    resource shows; an absent value makes every comparison false, so ``not`` is the
    exact complement. Raises InvalidFilter wherever ``store.search.compile_filter`` does.
    """
    return _node(tree, None, 0)


def matches_resource(tree: Node, resource: Mapping[str, Any]) -> bool:
    """Tell whether ``tree`` holds for ``resource`` (see ``resource_predicate``)."""
    return resource_predicate(tree)(resource)


def _always(_: Any) -> bool:
    return True


# scope: the bracketed attribute, if any; under a multi-valued one predicates take one value.
def _node(node: Node, scope: ResolvedPath | None, depth: int) -> Predicate:
    if depth > MAX_NESTING:
        raise InvalidFilter(f"The filter is nested more than {MAX_NESTING} levels deep.")
    if isinstance(node, And):
        tests = [_node(item, scope, depth + 1) for item in node.items]
        return lambda value: all(test(value) for test in tests)
    if isinstance(node, Or):
        tests = [_node(item, scope, depth + 1) for item in node.items]
        return lambda value: any(test(value) for test in tests)
    if isinstance(node, Not):
        test = _node(node.item, scope, depth + 1)
        return lambda value: not test(value)
    if isinstance(node, ValueFilter):
        return _value_filter(node, scope, depth)
    return _comparison(node, scope)


def _group_test(sub: Attribute | None, op: str, value: Any) -> Callable[[Any], bool]:
    """``groups.<sub> op value`` on one of the resource's groups, as store.search's
    group_comparison compiles it: value case-exact, display ignoring case, eq/ne/pr only."""
    name = sub.name if sub is not None else "value"
    if name not in ("value", "display"):
        raise InvalidFilter(f"Users can be filtered on groups.value and groups.display only, "
                            f"not groups.{name}.")
    if op == "pr":
        return _always  # a group always has an id and a displayName
    if op not in ("eq", "ne"):
        raise InvalidFilter(f"groups.{name} can be compared with eq, ne and pr only.")
    if not isinstance(value, str):
        raise InvalidFilter(f"groups.{name} is a string: compare it with a quoted string.")
    wanted = value if name == "value" else fold(value)

    def test(item: Any) -> bool:
        actual = item.get(name) if isinstance(item, Mapping) else None
        if name == "display" and isinstance(actual, str):
            actual = fold(actual)
        return (actual == wanted) == (op == "eq")
    return test


def _lookup(resource: Mapping[str, Any], resolved: ResolvedPath) -> Any:
    holder = resource.get(resolved.extension) if resolved.extension else resource
    value = holder.get(resolved.attribute.name) if isinstance(holder, Mapping) else None
    if resolved.sub_attribute is not None:
        value = value.get(resolved.sub_attribute.name) if isinstance(value, Mapping) else None
    return value


def _items(resource: Mapping[str, Any], resolved: ResolvedPath) -> list[Mapping[str, Any]]:
    found = _lookup(resource, ResolvedPath(resolved.schema, resolved.attribute))
    return [item for item in found if isinstance(item, Mapping)] if isinstance(found, list) else []


def _value_filter(node: ValueFilter, scope: ResolvedPath | None, depth: int) -> Predicate:
    if scope is not None:
        raise InvalidFilter("Invalid filter: value filters cannot be nested.")
    outer = resolve_ref(node.attr, None)
    attribute = outer.attribute
    if attribute.type != "complex":
        raise InvalidFilter(f"'{node.attr}' is not a complex attribute: it cannot take a [filter].")
    if not attribute.multi_valued:
        return _node(node.filter, outer, depth + 1)  # name[...]: sub-attributes of the resource
    test = _node(node.filter, outer, depth + 1)
    return lambda resource: any(test(item) for item in _items(resource, outer))


def _comparison(node: Comparison, scope: ResolvedPath | None) -> Predicate:
    if node.op not in ALL_OPS:
        raise InvalidFilter(f"The operator '{node.op}' is not supported.")
    if scope is None and node.attr.uri is None and node.attr.sub is None \
            and node.attr.name.lower() == "schemas":
        return _schemas(node)
    resolved = resolve_ref(node.attr, scope)
    attribute = resolved.attribute
    if attribute.name == "groups":
        if scope is not None and resolved.sub_attribute is None:
            raise InvalidFilter(f"Inside groups[…], compare value or display, not "
                                f"{shown(str(node.attr))}.")
        if scope is None and resolved.sub_attribute is None and node.op == "pr":
            return lambda resource: bool(_items(resource, resolved))
        group_test = _group_test(resolved.sub_attribute, node.op, node.value)
        if scope is not None:
            return group_test
        return lambda resource: any(group_test(item) for item in _items(resource, resolved))
    if scope is None and attribute.multi_valued:
        sub = resolved.sub_attribute
        if sub is None and node.op == "pr":
            return lambda resource: bool(_items(resource, resolved))
        if sub is None:
            # RFC 7644 §3.4.2.2: "emails eq x" compares each email's value.
            sub = attribute.sub("value")
            if sub is None:
                raise InvalidFilter(f"'{attribute.name}' has no 'value': name one of its "
                                    f"sub-attributes in the filter.")
        test, name = _compare(sub, node.op, node.value), sub.name
        return lambda resource: any(test(item.get(name)) for item in _items(resource, resolved))
    if scope is not None and attribute.multi_valued:
        test, name = _compare(resolved.leaf, node.op, node.value), resolved.leaf.name
        return lambda item: test(item.get(name))
    if resolved.leaf.type == "complex":
        if node.op != "pr":
            raise InvalidFilter(f"'{node.attr}' is a complex attribute: compare one of its "
                                f"sub-attributes (e.g. '{attribute.name}."
                                f"{attribute.sub_attributes[0].name}').")
        if attribute.name == "meta":
            return _always
        return lambda resource: _lookup(resource, resolved) is not None
    test = _compare(resolved.leaf, node.op, node.value)
    return lambda resource: test(_lookup(resource, resolved))


def _schemas(node: Comparison) -> Predicate:
    """Test ``schemas``: the core URN, plus each extension the resource holds (URNs ignore case)."""
    if node.op == "pr":
        return _always
    if not isinstance(node.value, str):
        raise InvalidFilter("'schemas' holds URNs: compare it with a quoted string.")
    wanted = node.value.lower()
    if holds(node.op, schema.USER_SCHEMA.lower(), wanted):
        return _always
    present = [extension.id for extension in schema.EXTENSIONS
               if holds(node.op, extension.id.lower(), wanted)]
    return lambda resource: any(resource.get(urn) is not None for urn in present)


def _compare(leaf: Attribute, op: str, value: Any) -> Callable[[Any], bool]:
    """Compile ``leaf op value`` into a test of the attribute's value (None when absent).

    Raises InvalidFilter as ``store.search.compile_comparison`` does (RFC 7644 §3.4.2.2, Table 3).
    """
    kind, name = leaf.type, leaf.name
    if op == "pr":
        if kind in ("string", "reference", "binary"):
            return lambda actual: actual is not None and actual != ""
        return lambda actual: actual is not None
    if value is None:
        # "eq null" / "ne null": RFC 7643 §2.5 treats null as unassigned.
        present = _compare(leaf, "pr", None)
        if op == "eq":
            return lambda actual: not present(actual)
        if op == "ne":
            return present
        raise InvalidFilter(f"'{op} null' is not a valid comparison.")
    if kind == "boolean":
        value = boolean_operand(op, name, value)
        return lambda actual: actual is not None and holds(op, actual, value)
    if kind == "dateTime":
        if op in STRING_OPS:
            raise InvalidFilter(f"'{name}' is a date-time: use eq, ne, gt, ge, lt, le or pr.")
        moment = parse_time(value)
        return lambda actual: (instant := _shown_instant(actual)) is not None \
            and holds(op, instant, moment)
    if not isinstance(value, str):
        raise InvalidFilter(f"'{name}' is a string: compare it with a quoted value.")
    if kind == "binary" and op in ORDERING_OPS:
        raise InvalidFilter(f"'{name}' is binary: gt, ge, lt and le do not apply to it.")
    expected = folded(value, leaf)
    return lambda actual: actual is not None and holds(op, folded(actual, leaf), expected)


def _shown_instant(actual: Any) -> datetime | None:
    """Return the instant a rendered date-time shows, floored to the millisecond, or None."""
    try:
        moment = parse_time(actual)
    except InvalidFilter:
        return None
    return moment - timedelta(microseconds=moment.microsecond % 1000)


__all__ = ["folded", "holds", "matches_resource", "matches_value", "resource_predicate",
           "value_predicate"]
