"""Provisioned users: create, read, list, replace, patch and remove a tenant's SCIM User resources.

Documents arrive already read by the marshmallow layer (``scim.resource``). Each
write is one write transaction, journaled inside it; errors are ``scimsvc.errors``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

from ..database.transactions import write_transaction
from ..errors import InvalidValue, NotFound
from ..models import SCIM_SOURCE, utcnow
from ..scim.filters.grammar import shown
from ..scim.filters.tree import indexed_equality, parse_filter
from ..scim.listing import ListQuery
from ..scim.patch.engine import apply_patch
from ..scim.resource import Limits, check_immutable, check_limits, load_document
from ..scim.schema import PATCH_OP_SCHEMA, fold
from ..scim.versions import check_if_match
from ..store import search
from ..store import settings as settings_store
from ..store import users as store
from ..store.users import UserRecord
from . import audit, events, memberships
from .lifecycle import check_protected

Tags = frozenset[str] | None
# The key of a create's journal diff naming a removed account with the same userName,
# which the create did not take back (its externalId differs, or it has none).
REMOVED_ACCOUNT = "removedAccount"


def hash_password(password: str) -> str:
    """Hash a SCIM password with scrypt (RFC 7643 §4.1.1: never stored in cleartext)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def read_user(tenant_id: int, scim_id: str) -> Any:
    """The tenant's live user ``scim_id`` as a row of its rendered columns (RFC 7644 §3.4.1).

    Raises NotFound (404).
    """
    user = store.read_live_user(tenant_id, scim_id) if _may_exist(scim_id) else None
    if user is None:
        raise NotFound(f"User {shown(scim_id)} not found.")
    audit.note_target(user)
    return user


def list_users(tenant_id: int, query: ListQuery, location_prefix: str) -> tuple[int, list[Any]]:
    """Run a list or search (RFC 7644 §3.4.2): (totalResults, the page's users).

    ``location_prefix`` is what every ``meta.location`` starts with. Raises
    InvalidFilter for a bad filter and InvalidValue for a bad sortBy.
    """
    tree = None
    if query.filter is not None and query.filter.strip():
        tree = parse_filter(query.filter)
    if tree is not None and query.sort_by is None and query.start_index == 1 and query.count > 0:
        equality = indexed_equality(tree)
        if equality is not None:  # the lookup an IdP sends before every create
            users = search.find_users(tenant_id, *equality, limit=query.count)
            total = len(users)
            if total == query.count:  # a full page: only a COUNT can tell the total
                total, _ = search.search_users(tenant_id, tree, location_prefix=location_prefix,
                                               limit=0)
            return total, users
    return search.search_users(tenant_id, tree, query.sort_by, query.descending,
                               location_prefix=location_prefix, offset=query.start_index - 1,
                               limit=query.count)


def _may_exist(scim_id: str) -> bool:
    # PostgreSQL refuses NUL in any text parameter (a 500 before); no id holds one.
    return "\x00" not in scim_id


def _locked_user(connection: Any, tenant_id: int, scim_id: str) -> UserRecord:
    user = store.lock_live_user(connection, tenant_id, scim_id) if _may_exist(scim_id) else None
    if user is None:
        raise NotFound(f"User {shown(scim_id)} not found.")
    audit.note_target(user)
    return user


