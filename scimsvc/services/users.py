"""Provisioned users: create, read, replace and remove the SCIM User resources of a tenant.

The SCIM views call these with documents already read by the marshmallow layer
(``scimsvc.scim.resource``); the functions own their transactions and raise
``ScimError`` subclasses for the protocol's failure cases.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Iterator, Sequence

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .. import dialect
from ..errors import InvalidValue, PreconditionFailed, ResourceNotFound, Uniqueness
from ..extensions import db, driver_connection, read_connection
from ..models import User, UserBucket, UserValue, team_members, utcnow
from ..prepared import DriverConnection, PreparedQuery
from ..prepared_writes import PreparedWrite
from ..scim.patch import apply_patch, check_immutable
from ..scim.resource import load_document
from . import audit, lifecycle
from .provisioning import recreate_policy

# Multi-valued attributes copied into user_values so filters can reach them in SQL.
MULTI_VALUED = ("emails", "phoneNumbers", "ims", "photos", "addresses",
                "entitlements", "roles", "x509Certificates")


def fold(value: str) -> str:
    """Normalise a case-insensitive string (RFC 7643 §2.3.1 caseExact=false) for storage and lookup."""
    return value.lower()


def hash_password(password: str) -> str:
    """Hash a SCIM password with scrypt (RFC 7643 §4.1.1: never stored in cleartext)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


_users = User.__table__.c
# What a read renders: every column but the password hash (RFC 7643 §4.1.1: returned never).
_READ_COLUMNS = tuple(c for c in _users if c.key != "password_hash")
_LIVE_USER_ROW = PreparedQuery(select(*_READ_COLUMNS).where(
    _users.scim_id == bindparam("scim_id"), _users.tenant_id == bindparam("tenant_id"),
    _users.deleted_at.is_(None),
))


def read_user(tenant_id: int, scim_id: str) -> Any:
    """``get_user`` for a read: the user's columns as a row, without an ORM object.

    Serves GET /Users/{id} (RFC 7644 §3.4.1), which changes nothing, with one
    prepared query on the request's read connection: the ORM session's begin, load
    and close were two thirds of its CPU (make bench profile). 404 as get_user.
    """
    user = _LIVE_USER_ROW.first(driver_connection(), {"scim_id": scim_id, "tenant_id": tenant_id})
    if user is None:
        raise ResourceNotFound(f"User {scim_id} not found.")
    audit.note_target(user)
    return user


@dataclass(slots=True, eq=False)
class UserRecord:
    """A user's ``users`` row as the write path holds it (the columns, in table order).

    Writers read the row, change it here and write what changed with one Core
    statement on the session's connection: building, tracking and flushing ORM
    entities was a third of a POST's and a PATCH's CPU (in-process profile). Views
    render it like ``read_user``'s row (scim_id, data, created_at, updated_at, version).
    """

    id: int  # None only for a new user before _insert writes it
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


_COLUMN_KEYS = tuple(c.key for c in _users)
if _COLUMN_KEYS != tuple(f.name for f in fields(UserRecord)):  # rows are read positionally
    raise TypeError(f"UserRecord does not follow the users columns {_COLUMN_KEYS}")

_user_table = User.__table__
_value_table = UserValue.__table__
# A writer's read of the row it changes: FOR UPDATE on PostgreSQL, so that concurrent
# writers of one user apply in turn (SQLite's compiler drops the clause; there BEGIN
# IMMEDIATE already serialises writers, see dialect.py). Prepared, run on the session's
# connection: Connection.execute's set-up was most of its CPU, as for read_user.
_USER_FOR_WRITE = PreparedQuery(select(*_users).where(
    _users.scim_id == bindparam("scim_id"), _users.tenant_id == bindparam("tenant_id"),
    _users.deleted_at.is_(None),
).with_for_update(of=_user_table))
# The writes run as PreparedWrite on the session's connection (scimsvc.prepared_writes).
_INSERT_USER = PreparedWrite(insert(_user_table).returning(_users.id))
# SET holds the columns of the parameters given besides row_id: only what changed.
_UPDATE_USER = PreparedWrite(update(_user_table).where(_users.id == bindparam("row_id")))
_INSERT_VALUES = PreparedWrite(insert(_value_table))
_DELETE_VALUES = delete(_value_table).where(
    _value_table.c.user_id == bindparam("user_id"),
    _value_table.c.attr.in_(bindparam("attrs", expanding=True)),
)
_VALUE_AT = (_value_table.c.user_id == bindparam("row_user_id"),
             _value_table.c.attr == bindparam("row_attr"),
             _value_table.c.position == bindparam("row_position"))
