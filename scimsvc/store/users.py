"""User rows and their value rows: read, lock, insert, update, and the removed account a create takes back.

The write path runs prepared statements on the connection of the service's write
transaction; ``read_live_user`` runs on the request's read connection.
"""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import Select, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..database.engine import is_unique_violation
from ..database.prepared import DriverConnection, PreparedQuery, PreparedWrite
from ..database.transactions import driver_connection
from ..errors import Uniqueness
from ..models import MULTI_VALUED, SCIM_SOURCE, User, UserValue, utcnow
from ..scim.schema import fold

_users = User.__table__.c
_user_table = User.__table__
_value_table = UserValue.__table__
# What a read renders: every column but the password hash (RFC 7643 §4.1.1: returned never).
READ_COLUMNS = tuple(c for c in _users if c.key != "password_hash")
_LIVE_USER_ROW = PreparedQuery(select(*READ_COLUMNS).where(
    _users.scim_id == bindparam("scim_id"), _users.tenant_id == bindparam("tenant_id"),
    _users.deleted_at.is_(None),
))


def read_live_user(tenant_id: int, scim_id: str) -> Any | None:
    """The tenant's live user with SCIM id ``scim_id`` as a row of READ_COLUMNS, or None."""
    return _LIVE_USER_ROW.first(driver_connection(), {"scim_id": scim_id, "tenant_id": tenant_id})


@dataclass(slots=True, eq=False)
class UserRecord:
    """A user's ``users`` row as the write path holds it (the columns, in table order)."""

    id: int  # None only for a new user before insert_user writes it
    tenant_id: int
    scim_id: str
    user_name: str
    user_name_norm: str
    external_id: str | None
    active: bool
    display_name: str | None
    given_name: str | None
    family_name: str | None
    data: dict[str, Any]
    password_hash: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    protected: bool
    purged_at: datetime | None
    source: str = "scim"


_COLUMN_KEYS = tuple(c.key for c in _users)
if _COLUMN_KEYS != tuple(f.name for f in fields(UserRecord)):  # rows are read positionally
    raise TypeError(f"UserRecord does not follow the users columns {_COLUMN_KEYS}")

# FOR UPDATE on PostgreSQL, so concurrent writers of one user apply in turn (SQLite's
# compiler drops the clause: BEGIN IMMEDIATE already serialises writers).
_USER_FOR_WRITE = PreparedQuery(select(*_users).where(
    _users.scim_id == bindparam("scim_id"), _users.tenant_id == bindparam("tenant_id"),
    _users.deleted_at.is_(None),
).with_for_update(of=_user_table))
_INSERT_USER = PreparedWrite(insert(_user_table).returning(_users.id))
# SET holds the columns of the parameters given besides row_id: only what changed.
_UPDATE_USER = PreparedWrite(update(_user_table).where(_users.id == bindparam("row_id")))
_INSERT_VALUES = PreparedWrite(insert(_value_table))
# The value-row sync's set-based statements, each one range of one attribute's positions,
# found through ix_user_values_position (user_id, attr, position; migration 0004).
_ROWS_OF = (_value_table.c.user_id == bindparam("row_user_id"),
            _value_table.c.attr == bindparam("row_attr"))
_DELETE_SPAN = PreparedWrite(delete(_value_table).where(
    *_ROWS_OF, _value_table.c.position >= bindparam("row_first"),
    _value_table.c.position < bindparam("row_end")))
_SHIFT_FROM = PreparedWrite(update(_value_table).where(
    *_ROWS_OF, _value_table.c.position >= bindparam("row_first"),
).values(position=_value_table.c.position + bindparam("row_shift")))
_NO_POSITION = 2**31 - 1  # past every position (an INTEGER column on both databases)


def lock_live_user(connection: Connection, tenant_id: int, scim_id: str) -> UserRecord | None:
    """The tenant's live user for a write, locked on PostgreSQL; None if there is none."""
    row = _USER_FOR_WRITE.first(DriverConnection.of(connection),
                                {"scim_id": scim_id, "tenant_id": tenant_id})
    return None if row is None else UserRecord(*row)