def create_user(tenant_id: int, document: dict[str, Any], password: str | None, *,
                limits: Limits = Limits(), source: str = SCIM_SOURCE) -> UserRecord:
    """Create a user from a canonical document (RFC 7644 §3.3).

    ``source`` is what provisions it (``users.source``: ``scim``, or a directory
    sync such as ``google:<connection>``); a restored account takes it too, and
    its ``version`` is then above 1. Called inside a write transaction (a sync's
    batch), the create joins it.

    Raises Uniqueness (409) when a live user of the tenant has the same userName,
    ignoring case; the unique index decides, so concurrent creates cannot both win.
    When the externalId is a removed user's and the organization's policy is
    ``restore``, that account comes back instead; a removed account matching the
    userName only is named in the journal, never restored. Raises InvalidValue
    above ``limits``.
    """
    check_limits(document, limits)  # first: an over-long userName must not reach the journal
    # A create that fails before it has an id is journaled under the userName it asked for.
    audit.note_target_name(document["userName"])
    # Before the write lock: scrypt is the costliest step (unused on a restore).
    password_hash = hash_password(password) if password is not None else None
    new = UserRecord(id=None, **store.new_user_row(tenant_id, document, password_hash, utcnow(),
                                                   source))
    created = audit.diff({}, audit.snapshot(new), password_changed=password is not None)
    with write_transaction() as connection:
        on_recreate, team_id = settings_store.recreate_policy(connection, tenant_id)
        returning = None
        if on_recreate == "restore":
            returning = store.returning_account(connection, tenant_id, document.get("externalId"))
        with store.unique_user_name(document.get("userName")):
            if returning is not None:
                user, changes = _restore(connection, returning, document, password_hash)
                if user.source != source:
                    store.update_user(connection, user, {"source": source})
            else:
                user, changes = store.insert_user(connection, new), created
                # The userName alone never restores (it may be a reused e-mail address),
                # but the journal says a removed account had it: `scimsvc user restore`.
                same_name = store.removed_with_user_name(connection, tenant_id,
                                                         new.user_name_norm)
                if same_name is not None:
                    changes = {**changes, REMOVED_ACCOUNT: {"id": same_name, "restored": False}}
            if team_id is not None:
                memberships.change(connection, tenant_id, notify=False,
                                   adds=[(team_id, user.id, memberships.ASSIGNMENT)])
            operation = "restore" if returning is not None else "create"
            audit.record(connection, user, operation, 201, changes)
            events.record(connection, tenant_id, events.type_for_operation(operation), user,
                          events.changed_names(changes))
    return user


def _restore(connection: Any, user: UserRecord, document: dict[str, Any],
             password_hash: str | None) -> tuple[UserRecord, dict]:
    """Bring a removed account back as a new SCIM resource holding ``document``.

    The account (``users.id``), its team memberships and what references it are
    kept; it gets a new SCIM id, so the removed resource stays gone (RFC 7644
    §3.6). An old password does not come back with it.
    """
    before, old_id, old_data = audit.snapshot(user), user.scim_id, user.data
    now = utcnow()
    store.update_user(connection, user, {
        **store.projections(document),
        "scim_id": str(uuid.uuid4()), "deleted_at": None,
        "password_hash": password_hash,
        "created_at": now, "updated_at": now, "version": user.version + 1,
    })
    store.sync_values(connection, user.id, old_data, document)
    changes = {"id": {"old": old_id, "new": user.scim_id},
               **audit.diff(before, audit.snapshot(user),
                            password_changed=password_hash is not None)}
    return user, changes


def replace_user(tenant_id: int, scim_id: str, document: dict[str, Any], password: str | None,
                 if_match: Tags = None, *, limits: Limits = Limits(),
                 admin: bool = False) -> UserRecord:
    """Replace a user's attributes with ``document`` (RFC 7644 §3.5.1).

    ``if_match`` holds the entity tags of an If-Match header. Raises
    PreconditionFailed (412) on a stale one, Mutability when an immutable
    attribute would change, Uniqueness (409) when the userName is taken, InvalidValue
    above ``limits``, Forbidden (403) when it would disable or rename a protected
    user, unless ``admin`` (an admin's command, not the IdP).
    """
    check_limits(document, limits)
    password_hash = hash_password(password) if password is not None else None  # before the lock
    with write_transaction() as connection:
        user = _locked_user(connection, tenant_id, scim_id)
        check_if_match(if_match, user.version, f"User {user.scim_id}")
        check_immutable(user.data, document)
        _save_document(connection, user, document, password_hash, admin=admin)
    return user


def patch_user(tenant_id: int, scim_id: str, operations: Any,
               if_match: Tags = None, *, limits: Limits = Limits(),
               admin: bool = False) -> UserRecord:
    """Apply a PatchOp request body to a user (RFC 7644 §3.5.2), all operations or none.

    The engine works on a copy; the result is read again through the marshmallow
    layer, so PATCH stores exactly what a POST of the same values would. A PATCH
    that changes nothing keeps the version. Raises the engine's errors
    (invalidSyntax, invalidPath, invalidFilter, noTarget, mutability,
    invalidValue), PreconditionFailed (412), Uniqueness (409) and Forbidden (403,
    a protected user, as for ``replace_user``).
    """
    hashed_ahead = _hash_patched_password(operations)  # before the write lock
    with write_transaction() as connection:
        user = _locked_user(connection, tenant_id, scim_id)
        check_if_match(if_match, user.version, f"User {user.scim_id}")
        result = apply_patch(user.data, operations)
        document = load_document(result.document)
        check_limits(document, limits)
        password = document.pop("password", None) or result.password
        user_name = document.get("userName")
        if not isinstance(user_name, str) or not user_name.strip():
            raise InvalidValue("userName is required and must be a non-empty string.")
        check_immutable(user.data, document)
        password_hash = None
        if password is not None:
            password_hash = hashed_ahead[1] if hashed_ahead and hashed_ahead[0] == password \
                else hash_password(password)
        _save_document(connection, user, document, password_hash, operation="patch",
                       clear_password=result.password_removed and user.password_hash is not None,
                       admin=admin)
    return user