_VALUE_FIELDS = ("type", "primary", "value", "value_norm", "display", "item")
_UPDATE_VALUE = PreparedWrite(update(_value_table).where(*_VALUE_AT))
_DELETE_VALUE = PreparedWrite(delete(_value_table).where(
    _value_table.c.user_id == bindparam("user_id"), _value_table.c.attr == bindparam("attr"),
    _value_table.c.position == bindparam("position")))
_IS_MEMBER = PreparedQuery(select(team_members.c.team_id).where(
    team_members.c.team_id == bindparam("team_id"), team_members.c.user_id == bindparam("user_id")))
_JOIN_TEAM = PreparedWrite(insert(team_members))


def get_user(tenant_id: int, scim_id: str, connection: Connection | None = None) -> UserRecord:
    """Return the tenant's live user with SCIM id ``scim_id`` for a write; 404 otherwise (RFC 7644 §3.4.1).

    Runs in the session's (writing) transaction, on ``connection`` if given (the
    session's), and locks the row on PostgreSQL.
    """
    connection = connection if connection is not None else db.session.connection()
    row = _USER_FOR_WRITE.first(DriverConnection.of(connection),
                                {"scim_id": scim_id, "tenant_id": tenant_id})
    if row is None:
        raise ResourceNotFound(f"User {scim_id} not found.")
    user = UserRecord(*row)
    audit.note_target(user)
    return user


def _live_by(column: Any) -> PreparedQuery:
    return PreparedQuery(select(*_READ_COLUMNS).where(
        _users.tenant_id == bindparam("tenant_id"), column == bindparam("value"),
        _users.deleted_at.is_(None),
    ).order_by(_users.id).limit(bindparam("limit")))


# Both served by an index: uq_users_tenant_username (live users) and ix_users_tenant_external_id.
_LIVE_BY = {"userName": (_live_by(_users.user_name_norm), fold),
            "externalId": (_live_by(_users.external_id), None)}


def find_users(tenant_id: int, attribute: str, value: str, limit: int) -> list[Any]:
    """The first ``limit`` live users (in id order) whose userName or externalId is ``value``.

    The lookup an IdP sends before every create (``filter=userName eq "…"``),
    as ``search_users`` would answer it (userName ignoring case, externalId
    exactly), with one prepared query: building and compiling the general
    filter's statement was most of a lookup's CPU (make bench profile).
    """
    query, normalise = _LIVE_BY[attribute]
    return query.all(driver_connection(), {
        "tenant_id": tenant_id, "value": normalise(value) if normalise else value, "limit": limit})


