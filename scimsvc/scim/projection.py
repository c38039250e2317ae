"""Attribute selection: ``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9).

Applies to every response that returns a User (GET, list, .search, POST, PUT, PATCH).
``attributes`` replaces the default set; ``excludedAttributes`` removes from it.
Either way ``schemas`` and the ``returned: always`` attributes (``id``) come back and
``returned: never`` ones (``password``) never do. Paths are ``attr``, ``attr.sub``,
URN-qualified (``urn:…:enterprise:2.0:User:department``, ``…:User:manager.value``) or a
bare extension URN (the whole extension); names are case-insensitive (RFC 7643 §2.1).
Paths naming no attribute of the schema select nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import InvalidValue
from . import schema as scim_schema

# Selection key: (extension URN or None, attribute name or None for a whole
# extension, sub-attribute name or None for the whole attribute).
_Key = tuple[str | None, str | None, str | None]
# What ``attributes`` keeps, worked out once per request: (extension URN or None,
# attribute name or None for a whole extension, the sub-attributes or None for all).
_Pick = tuple[str | None, str | None, frozenset[str] | None]


@dataclass(frozen=True)
class Selection:
    """The ``attributes`` or ``excludedAttributes`` of one request (at most one is set)."""

    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    _include: tuple[_Pick, ...] = field(default=(), compare=False, repr=False)
    _exclude: tuple[_Key, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_default(self) -> bool:
        return not self.attributes and not self.excluded

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Return ``resource`` reduced to this selection.

        The input is not modified; the result shares the values it keeps whole with
        it (a rendered resource is serialised, never edited).
        """
        if self.attributes:
            return _include(resource, self._include)
        if self.excluded:
            return _exclude(resource, self._exclude)
        return resource


DEFAULT = Selection()


def parse_selection(attributes: Any = None, excluded: Any = None) -> Selection:
    """Build a Selection from the two parameters as sent (comma-separated string or list).

    Raises InvalidValue if a parameter is neither, or if both are given: RFC 7644
    §3.4.2.5 makes them mutually exclusive.
    """
    if attributes is None and excluded is None:
        return DEFAULT  # nearly every request sends neither
    wanted = _names(attributes, "attributes")
    unwanted = _names(excluded, "excludedAttributes")
    if wanted and unwanted:
        raise InvalidValue("'attributes' and 'excludedAttributes' are mutually exclusive "
                           "(RFC 7644 §3.4.2.5): send one of them.")
    return Selection(
        wanted, unwanted,
        _picks(tuple(k for k in map(_key, wanted) if k is not None)),
        tuple(k for k in map(_key, unwanted) if k is not None),
    )


def selection_from_args(args: Mapping[str, str]) -> Selection:
    """Read ``attributes`` / ``excludedAttributes`` from a query string (any letter case)."""
    found: dict[str, str] = {}
    for name, value in args.items():
        lowered = name.lower()
        if lowered in ("attributes", "excludedattributes"):
            found[lowered] = value
    return parse_selection(found.get("attributes"), found.get("excludedattributes"))


def project(resource: dict[str, Any], selection: Selection | None) -> dict[str, Any]:
    """Apply ``selection`` to a rendered resource; the helper every view uses."""
    if selection is None or selection.is_default:
        return resource
    return selection.apply(resource)


def shows(selection: Selection | None, attribute: str) -> bool:
    """Whether a User response with this selection shows the core attribute ``attribute``
    (canonical name), so a value computed apart (``groups``) need not be read otherwise."""
    if selection is None or selection.is_default:
        return True
    if selection.attributes:
        return any(ext is None and attr == attribute for ext, attr, _ in selection._include)
    return not any(ext is None and attr == attribute and sub is None
                   for ext, attr, sub in selection._exclude)


