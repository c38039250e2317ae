"""What an admin's commands do to accounts beyond SCIM: lock any account, move its group
memberships, erase its values, and give the erased bytes back (``scimsvc user restore``, ``user purge``).

Not the request path's hot statements: plain Core statements on the connection of the
service's write transaction.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.engine import Connection

from ..database.transactions import release_read_connection
from ..extensions import db
from ..models import Group, User, UserValue, group_members
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


def move_group_memberships(connection: Connection, from_id: int, to_id: int) -> list[tuple[int, str]]:
    """Make account ``to_id`` a member of every group ``from_id`` is in, and ``from_id`` of
    none; returns those groups as (id, SCIM id)."""
    gm = group_members.c
    groups = [tuple(r) for r in connection.execute(
        select(Group.id, Group.scim_id).join(group_members, gm.group_id == Group.id)
        .where(gm.user_id == from_id).order_by(Group.id))]
    if not groups:
        return []
    mine = group_members.alias("mine")
    connection.execute(insert(group_members).from_select(
        ["group_id", "user_id"],
        select(gm.group_id, literal(to_id)).where(
            gm.user_id == from_id,
            ~select(mine.c.group_id).where(mine.c.user_id == to_id,
                                           mine.c.group_id == gm.group_id).exists())))
    connection.execute(delete(group_members).where(gm.user_id == from_id))
    return groups


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


__all__ = ["lock_account", "move_group_memberships", "erase_values", "reclaim_erased_space"]
