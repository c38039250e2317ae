"""Query parameters of a list or search (RFC 7644 §3.4.2, §3.4.3) and the ListResponse.

The same ``ListQuery`` comes from a GET query string or a POST ``.search`` body
(SearchRequest).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import InvalidFilter, InvalidSyntax, InvalidValue
from .filters.grammar import shown
from .projection import DEFAULT, Selection, parse_selection
from .resource import dump_user
from .schema import LIST_RESPONSE_SCHEMA

PARAMETERS = ("filter", "sortby", "sortorder", "startindex", "count",
              "attributes", "excludedattributes")


@dataclass(frozen=True)
class ListQuery:
    """What a client asked for: filter, sort, page and attribute selection."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    selection: Selection = DEFAULT


def from_args(args: Mapping[str, str], config: Mapping[str, Any]) -> ListQuery:
    """Read the list parameters of a GET query string (RFC 7644 §3.4.2); names ignore case."""
    found: dict[str, Any] = {}
    for name, value in args.items():
        if name.lower() in PARAMETERS:
            found[name.lower()] = value
    return _build(found, config)


def from_search_request(body: Any, config: Mapping[str, Any]) -> ListQuery:
    """Read a SearchRequest body (RFC 7644 §3.4.3); the same rules as the query string."""
    if not isinstance(body, dict):
        raise InvalidSyntax("The body of a .search request must be a SearchRequest object.")
    found: dict[str, Any] = {}
    for name, value in body.items():
        if isinstance(name, str) and name.lower() in PARAMETERS and value is not None:
            found[name.lower()] = value
    return _build(found, config)


def _build(found: dict[str, Any], config: Mapping[str, Any]) -> ListQuery:
    default_count = int(config["SCIMSVC_DEFAULT_COUNT"])
    max_count = int(config["SCIMSVC_MAX_COUNT"])
    max_filter = int(config.get("SCIMSVC_MAX_FILTER_LENGTH", 10_000))

    text = found.get("filter")
    if text is not None:
        if not isinstance(text, str):
            raise InvalidFilter("'filter' must be a string.")
        if len(text) > max_filter:
            raise InvalidFilter(f"The filter is longer than {max_filter} characters.")

    sort_by = found.get("sortby")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValue("'sortBy' must be an attribute name.")
    if sort_by is not None and not sort_by.strip():
        sort_by = None
    order = found.get("sortorder")
    descending = False
    if order is not None:
        if not isinstance(order, str) or order.strip().lower() not in ("ascending", "descending"):
            raise InvalidValue("'sortOrder' must be 'ascending' or 'descending' "
                               "(RFC 7644 §3.4.2.3).")
        descending = order.strip().lower() == "descending"

    # RFC 7644 §3.4.2.4: startIndex < 1 is taken as 1; a negative count as 0;
    # a count above the maximum published in ServiceProviderConfig is clamped.
    # Past MAX_START_INDEX no page can exist: the index is clamped there, as count is.
    start_index = min(max(_integer(found.get("startindex"), "startIndex", 1), 1), MAX_START_INDEX)
    count = _integer(found.get("count"), "count", default_count)
    count = min(max(count, 0), max_count)

    selection = parse_selection(found.get("attributes"), found.get("excludedattributes"))
    return ListQuery(text, sort_by, descending, start_index, count, selection)


# OFFSET takes a signed 64-bit integer on both databases (a 20-digit startIndex was a 500).
MAX_START_INDEX = 2**63
# Longer digit strings are not converted (Python refuses over 4,300 digits): their
# size alone says they are out of range, so they are read as one just past it.
_MAX_DIGITS = 19


def _integer(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidValue(f"'{name}' must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 5.0 is the JSON number 5
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return default
        sign = text[:1] in "+-"
        digits = text[sign:]
        if digits.isascii() and digits.isdigit():
            if len(digits.lstrip("0")) > _MAX_DIGITS:
                return -(MAX_START_INDEX + 1) if text[0] == "-" else MAX_START_INDEX + 1
            return int(text)
        value = shown(value[:40]) + ("…" if len(value) > 40 else "")
    raise InvalidValue(f"'{name}' must be an integer, not {value!r}.")


def list_response(query: ListQuery, total: int, users: Sequence[Any],
                  location_prefix: str, groups: Mapping[int, Any] | None = None,
                  group_prefix: str = "") -> dict[str, Any]:
    """The ListResponse (RFC 7644 §3.4.2) of a page of users, each rendered and projected.

    ``location_prefix`` + a user's id is its ``meta.location``; ``groups`` maps a
    user's row id to its groups (``dump_user``).
    """
    groups = groups or {}
    resources = [query.selection.apply(dump_user(user, location_prefix + user.scim_id,
                                                 groups.get(user.id), group_prefix))
                 for user in users]
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": query.start_index,
        "Resources": resources,
    }


def resources_response(query: ListQuery, total: int,
                       resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ListResponse (RFC 7644 §3.4.2) of resources already rendered and projected."""
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": query.start_index,
        "Resources": list(resources),
    }


__all__ = ["ListQuery", "from_args", "from_search_request", "list_response", "resources_response"]