def search_users(tenant_id: int, where: Any = None, order_by: Sequence[Any] = (), *,
                 offset: int = 0, limit: int) -> tuple[int, list[Any]]:
    """Count and page the tenant's live users matching ``where`` (RFC 7644 §3.4.2).

    ``where`` is a boolean SQL expression over User (``scimsvc.scim.filters``),
    ``order_by`` the sort terms (users.id is always appended, so the order is total
    and pages neither skip nor repeat a user). Returns (totalResults, the page as
    rows with ``read_user``'s columns). An unfiltered list in the default order is
    paged through the per-bucket counts (``_page_in_id_order``); any other runs one
    page query (unless ``limit`` is 0) and one COUNT (unless the first page was not
    full, which makes its length the total), both on the request's read connection.
    Removed users (``deleted_at`` set) are never part of the result.
    """
    if where is None and not order_by:
        return _page_in_id_order(tenant_id, offset, limit)
    connection = read_connection()
    conditions = [_users.tenant_id == tenant_id, _users.deleted_at.is_(None)]
    if where is not None:
        conditions.append(where)
    users: list[Any] = []
    if limit != 0:
        page = (select(*_READ_COLUMNS).where(*conditions).order_by(*order_by, _users.id)
                .offset(offset).limit(limit))
        users = connection.execute(page).all()
        if offset == 0 and len(users) < limit:
            # A first page with room left holds every match: no COUNT. This is an IdP's
            # lookup before each create (make bench: one query instead of two).
            return len(users), users
    total = connection.scalar(select(func.count()).select_from(User.__table__).where(*conditions))
    return total or 0, users


# user_buckets (kept by triggers, see dialect.py): the live users of a tenant per block of ids.
_LIVE_TOTAL = PreparedQuery(select(func.coalesce(func.sum(UserBucket.live), 0).label("total"))
                            .where(UserBucket.tenant_id == bindparam("tenant_id")))
_running = select(
    UserBucket.bucket, UserBucket.live,
    (func.sum(UserBucket.live).over(order_by=UserBucket.bucket) - UserBucket.live).label("before"),
).where(UserBucket.tenant_id == bindparam("tenant_id")).subquery()
_BUCKET_AT = PreparedQuery(select(_running.c.bucket, _running.c.before)
                           .where(_running.c.before + _running.c.live > bindparam("offset"))
                           .order_by(_running.c.bucket).limit(1))
_PAGE_FROM = PreparedQuery(
    select(*_READ_COLUMNS)
    .where(_users.tenant_id == bindparam("tenant_id"), _users.deleted_at.is_(None),
           _users.id >= bindparam("first_id"))
    .order_by(_users.id).offset(bindparam("skip")).limit(bindparam("limit")))


def _page_in_id_order(tenant_id: int, offset: int, limit: int) -> tuple[int, list[Any]]:
    """``search_users`` for an unfiltered list in the default (id) order, at any depth.

    COUNT and OFFSET both read every user before the page (make bench: 125 ms each for
    the last page of 1.1M users); the per-bucket counts give the total and the block of
    ids holding user number ``offset``, so the page query skips fewer than
    BUCKET_SIZE users. Same result as the general path, startIndex semantics included.
    The three are prepared queries: an IdP's import walks every page of this list, and
    SQLAlchemy's result handling was a quarter of a page's CPU (make bench profile).
    """
    driver = driver_connection()
    params = {"tenant_id": tenant_id}
    total = _LIVE_TOTAL.first(driver, params).total
    if limit == 0 or offset >= total:
        return total, []
    at = _BUCKET_AT.first(driver, {**params, "offset": offset})
    if at is None:
        return total, []  # users removed since the total was read
    first_id = at.bucket * dialect.BUCKET_SIZE
    return total, _PAGE_FROM.all(driver, {**params, "first_id": first_id,
                                           "skip": offset - at.before, "limit": limit})


def check_version(user: User, if_match: str | None) -> None:
    """Enforce ``If-Match`` (RFC 7644 §3.14): 412 unless it names the current version."""
    if if_match is None:
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    if "*" in wanted:
        return
    current = etag(user)
    strong = current[2:]  # W/"n" compared weakly, as RFC 7232 §2.3.2 allows for If-Match here
    if current not in wanted and strong not in wanted:
        raise PreconditionFailed(f"User {user.scim_id} is at version {current}.")


def not_modified(user: User, if_none_match: str | None) -> bool:
    """True when ``If-None-Match`` names the current version (RFC 7644 §3.14, RFC 7232 §3.2).

    Compared weakly, as RFC 7232 requires for If-None-Match.
    """
    if not if_none_match:
        return False
    tags = {tag.strip() for tag in if_none_match.split(",")}
    current = etag(user)
    return "*" in tags or current in tags or current[2:] in tags


