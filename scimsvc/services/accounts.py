"""An admin's own account operations, beyond what SCIM can ask: protect, restore, purge.

Each write is one write transaction, journaled inside it (the CLI binds the audit
context: actor ``cli``). Disable, enable and remove from the CLI are not here: they
are the SCIM operations themselves (services.users, with ``admin=True``).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound, Uniqueness
from ..models import utcnow
from ..store import accounts as store
from ..store import events as event_store
from ..store import groups as group_store
from ..store import journal as journal_store
from ..store import memberships as membership_store
from ..store import users as user_store
from ..store import webhooks as webhook_store
from ..store.users import UserRecord
from . import access, audit, events, lifecycle, memberships
from .users import delete_user

# What an erased value becomes in the journal's diffs.
ERASED = "erased"
# Diff keys whose values identify no person: SCIM ids, the active flag, secrets' mask.
_KEPT_IN_DIFFS = frozenset({"id", "active", "password", "protected", "removedAccount",
                            "restoredInto", "erased", "scimIds", "eventsRedacted"})
# The personal attributes a purge erases, as the purge event lists them (never their values).
PERSONAL = ("userName", "externalId", "name", "displayName", "nickName", "profileUrl", "title",
            "emails", "phoneNumbers", "addresses", "photos", "ims", "x509Certificates",
            "entitlements", "roles", "enterprise")


def _locked(connection: Any, tenant_id: int, account_id: int) -> UserRecord:
    user = store.lock_account(connection, tenant_id, account_id)
    if user is None:
        raise NotFound("The user no longer exists.")
    return user


def set_protected(tenant_id: int, name: str, protected: bool) -> UserRecord:
    """Protect (or stop protecting) the account ``name`` (userName in any case, or SCIM id).

    A protected user cannot be disabled, removed, renamed or left without a team over
    SCIM (lifecycle.check_protected); admin commands still can. Journaled as
    ``protect``/``unprotect``, with an empty diff when it already was.
    """
    found = lifecycle.find_account(tenant_id, name)
    with write_transaction() as connection:
        user = _locked(connection, tenant_id, found.id)
        if user.purged_at is not None:
            raise InvalidValue(f"User '{name}' was purged: nothing is left to protect.")
        audit.note_target(user)
        changes = {}
        if bool(user.protected) != protected:
            changes = {"protected": {"old": bool(user.protected), "new": protected}}
            user_store.update_user(connection, user, {"protected": protected,
                                                      "updated_at": utcnow()})
        audit.record(connection, user, "protect" if protected else "unprotect", 200, changes)
    return user


def restore_account(tenant_id: int, removed_name: str, into: str | None = None) -> UserRecord:
    """Bring the removed account ``removed_name`` back, deliberately (userName or SCIM id).

    Without ``into``: the account returns as it was removed (its document, teams and
    everything attached, not its password) under a new SCIM id. Uniqueness (409) when
    a live user holds its userName: that is what ``into`` is for.

    With ``into`` (a live user, e.g. the new account a returning person got because
    the IdP sent another externalId): the removed account takes over that user's SCIM
    resource — its SCIM id, document, password and version — and takes over its group
    memberships (the IdP's groups name that SCIM id) and teams; the live account it
    replaces becomes a purged tombstone ``purged-<new SCIM id>`` in no group and no team
    (its document now lives on in the restored account; its journal rows name the SCIM id
    the restored account holds).
    Journaled as ``restore`` (the account) and ``remove`` (the one replaced).
    """
    removed = lifecycle.find_removed(tenant_id, removed_name)
    live = None
    if into is not None:
        live = lifecycle.find_account(tenant_id, into)
        if live.deleted_at is not None:
            raise InvalidValue(f"User '{into}' is {live.status}: --into takes a live user.")
    with write_transaction() as connection:
        user = _locked(connection, tenant_id, removed.id)
        if user.deleted_at is None or user.purged_at is not None:
            raise Conflict(f"User '{removed_name}' is no longer a removed account.")
        audit.note_target(user)
        if live is None:
            return _restore_alone(connection, user)
        return _restore_into(connection, user, _locked(connection, tenant_id, live.id))


def _restore_alone(connection: Any, user: UserRecord) -> UserRecord:
    old_id, now = user.scim_id, utcnow()
    try:
        with user_store.unique_user_name(user.user_name):
            user_store.update_user(connection, user, {
                "scim_id": str(uuid.uuid4()), "deleted_at": None, "password_hash": None,
                "created_at": now, "updated_at": now, "version": user.version + 1})
    except Uniqueness:
        raise Uniqueness(f"userName '{user.user_name}' is held by a live user: restore into it "
                         f"with --into '{user.user_name}'.") from None
    audit.record(connection, user, "restore", 200, {"id": {"old": old_id, "new": user.scim_id}})
    events.record(connection, user.tenant_id, events.RESTORED, user, ["id"])
    return user


def _restore_into(connection: Any, user: UserRecord, live: UserRecord) -> UserRecord:
    if live.deleted_at is not None:
        raise Conflict(f"User '{live.user_name}' was removed meanwhile.")
    before, old_id, old_data, now = audit.snapshot(user), user.scim_id, user.data, utcnow()
    # What the restored account takes over, read before _erase empties the live account.
    taken = {**user_store.projections(live.data), "scim_id": live.scim_id,
             "password_hash": live.password_hash, "created_at": live.created_at,
             "version": max(user.version, live.version) + 1,
             "protected": bool(user.protected or live.protected)}
    live_id, live_document = live.scim_id, live.data
    # The replaced account first: SCIM ids and live userNames are unique.
    _erase(connection, live, scim_id=str(uuid.uuid4()), removed_at=now)
    user_store.update_user(connection, user, {**taken, "deleted_at": None, "updated_at": now})
    user_store.sync_values(connection, user.id, old_data, live_document)
    _take_over_memberships(connection, live, user)
    audit.record(connection, live, "remove", 200,
                 {"id": {"old": live_id, "new": live.scim_id}, "restoredInto": {
                     "old": None, "new": live_id}})
    changes = {"id": {"old": old_id, "new": live_id}, **audit.diff(before, audit.snapshot(user))}
    audit.record(connection, user, "restore", 200, changes)
    # The product knew the person by ``live_id``: that SCIM id now names the old account.
    events.record(connection, user.tenant_id, events.RESTORED, user, events.changed_names(changes))
    return user


def _take_over_memberships(connection: Any, live: UserRecord, user: UserRecord) -> None:
    """Give ``user`` the replaced account ``live``'s groups and teams; ``live`` keeps none.

    The IdP's groups name the SCIM id ``user`` now holds, so their member rows move to
    it (a later ``remove members[value eq id]`` finds them). Team reasons: ``user`` gets
    ``live``'s own (assignment, admin) and the ``group:`` reasons of the linked teams of
    the groups it now is in, never a copy of a ``group:`` row without the membership.
    """
    groups = store.move_group_memberships(connection, live.id, user.id)
    held = membership_store.user_team_reasons(connection, live.id)
    adds = [(team_id, user.id, reason) for team_id, reason in held
            if not reason.startswith(memberships.GROUP_PREFIX)]
    for group_id, group_scim_id in groups:
        reason = memberships.group_reason(group_scim_id)
        adds += [(team_id, user.id, reason)
                 for team_id in group_store.linked_teams(connection, group_id)]
    # Not notified: the restore's own event shows the account as it now stands.
    memberships.change(connection, user.tenant_id, adds=adds,
                       removes=[(team_id, live.id, reason) for team_id, reason in held],
                       notify=False)


@dataclass(frozen=True)
class Purged:
    user: UserRecord
    events_redacted: int
    reclaimed: dict[str, Any]
    already: bool = False


def purge_account(tenant_id: int, name: str, *, reclaim: bool = True) -> Purged:
    """Honour an erasure request for the account ``name`` (userName in any case, or SCIM id).

    Removes the user first if it is live (the ``remove`` of a DELETE, journaled as
    such, protection notwithstanding), then in one transaction erases its personal
    attributes and value rows, keeping an anonymous tombstone (``purged-<SCIM id>``,
    same account id, teams and SCIM id, so what references it still resolves), and
    redacts its values in the journal: the diffs and target userName of every event
    about any SCIM id the account has had. Journaled as ``purge`` without the erased
    values. Then (``reclaim``) the database is rewritten so no erased byte remains
    (store.accounts.reclaim_erased_space). An account already purged only has that
    last step run again (``Purged.already``).
    """
    found = lifecycle.find_account(tenant_id, name)
    if found.scim_id != name and lifecycle.count_named(tenant_id, name) > 1:
        # A live new hire and a removed predecessor may share the address: never guess.
        raise InvalidValue(f"Several accounts have userName '{name}': pass the SCIM id of the "
                           "one to purge ('scimsvc user list' shows them).")
    if found.purged_at is not None:
        return Purged(found, 0, store.reclaim_erased_space() if reclaim else {"vacuumed": False},
                      already=True)
    if found.deleted_at is None:
        delete_user(tenant_id, found.scim_id, admin=True)
    with write_transaction() as connection:
        user = _locked(connection, tenant_id, found.id)
        if user.purged_at is not None:
            raise Conflict(f"User '{name}' is already purged.")
        scim_ids = _scim_ids_of(connection, tenant_id, user.scim_id)
        user_names = {user.user_name}
        _erase(connection, user, removed_at=user.deleted_at or utcnow())
        # The change events and the webhook payloads made of them hold the user as it was.
        tombstone = access.snapshot(connection, [user.id])[user.id]
        event_ids = event_store.redact_user(connection, tenant_id, user.id, tombstone)
        webhook_store.redact_payloads(connection, tenant_id, event_ids, tombstone)
        redacted = 0
        for event_id, target_name, changes in journal_store.events_about(
                connection, tenant_id, sorted(scim_ids), sorted(user_names)):
            user_names |= _names_in(changes)
        for event_id, target_name, changes in journal_store.events_about(
                connection, tenant_id, sorted(scim_ids), sorted(user_names)):
            journal_store.rewrite_event(connection, event_id, user.user_name, _redacted(changes))
            redacted += 1
        audit.note_target(user)
        audit.record(connection, user, "purge", 200,
                     {"erased": list(PERSONAL), "scimIds": sorted(scim_ids),
                      "eventsRedacted": redacted})
    reclaimed = store.reclaim_erased_space() if reclaim else {"vacuumed": False}
    return Purged(user, redacted, reclaimed)


def _erase(connection: Any, user: UserRecord, *, removed_at: Any, scim_id: str | None = None) -> None:
    """Make ``user`` an anonymous tombstone: removed, purged, no personal value left."""
    scim_id = scim_id or user.scim_id
    tombstone = f"purged-{scim_id}"
    now = utcnow()
    user_store.update_user(connection, user, {
        "scim_id": scim_id, "user_name": tombstone, "user_name_norm": tombstone,
        "external_id": None, "active": False, "display_name": None, "given_name": None,
        "family_name": None, "data": {}, "password_hash": None, "version": user.version + 1,
        "updated_at": now, "deleted_at": removed_at, "protected": False, "purged_at": now})
    store.erase_values(connection, user.id)


def _scim_ids_of(connection: Any, tenant_id: int, scim_id: str) -> set[str]:
    """Every SCIM id the account has had: each restore event names the one before."""
    seen, frontier = {scim_id}, [scim_id]
    while frontier:
        older = []
        for changes in journal_store.restores_into(connection, tenant_id, frontier):
            previous = ((changes or {}).get("id") or {}).get("old")
            if isinstance(previous, str) and previous not in seen:
                seen.add(previous)
                older.append(previous)
        frontier = older
    return seen


def _names_in(changes: Any) -> set[str]:
    entry = (changes or {}).get("userName")
    if not isinstance(entry, dict):
        return set()
    return {value for value in (entry.get("old"), entry.get("new")) if isinstance(value, str)}


def _redacted(changes: Any) -> Any:
    """A diff with every value replaced by ERASED (attribute names kept), ids kept."""
    if not isinstance(changes, dict):
        return changes
    out = {}
    for key, entry in changes.items():
        if key in _KEPT_IN_DIFFS:
            out[key] = entry
        elif isinstance(entry, dict) and set(entry) <= {"old", "new"}:
            out[key] = {side: None if value is None else ERASED for side, value in entry.items()}
        else:
            out[key] = ERASED
    return out
