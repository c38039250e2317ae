"""What an admin's commands do to accounts beyond SCIM: lock any account, share its teams,
erase its values, and give the erased bytes back (``scimsvc user restore``, ``user purge``).

Not the request path's hot statements: plain Core statements on the connection of the
service's write transaction.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.engine import Connection

from ..database.transactions import release_read_connection
from ..extensions import db
from ..models import User, UserValue, team_members
from .users import UserRecord

_users = User.__table__.c
# SQLite's FTS5 table of value trigrams (migration 0002): deleted rows' trigrams stay in
# its segments, marked deleted, until the segments are merged.
_TRIGRAM_TABLE = "dx_user_values_trigram"


def lock_account(connection: Connection, tenant_id: int, account_id: int) -> UserRecord | None:
    """The tenant's account ``account_id`` (live, removed or purged) for a write; locked on PostgreSQL."""
    row = connection.execute(
        select(*_users).where(_users.id == account_id, _users.tenant_id == tenant_id)
        .with_for_update(of=User.__table__)).first()
    return None if row is None else UserRecord(*row)


def share_teams(connection: Connection, from_id: int, to_id: int) -> None:
    """Give account ``to_id`` every team membership ``from_id`` holds, each with its reason
    (assignment, admin, group:<id>), where ``to_id`` does not already hold it."""
    mine = team_members.alias("mine")
    connection.execute(insert(team_members).from_select(
        ["team_id", "user_id", "reason"],
        select(team_members.c.team_id, literal(to_id), team_members.c.reason).where(
            team_members.c.user_id == from_id,
            ~select(mine.c.team_id).where(
                mine.c.user_id == to_id, mine.c.team_id == team_members.c.team_id,
                mine.c.reason == team_members.c.reason).exists())))


def erase_values(connection: Connection, user_id: int) -> None:
    """Delete every user_values row of the account (their triggers clean the trigram index)."""
    connection.execute(delete(UserValue.__table__).where(UserValue.__table__.c.user_id == user_id))


def reclaim_erased_space() -> dict[str, Any]:
    """Rewrite the database so erased values leave no bytes behind; outside any transaction.

    SQLite keeps deleted rows' bytes in free pages and in the -wal file, and FTS5 keeps
    deleted trigrams until its segments merge: merge them, checkpoint, VACUUM (a fresh
    copy of every page), checkpoint again and truncate the -wal. VACUUM takes the write
    lock for as long as it runs (seconds per hundred MB). PostgreSQL: nothing here (dead
    row versions stay in the table files until VACUUM reuses the space; see docs).
    Returns what was done, for the command to report.
    """
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return {"vacuumed": False}
    # A read transaction of the command (begun as a writer under the CLI) would hold the
    # lock VACUUM needs: end it, as write_transaction does (nothing is pending in it).
    release_read_connection()
    if db.session().in_transaction():
        db.session.commit()
    # On the driver's connection, which the engine left in autocommit: through a SQLAlchemy
    # Connection, the engine's "begin" hook would open a transaction VACUUM cannot run in.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(f"INSERT INTO {_TRIGRAM_TABLE}({_TRIGRAM_TABLE}) VALUES ('optimize')")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            cursor.close()
    finally:
        raw.close()
    return {"vacuumed": True, "wal_truncated": not busy}


__all__ = ["lock_account", "share_teams", "erase_values", "reclaim_erased_space"]