def etag(user: User) -> str:
    """The weak entity tag of the user's current version (RFC 7644 §3.14)."""
    return f'W/"{user.version}"'


def create_user(tenant_id: int, document: dict[str, Any], password: str | None) -> UserRecord:
    """Create a user from a canonical document (RFC 7644 §3.3).

    Raises Uniqueness (409) when a live user of the tenant has the same userName,
    ignoring case; the unique index decides, so concurrent creates cannot both win.
    When the userName or externalId is a removed user's and the organization's
    policy is ``restore``, that account comes back instead (``_restore``).
    """
    # A create that fails before it has an id is journaled under the userName it asked for.
    audit.note_target_name(document["userName"])
    # Prepared before the first statement, which takes SQLite's write lock (BEGIN IMMEDIATE),
    # so that other writers wait less: scrypt alone is ~65 ms of CPU (unused on a restore).
    password_hash = hash_password(password) if password is not None else None
    new = UserRecord(id=None, **new_user_row(tenant_id, document, password_hash, utcnow()))
    created = audit.diff({}, audit.snapshot(new), password_changed=password is not None)
    connection = db.session.connection()
    on_recreate, team_id = recreate_policy(connection, tenant_id)
    returning = None
    if on_recreate == "restore":
        returning = lifecycle.returning_account(connection, tenant_id, fold(document["userName"]),
                                                document.get("externalId"))
    with _unique_user_name(document):
        if returning is not None:
            user, changes = _restore(connection, UserRecord(*returning), document, password_hash)
        else:
            user, changes = _insert(connection, new), created
        if team_id is not None:
            _join_team(connection, team_id, user.id, may_be_member=returning is not None)
        audit.record(user, "restore" if returning is not None else "create", 201, changes,
                     connection=connection)
        db.session.commit()
    return user


def _restore(connection: Connection, user: UserRecord, document: dict[str, Any],
             password_hash: str | None) -> tuple[UserRecord, dict]:
    """Bring a removed account back as a new SCIM resource holding ``document``.

    The account (``users.id``), its team memberships and what references it are
    kept; it gets a new SCIM id, so the removed resource stays gone (RFC 7644
    §3.6). An old password does not come back with it.
    """
    before, old_id, old_data = audit.snapshot(user), user.scim_id, user.data
    now = utcnow()
    _update(connection, user, {
        **_projections(document),
        "scim_id": str(uuid.uuid4()), "deleted_at": None,
        "password_hash": password_hash,
        "created_at": now, "updated_at": now, "version": user.version + 1,
    })
    _sync_values(connection, user.id, old_data, document)
    changes = {"id": {"old": old_id, "new": user.scim_id},
               **audit.diff(before, audit.snapshot(user),
                            password_changed=password_hash is not None)}
    return user, changes


def replace_user(tenant_id: int, scim_id: str, document: dict[str, Any], password: str | None,
                 if_match: str | None = None) -> UserRecord:
    """Replace a user's attributes with ``document`` (RFC 7644 §3.5.1).

    ``document`` comes from ``resource.load_user``, which already dropped the
    readOnly values (id, meta, groups) a client may echo back. Raises
    PreconditionFailed (412) on a stale If-Match, Mutability when an immutable
    attribute would change, Uniqueness (409) when the userName is taken.
    """
    password_hash = hash_password(password) if password is not None else None  # before the lock
    connection = db.session.connection()
    user = get_user(tenant_id, scim_id, connection)
    check_version(user, if_match)
    check_immutable(user.data, document)
    save_document(user, document, password_hash, connection=connection)
    return user


