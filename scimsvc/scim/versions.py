"""Resource versions (RFC 7644 §3.14): weak entity tags and the If-Match / If-None-Match decisions."""
from __future__ import annotations

from ..errors import PreconditionFailed


def etag(version: int) -> str:
    """The weak entity tag of a resource's version."""
    return f'W/"{version}"'


def parse_tags(header: str | None) -> frozenset[str] | None:
    """The entity tags listed in an If-Match or If-None-Match header value (None: no header)."""
    if header is None:
        return None
    return frozenset(tag.strip() for tag in header.split(","))


def check_if_match(tags: frozenset[str] | None, version: int, what: str) -> None:
    """Raise PreconditionFailed (412) unless ``tags`` is None, ``*`` or names ``version``.

    ``W/"n"`` and ``"n"`` both name version n (a weak comparison, RFC 7232 §2.3.2).
    """
    if tags is None or "*" in tags:
        return
    current = etag(version)
    if current not in tags and current[2:] not in tags:
        raise PreconditionFailed(f"{what} is at version {current}.")


def not_modified(tags: frozenset[str] | None, version: int) -> bool:
    """True when If-None-Match's ``tags`` name ``version`` or are ``*`` (RFC 7232 §3.2, weak)."""
    if not tags:
        return False
    current = etag(version)
    return "*" in tags or current in tags or current[2:] in tags
