"""Health for load balancers: is the process alive, is the database ready to serve."""
from __future__ import annotations

import functools

from sqlalchemy.exc import SQLAlchemyError

from ..database import migrate


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[str, frozenset[str]]:
    # The installed revisions do not change while the process runs; reading them
    # parses every revision file, which a probe every few seconds should not repeat.
    return migrate.head_revision(), frozenset(migrate.known_revisions())


def readiness() -> str | None:
    """Return None when the database answers and its schema is at head, else the reason it is not.

    A read of the schema's revision, nothing written: cheap enough for a probe every second.
    """
    head, known = _shipped()
    try:
        current = migrate.current_revision()
    except SQLAlchemyError as error:
        first = str(getattr(error, "orig", None) or error).strip().splitlines()
        return f"The database does not answer: {first[0] if first else type(error).__name__}"
    if current is None:
        return "The database is not initialised: run 'scimsvc init'."
    if current not in known:
        return f"The database is at revision {current}, which this scimsvc does not know (newest: {head})."
    if current != head:
        return f"The database schema is at revision {current}, this scimsvc needs {head}: run 'scimsvc db upgrade'."
    return None
