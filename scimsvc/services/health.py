"""Health: is the database ready to serve (for load balancers), are its files private (for serve)."""
from __future__ import annotations

import functools
import os
import stat

from sqlalchemy.exc import SQLAlchemyError

from ..database import migrate
from ..extensions import db


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


def files_open_to_others(instance_path: str) -> list[tuple[str, int]]:
    """List the instance folder and SQLite files that other users may read: (path, mode) pairs.

    The database holds key and password hashes; its folder should be 0700 and the
    database, -wal and -shm files 0600 (what ``scimsvc init`` creates).
    """
    paths = [instance_path]
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = os.path.abspath(url.database)
        paths += [database, f"{database}-wal", f"{database}-shm"]
    found = []
    for path in paths:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append((path, mode))
    return found
