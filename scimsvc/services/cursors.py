"""Opaque page cursors: a kind letter and a number, base64url, so clients do not build them."""
from __future__ import annotations

import base64
import binascii

from ..errors import InvalidValue


def encode(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}{number}".encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, what: str) -> int:
    """The number in ``cursor``; raise InvalidValue unless it is a cursor of ``kind``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if len(cursor) > 40 or not text.startswith(kind) or not text[1:].isdigit():
        raise InvalidValue(f"'{cursor[:60]}' is not a {what} cursor: pass the 'next' value "
                           "of a previous page.")
    return int(text[1:])