def _names(value: Any, parameter: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = [p for v in value for p in v.split(",")]
    else:
        raise InvalidValue(f"'{parameter}' must be a comma-separated string or a list of "
                           f"attribute names.")
    return tuple(p.strip() for p in parts if p.strip())


def _key(path: str) -> _Key | None:
    """Resolve one attribute path against the User schemas; None if it names nothing."""
    urn, rest = scim_schema.split_urn(path)
    if urn is not None and rest == "":
        return None if urn == scim_schema.USER_SCHEMA else (urn, None, None)
    name, _, sub = rest.partition(".")
    resolved = scim_schema.resolve(urn, name, sub or None)
    if resolved is None and urn == scim_schema.USER_SCHEMA:
        resolved = scim_schema.resolve(None, name, sub or None)  # urn:…:User:id
    if resolved is None:
        return None
    return (resolved.extension, resolved.attribute.name,
            resolved.sub_attribute.name if resolved.sub_attribute else None)


def _always(resource: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("schemas", "id"):
        if name in resource:
            out[name] = resource[name]
    return out


def _picks(keys: tuple[_Key, ...]) -> tuple[_Pick, ...]:
    """Group the wanted sub-attributes per attribute; a whole attribute wins over parts.

    Done once per request, not once per resource of a list page.
    """
    wanted: dict[tuple[str | None, str | None], set[str] | None] = {}
    for ext, attr, sub in keys:
        slot = (ext, attr)
        if sub is None:
            wanted[slot] = None
        elif slot not in wanted:
            wanted[slot] = {sub}
        elif wanted[slot] is not None:
            wanted[slot].add(sub)
    picks: list[_Pick] = []
    for (ext, attr), subs in wanted.items():
        if ext is not None and (ext, None) in wanted and attr is not None:
            continue  # the whole extension is already selected
        if attr is not None and _never(ext, attr):
            continue
        picks.append((ext, attr, frozenset(subs) if subs is not None else None))
    return tuple(picks)


def _include(resource: dict[str, Any], picks: tuple[_Pick, ...]) -> dict[str, Any]:
    out = _always(resource)
    for ext, attr, subs in picks:
        source = resource if ext is None else resource.get(ext)
        if not isinstance(source, dict):
            continue
        if attr is None:
            out[ext] = source
            continue
        if attr not in source:
            continue
        picked = _pick(source[attr], subs)
        if picked is None:
            continue
        target = out if ext is None else out.setdefault(ext, {})
        target[attr] = picked
    return out


def _pick(value: Any, subs: frozenset[str] | None) -> Any:
    if subs is None:
        return value
    if isinstance(value, dict):
        part = {k: v for k, v in value.items() if k in subs}
        return part or None
    if isinstance(value, list):
        items = [{k: v for k, v in item.items() if k in subs}
                 for item in value if isinstance(item, dict)]
        items = [item for item in items if item]
        return items or None
    return None


def _exclude(resource: dict[str, Any], keys: tuple[_Key, ...]) -> dict[str, Any]:
    # Copy only what is edited: the resource itself, an extension object, a value losing a sub-attribute.
    out = dict(resource)
    copied: set[str] = set()
    for ext, attr, sub in keys:
        if ext is None and attr in ("id",):
            continue  # returned: always (RFC 7643 §3.1)
        container = out if ext is None else out.get(ext)
        if not isinstance(container, dict):
            continue
        if attr is None:
            out.pop(ext, None)
            continue
        if ext is not None and ext not in copied:
            container = out[ext] = dict(container)
            copied.add(ext)
        if sub is None:
            container.pop(attr, None)
        else:
            value = container.get(attr)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != sub}
                if value:
                    container[attr] = value
                else:
                    container.pop(attr)
            elif isinstance(value, list):
                kept = [{k: v for k, v in item.items() if k != sub} if isinstance(item, dict) else item
                        for item in value]
                kept = [item for item in kept if item]
                if kept:
                    container[attr] = kept
                else:
                    container.pop(attr)
        if ext is not None and not container:
            out.pop(ext, None)
    return out


def _never(ext: str | None, attr: str) -> bool:
    resolved = scim_schema.resolve(ext, attr)
    return resolved is not None and resolved.attribute.returned == "never"


__all__ = ["DEFAULT", "Selection", "parse_selection", "project", "selection_from_args", "shows"]