def _hash_patched_password(operations: Any) -> tuple[str, str] | None:
    """(password, its hash) for a PATCH that sets a password, worked out before the write lock.

    A password is never stored in the document, so the operations applied to an
    empty one yield it; ``patch_user`` uses the hash only if the real application
    produced the same password, and hashes under the lock otherwise.
    """
    if "password" not in json.dumps(operations, default=str).lower():  # most PATCHes: no dry run
        return None
    try:
        password = apply_patch({}, operations).password
    except Exception:  # noqa: BLE001 - only a head start: the real application reports errors
        return None
    return (password, hash_password(password)) if isinstance(password, str) else None


def _save_document(connection: Any, user: UserRecord, document: dict[str, Any],
                   password_hash: str | None, *, operation: str = "replace",
                   clear_password: bool = False, admin: bool = False) -> None:
    """Store a new document for an existing user and bump its version, if anything changed.

    ``password_hash`` replaces the stored hash; ``clear_password`` removes it. Only
    the columns and value rows that changed are written. The request is journaled
    as ``operation`` (``replace`` for PUT, ``patch`` for PATCH), or
    ``disable``/``enable`` when it turned ``active`` off/on — an unchanged
    document too, with an empty diff. Unless ``admin``, a protected user may not
    be disabled or renamed (Forbidden).
    """
    if not admin:
        if user.active and not document.get("active", True):
            check_protected(user, "disable")
        if fold(document["userName"]) != user.user_name_norm:
            check_protected(user, "rename")
    before, old_data = audit.snapshot(user), user.data
    changes: dict[str, Any] = {}
    if document != old_data:
        changes = {key: value for key, value in store.projections(document).items()
                   if value != getattr(user, key)}
        changes["data"] = document
    if password_hash is not None:
        changes["password_hash"] = password_hash
    elif clear_password:
        changes["password_hash"] = None
    with store.unique_user_name(document.get("userName")):
        if changes:
            store.update_user(connection, user,
                              {**changes, "version": user.version + 1, "updated_at": utcnow()})
            if "data" in changes:
                store.sync_values(connection, user.id, old_data, document)
        after = audit.snapshot(user)
        operation = audit.update_operation(operation, before, after)
        diff = audit.diff(before, after,
                          password_changed=password_hash is not None or clear_password)
        audit.record(connection, user, operation, 200, diff)
        if diff:  # a PUT or PATCH that changed nothing is no event
            events.record(connection, user.tenant_id, events.type_for_operation(operation), user,
                          events.changed_names(diff))


def set_active(tenant_id: int, scim_id: str, active: bool, *, admin: bool = False) -> UserRecord:
    """Disable or enable a user: exactly Entra ID's PATCH ``replace`` of ``active``.

    The same write, journal event (``disable``/``enable``, or ``patch`` with an empty
    diff when nothing changed) and errors as that PATCH; for ``scimsvc user disable``.
    """
    body = {"schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "replace", "path": "active", "value": active}]}
    return patch_user(tenant_id, scim_id, body, admin=admin)


def delete_user(tenant_id: int, scim_id: str, if_match: Tags = None, *,
                admin: bool = False) -> UserRecord:
    """Remove a user (RFC 7644 §3.6): the SCIM resource is gone, the account stays.

    Raises Forbidden (403) for a protected user, unless ``admin``.
    """
    with write_transaction() as connection:
        user = _locked_user(connection, tenant_id, scim_id)
        check_if_match(if_match, user.version, f"User {user.scim_id}")
        if not admin:
            check_protected(user, "remove")
        store.update_user(connection, user, {"deleted_at": utcnow(), "version": user.version + 1})
        audit.record(connection, user, "remove", 204, {})
        events.record(connection, tenant_id, events.REMOVED, user)
    return user
