"""The names people give roles, teams, API keys and organizations."""
from __future__ import annotations

from ..errors import InvalidValue

# The width of the name columns (String(200) in models.py); PostgreSQL enforces it.
MAX_NAME = 200


def clean_name(value: str | None, what: str) -> str:
    """Return ``value`` without surrounding spaces; raise InvalidValue if it is empty or too long.

    ``what`` starts the message, e.g. "A role needs a name." / "A role's name is at most ...".
    """
    name = (value or "").strip()
    if not name:
        raise InvalidValue(f"{what} needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidValue(f"{what} name is at most {MAX_NAME} characters.")
    return name
