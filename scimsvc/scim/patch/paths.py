"""PATCH paths (RFC 7644 §3.5.2, Figure 1): parse and resolve what an operation designates.

``parse_path`` resolves ``attr[.sub]``, ``attr[filter][.sub]`` and URN-qualified
paths against ``scimsvc.scim.schema``; a value filter is parsed with the
``?filter=`` grammar and its names resolved against the bracketed attribute.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ...errors import InvalidFilter, InvalidPath
from ..filters.grammar import shown
from ..filters.tree import And, AttrRef, Comparison, Node, Not, Or, ValueFilter, parse_filter
from ..schema import CORE_USER, ENTERPRISE_USER, SCHEMAS, Attribute, ResolvedPath, Schema, resolve, split_urn

_ORDERING = ("gt", "ge", "lt", "le")


def parse_value_filter(text: str, parent: Attribute) -> Node:
    """Parse the filter of ``parent[...]`` and resolve its names against ``parent``'s sub-attributes.

    Uses the same grammar and tree as ``?filter=`` (and binds tighter than or, RFC
    7644 §3.4.2.2); each Comparison of the result names a sub-attribute of
    ``parent`` by its canonical name, as ``filters.evaluate.matches_value`` reads it.
    Raises InvalidFilter for a syntax error, an unknown sub-attribute, a nested
    value filter, or an ordering operator on a boolean or null (RFC 7644 §3.12).
    """
    return _resolve_filter(parse_filter(text), parent)


def _resolve_filter(node: Node, parent: Attribute) -> Node:
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_resolve_filter(item, parent) for item in node.items))
    if isinstance(node, Not):
        return Not(_resolve_filter(node.item, parent))
    if isinstance(node, ValueFilter):
        raise InvalidFilter(f"A value filter cannot contain another ({node.attr}[...]).")
    ref = node.attr
    if ref.uri and ref.uri.lower() != CORE_USER.id.lower():
        raise InvalidFilter(f"Unknown attribute '{shown(str(ref))}' in the {parent.name} filter.")
    name = ref.name
    if ref.sub is not None:  # "emails.type" inside emails[...]
        if name.lower() != parent.name.lower():
            raise InvalidFilter(f"Unknown attribute '{shown(str(ref))}' in the {parent.name} filter.")
        name = ref.sub
    attribute = parent.sub(name)
    if attribute is None:
        raise InvalidFilter(f"Unknown attribute '{shown(str(ref))}' in the {parent.name} filter.")
    if node.op in _ORDERING and (attribute.type == "boolean" or isinstance(node.value, bool)
                                 or node.value is None):
        raise InvalidFilter(f"'{node.op}' cannot compare the boolean or null '{attribute.name}'.")
    return Comparison(AttrRef(None, attribute.name), node.op, node.value)


# ---------------------------------------------------------------------------
# Paths (RFC 7644 §3.5.2, Figure 1: PATH = attrPath / valuePath [subAttr])
# ---------------------------------------------------------------------------

_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$\-]*)(?:\[(?P<filter>.*)\])?(?:\.(?P<sub>[A-Za-z$][\w$\-]*))?$",
    re.DOTALL,
)


@dataclass(frozen=True)
class Target:
    """What an operation's path designates in the document."""

    text: str
    resolved: ResolvedPath | None = None  # None with ``extension``: the whole extension object
    filter: Node | None = None  # resolved by parse_value_filter
    extension: Schema | None = None

    @property
    def attribute(self) -> Attribute:
        assert self.resolved is not None
        return self.resolved.attribute

    @property
    def sub(self) -> Attribute | None:
        return self.resolved.sub_attribute if self.resolved is not None else None


def parse_path(path: Any) -> Target | None:
    """Resolve a PATCH ``path``; None means "the resource itself" (the core schema URN).

    Raises InvalidPath for an unknown attribute or malformed path, InvalidFilter
    for a malformed value filter (RFC 7644 §3.12).
    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidPath("'path' must be a non-empty string.")
    text = path.strip()
    return _cached_path(text) if len(text) <= MAX_CACHED_PATH else _parse_path(text)


# IdPs send the same few paths and resolving them is most of the engine's cost; a bad
# path raises again each time (lru_cache keeps no exceptions). The key is client text
# and an entry grows with it (a 900 KB path held 1.75 MB): only short paths are kept,
# so the cache holds at most 1,024 entries of MAX_CACHED_PATH characters each.
MAX_CACHED_PATH = 256


def _parse_path(text: str) -> Target | None:
    urn, rest = split_urn(text)
    if urn is None and text.lower().startswith("urn:"):
        raise InvalidPath(f"Unknown schema in path {text!r}.")
    schema = SCHEMAS[urn.lower()] if urn else None
    if rest == "":
        if schema is None or schema is CORE_USER:
            return None
        return Target(text, extension=schema)
    match = _PATH.match(rest)
    if match is None:
        raise InvalidPath(f"Malformed path {text!r}.")
    name, filter_text, sub = match.group("attr", "filter", "sub")
    resolved = resolve(urn, name, sub)
    if resolved is None and schema is CORE_USER:
        resolved = resolve(None, name, sub)  # urn:...:core:2.0:User:externalId
    if resolved is None and urn is None and name.lower() == "manager":
        # Entra's older form: the enterprise manager on the unqualified path ``manager``.
        resolved = resolve(ENTERPRISE_USER.id, name, sub)
    if resolved is None:
        raise InvalidPath(f"No attribute {text!r} in the User schemas.")
    parsed_filter = None
    if filter_text is not None:
        if not resolved.attribute.multi_valued or resolved.attribute.type != "complex":
            raise InvalidPath(f"A value filter needs a multi-valued complex attribute: {text!r}.")
        parsed_filter = parse_value_filter(filter_text, resolved.attribute)
    return Target(text, resolved, parsed_filter)


_cached_path = lru_cache(maxsize=1024)(_parse_path)


__all__ = ["Target", "parse_path", "parse_value_filter"]
