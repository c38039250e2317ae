"""Opaque page cursors: a kind letter and a number, base64url, so clients do not build them."""
from __future__ import annotations

import base64
import binascii

from ..errors import InvalidValue

# The largest number a cursor holds by default: what a signed 64-bit column (SQLite
# INTEGER, PostgreSQL bigint) can be compared with; a larger one would be a 500.
MAX_NUMBER = 2**63 - 1


def encode(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}{number}".encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, what: str, maximum: int = MAX_NUMBER) -> int:
    """The number in ``cursor``; raise InvalidValue unless it is a cursor of ``kind``
    holding a number up to ``maximum``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    digits = text[1:]
    if len(cursor) > 40 or not text.startswith(kind) or not digits.isdigit() \
            or int(digits) > maximum:
        raise InvalidValue(f"'{cursor[:60]}' is not a {what} cursor: pass the 'next' value "
                           "of a previous page.")
    return int(text[1:])