def patch_user(tenant_id: int, scim_id: str, operations: Any,
               if_match: str | None = None) -> UserRecord:
    """Apply a PatchOp request body to a user (RFC 7644 §3.5.2), all operations or none.

    The engine works on a copy; the result is read again through the marshmallow
    layer, so PATCH stores exactly what a POST of the same values would. A PATCH
    that changes nothing keeps the version. Raises the engine's errors
    (invalidSyntax, invalidPath, invalidFilter, noTarget, mutability,
    invalidValue), PreconditionFailed (412) and Uniqueness (409).
    """
    hashed_ahead = _hash_patched_password(operations)  # before the write lock
    connection = db.session.connection()
    user = get_user(tenant_id, scim_id, connection)
    check_version(user, if_match)
    result = apply_patch(user.data, operations)
    document = load_document(result.document)
    password = document.pop("password", None) or result.password
    user_name = document.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required and must be a non-empty string.")
    check_immutable(user.data, document)
    password_hash = None
    if password is not None:
        password_hash = hashed_ahead[1] if hashed_ahead and hashed_ahead[0] == password \
            else hash_password(password)
    save_document(user, document, password_hash, operation="patch", connection=connection,
                  clear_password=result.password_removed and user.password_hash is not None)
    return user


def _hash_patched_password(operations: Any) -> tuple[str, str] | None:
    """(password, its hash) for a PATCH that sets a password, worked out before the write lock.

    scrypt is ~65 ms of CPU; hashed inside the transaction it held SQLite's one write
    lock that long, stalling every other writer (an IdP rotating passwords in bulk).
    A password never comes from the stored document (it is not stored), so the
    operations applied to an empty one yield it; ``patch_user`` uses the hash only if
    the real application produced the same password, and hashes under the lock
    otherwise (or if the operations only apply to the stored user).
    """
    if "password" not in json.dumps(operations, default=str).lower():  # most PATCHes: no dry run
        return None
    try:
        password = apply_patch({}, operations).password
    except Exception:  # noqa: BLE001 - only a head start: the real application reports errors
        return None
    return (password, hash_password(password)) if isinstance(password, str) else None


def save_document(user: UserRecord, document: dict[str, Any], password_hash: str | None, *,
                  operation: str = "replace", clear_password: bool = False,
                  connection: Connection | None = None) -> None:
    """Store a new document for an existing user and bump its version, if anything changed.

    ``password_hash`` (``hash_password`` of a new password) replaces the stored
    one; ``clear_password`` removes it (PATCH remove). Only the columns and
    user_values rows that changed are written, in one UPDATE of the user and at
    most one statement per kind for its values. The request is journaled as
    ``operation`` (``replace`` for PUT, ``patch`` for PATCH), or
    ``disable``/``enable`` when it turned ``active`` off/on — an unchanged
    document too, with an empty diff.
    """
    connection = connection if connection is not None else db.session.connection()
    before, old_data = audit.snapshot(user), user.data
    changes: dict[str, Any] = {}
    if document != old_data:
        changes = {key: value for key, value in _projections(document).items()
                   if value != getattr(user, key)}
        changes["data"] = document
    if password_hash is not None:
        changes["password_hash"] = password_hash
    elif clear_password:
        changes["password_hash"] = None
    with _unique_user_name(document):
        if changes:
            _update(connection, user, {**changes, "version": user.version + 1, "updated_at": utcnow()})
            if "data" in changes:
                _sync_values(connection, user.id, old_data, document)
        after = audit.snapshot(user)
        audit.record(user, audit.update_operation(operation, before, after), 200,
                     audit.diff(before, after,
                                password_changed=password_hash is not None or clear_password),
                     connection=connection)
        db.session.commit()


def delete_user(tenant_id: int, scim_id: str, if_match: str | None = None) -> UserRecord:
    """Remove a user (RFC 7644 §3.6): the SCIM resource is gone, the account stays."""
    connection = db.session.connection()
    user = get_user(tenant_id, scim_id, connection)
    check_version(user, if_match)
    _update(connection, user, {"deleted_at": utcnow(), "version": user.version + 1})
    audit.record(user, "remove", 204, {}, connection=connection)
    db.session.commit()
    return user