def insert_user(connection: Connection, user: UserRecord) -> UserRecord:
    """Write a new user (``id`` None) and its values; ``user`` gets its id and write time."""
    user.created_at = user.updated_at = utcnow()
    row = {key: getattr(user, key) for key in _COLUMN_KEYS if key != "id"}
    driver = DriverConnection.of(connection)
    user.id = _INSERT_USER.execute(driver, row)
    values = value_rows(user.id, user.data)
    if values:
        _INSERT_VALUES.executemany(driver, values)
    return user


def update_user(connection: Connection, user: UserRecord, changes: dict[str, Any]) -> None:
    """Write ``changes`` (column: new value) to the user's row and to ``user``."""
    _UPDATE_USER.execute(DriverConnection.of(connection), {**changes, "row_id": user.id})
    for key, value in changes.items():
        setattr(user, key, value)


@contextlib.contextmanager
def unique_user_name(user_name: Any) -> Iterator[None]:
    """Turn the unique index's verdict on the userName into Uniqueness (409)."""
    try:
        yield
    except IntegrityError as error:
        if is_unique_violation(error):
            raise Uniqueness(f"userName '{user_name}' is already taken.") from None
        raise


def new_user_row(tenant_id: int, document: dict[str, Any], password_hash: str | None,
                 now: datetime, source: str = SCIM_SOURCE) -> dict[str, Any]:
    """The ``users`` row (every column but ``id``) of a new user holding ``document``."""
    return {
        "tenant_id": tenant_id, "scim_id": str(uuid.uuid4()), **projections(document),
        "password_hash": password_hash,
        "version": 1, "created_at": now, "updated_at": now, "deleted_at": None,
        "protected": False, "purged_at": None, "source": source,
    }


def projections(document: dict[str, Any]) -> dict[str, Any]:
    """The document and the SQL projections of it that filters, sorting and uniqueness use."""
    name = document.get("name") or {}
    user_name = document["userName"]
    return {
        "user_name": user_name, "user_name_norm": fold(user_name),
        "external_id": document.get("externalId"), "active": document.get("active", True),
        "display_name": document.get("displayName"), "given_name": name.get("givenName"),
        "family_name": name.get("familyName"), "data": document,
    }


def value_rows(user_id: int, document: dict[str, Any],
               attrs: Sequence[str] = MULTI_VALUED) -> list[dict[str, Any]]:
    """The user_values rows of ``attrs`` in ``document``, so filters can reach them in SQL."""
    rows = []
    for attr in attrs:
        for position, item in enumerate(document.get(attr) or ()):
            value = item.get("value")
            if value is None and attr == "addresses":
                value = item.get("formatted")
            rows.append({
                "user_id": user_id, "attr": attr, "position": position, "type": item.get("type"),
                "primary": item.get("primary"), "value": value,
                "value_norm": fold(value) if isinstance(value, str) else None,
                "display": item.get("display"), "item": item,
            })
    return rows


def sync_values(connection: Connection, user_id: int, before: dict[str, Any],
                after: dict[str, Any]) -> None:
    """Make the user's user_values rows, which follow ``before``, follow ``after``.

    Per changed attribute, the values both lists start and end with stay where
    they are: one DELETE takes the old values between them, one UPDATE moves the
    common tail to its new positions (no value is rewritten, so the trigram
    index's triggers do not fire for it) and one executemany INSERT writes the
    new values between them. Appending or replacing one value of a 1,000-value
    list so deletes and inserts at most one row; removing or inserting one in the
    middle also moves the values after it with one UPDATE of their position. Each
    statement reaches its rows through a range of ix_user_values_position
    (migration 0004), not a scan of the attribute's rows.
    """
    attrs = [attr for attr in MULTI_VALUED if before.get(attr) != after.get(attr)]
    if not attrs:
        return
    driver = DriverConnection.of(connection)
    added: list[dict[str, Any]] = []
    for attr in attrs:
        old = value_rows(user_id, before, (attr,))
        new = value_rows(user_id, after, (attr,))
        head = _common_head(old, new)
        tail = _common_tail(old[head:], new[head:])
        where = {"row_user_id": user_id, "row_attr": attr}
        old_end, new_end = len(old) - tail, len(new) - tail
        where_before = True  # the rows are where ``before`` says, as far as the counts tell
        if head < old_end:
            where_before = _DELETE_SPAN.execute(
                driver, {**where, "row_first": head, "row_end": old_end}) == old_end - head
        if where_before and tail and new_end != old_end:
            where_before = _SHIFT_FROM.execute(
                driver, {**where, "row_first": old_end, "row_shift": new_end - old_end}) == tail
        if not where_before:
            # Rows not where ``before`` says (written by an older scimsvc?): rewrite the list.
            _DELETE_SPAN.execute(driver, {**where, "row_first": 0, "row_end": _NO_POSITION})
            added.extend(new)
        else:
            added.extend(new[head:new_end])
    if added:
        _INSERT_VALUES.executemany(driver, added)


def _common_head(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> int:
    count = 0
    for a, b in zip(old, new):
        if a["item"] != b["item"]:  # every other column follows from item
            break
        count += 1
    return count


def _common_tail(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> int:
    count = 0
    for a, b in zip(reversed(old), reversed(new)):
        if a["item"] != b["item"]:  # every other column follows from item
            break
        count += 1
    return count


_REMOVED = (_users.tenant_id == bindparam("tenant_id"), _users.deleted_at.is_not(None))
_LATEST_REMOVED_FIRST = (_users.deleted_at.desc(), _users.id.desc())


def _latest_removed(match: Any) -> Select:
    return select(_users.id).where(*_REMOVED, match).order_by(*_LATEST_REMOVED_FIRST).limit(1)


_by_external_id = _latest_removed(_users.external_id == bindparam("external_id"))
# FOR UPDATE on PostgreSQL, so two concurrent creates cannot both restore the account:
# the second waits, then PostgreSQL checks the outer conditions again on the row the
# first committed, which is no longer removed (hence _STILL_REMOVED outside the subquery;
# without tenant_id, which would lead SQLite's planner to walk ix_users_tenant_live).
_STILL_REMOVED = _users.deleted_at.is_not(None)
# One probe of ix_users_removed_external_id (migration 0003).
_RETURNING_BY_EXTERNAL_ID = PreparedQuery(
    select(*_users).where(_STILL_REMOVED, _users.id.in_(_by_external_id.scalar_subquery()))
    .with_for_update(of=_user_table))
# One probe of ix_users_removed_name: the removed account a create with this userName
# does not take back, named in that create's journal event.
_REMOVED_BY_NAME = PreparedQuery(
    select(_users.scim_id).where(*_REMOVED, _users.user_name_norm == bindparam("user_name_norm"))
    .order_by(*_LATEST_REMOVED_FIRST).limit(1))


def returning_account(connection: Connection, tenant_id: int,
                      external_id: str | None) -> UserRecord | None:
    """The removed account a new user with this externalId takes back, if any.

    Only the externalId, the IdP's own identifier for a person, brings an account
    back: a userName (an e-mail address) is reused for other people. The most
    recently removed match wins; ties go to the newest account. Locked on
    PostgreSQL, so two concurrent creates cannot both restore it.
    """
    if not external_id:
        return None
    row = _RETURNING_BY_EXTERNAL_ID.first(DriverConnection.of(connection),
                                          {"tenant_id": tenant_id, "external_id": external_id})
    return None if row is None else UserRecord(*row)


def removed_with_user_name(connection: Connection, tenant_id: int,
                           user_name_norm: str) -> str | None:
    """The SCIM id of the most recently removed account with this (folded) userName, if any."""
    row = _REMOVED_BY_NAME.first(DriverConnection.of(connection),
                                 {"tenant_id": tenant_id, "user_name_norm": user_name_norm})
    return None if row is None else row.scim_id