@contextlib.contextmanager
def _unique_user_name(document: dict[str, Any]) -> Iterator[None]:
    """Turn the unique index's verdict on the userName into 409 (the transaction rolls back)."""
    try:
        yield
    except IntegrityError as error:
        db.session.rollback()
        if dialect.is_unique_violation(error):
            raise Uniqueness(f"userName '{document.get('userName')}' is already taken.") from None
        raise


def _insert(connection: Connection, user: UserRecord) -> UserRecord:
    """Write a new user (``id`` None) and its values; ``user`` gets its id and write time."""
    user.created_at = user.updated_at = utcnow()
    row = {key: getattr(user, key) for key in _COLUMN_KEYS if key != "id"}
    driver = DriverConnection.of(connection)
    user.id = _INSERT_USER.execute(driver, row)
    values = value_rows(user.id, user.data)
    if values:
        _INSERT_VALUES.executemany(driver, values)
    return user


def _update(connection: Connection, user: UserRecord, changes: dict[str, Any]) -> None:
    """Write ``changes`` (column: new value) to the user's row and to ``user``."""
    _UPDATE_USER.execute(DriverConnection.of(connection), {**changes, "row_id": user.id})
    for key, value in changes.items():
        setattr(user, key, value)


def _join_team(connection: Connection, team_id: int, user_id: int, *, may_be_member: bool) -> None:
    params = {"team_id": team_id, "user_id": user_id}
    if may_be_member and _IS_MEMBER.first(
            DriverConnection.of(connection), params) is not None:
        return
    _JOIN_TEAM.execute(DriverConnection.of(connection), params)


def new_user_row(tenant_id: int, document: dict[str, Any], password_hash: str | None,
                 now: datetime) -> dict[str, Any]:
    """The ``users`` row (every column but ``id``) of a new user holding ``document``."""
    return {
        "tenant_id": tenant_id, "scim_id": str(uuid.uuid4()), **_projections(document),
        "password_hash": password_hash,
        "version": 1, "created_at": now, "updated_at": now, "deleted_at": None,
    }


def _projections(document: dict[str, Any]) -> dict[str, Any]:
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


def _sync_values(connection: Connection, user_id: int, before: dict[str, Any],
                 after: dict[str, Any]) -> None:
    """Make the user's user_values rows, which follow ``before``, follow ``after``.

    Only the rows that differ are written, each as an UPDATE in place where it can
    be: every row written also feeds the trigram index's triggers (dialect.py),
    and an Entra PATCH changes one value of one list (in-process profile: deleting
    and inserting the unchanged rows was a fifth of such a PATCH's CPU).
    """
    attrs = [attr for attr in MULTI_VALUED if before.get(attr) != after.get(attr)]
    if not attrs:
        return
    old = {(row["attr"], row["position"]): row for row in value_rows(user_id, before, attrs)}
    new = {(row["attr"], row["position"]): row for row in value_rows(user_id, after, attrs)}
    updates = [{**{name: row[name] for name in _VALUE_FIELDS},
                "row_user_id": user_id, "row_attr": key[0], "row_position": key[1]}
               for key, row in new.items() if key in old and old[key] != row]
    driver = DriverConnection.of(connection)
    if updates and _UPDATE_VALUE.executemany(driver, updates) != len(updates):
        # Rows not where ``before`` says (written by an older scimsvc?): rewrite the lists.
        connection.execute(_DELETE_VALUES, {"user_id": user_id, "attrs": attrs})
        _INSERT_VALUES.executemany(driver, list(new.values()))
        return
    gone = [{"user_id": user_id, "attr": key[0], "position": key[1]} for key in old if key not in new]
    if gone:
        _DELETE_VALUE.executemany(driver, gone)
    added = [row for key, row in new.items() if key not in old]
    if added:
        _INSERT_VALUES.executemany(driver, added)
