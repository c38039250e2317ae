"""IdP groups (/scim/v2/Groups, RFC 7643 §4.2): create, read, list, replace, patch, delete.

A group grants nothing by itself. ``scimsvc team link-group`` links a team to it;
from then on the group's members are members of the team with the reason
``group:<group id>`` (services.memberships), as they join and leave. Each write
is one write transaction, journaled inside it like a user's: ``group_create``,
``group_rename`` (a PUT or PATCH that changed displayName), ``group_replace`` /
``group_patch``, ``group_remove``; member changes are journaled with the
members' ids (``{"members": {"added": [...], "removed": [...]}}``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..database.transactions import read_connection, write_transaction
from ..errors import Conflict, InvalidFilter, InvalidValue, NotFound
from ..models import utcnow
from ..scim.filters.grammar import shown
from ..scim.groups import GroupDocument, GroupPatch, Member, parse_group_filter, read_group_patch
from ..scim.listing import ListQuery
from ..scim.resource import INDEXED_BYTES, Limits
from ..scim.schema import fold
from ..scim.versions import check_if_match
from ..store import groups as store
from ..store import memberships as membership_store
from ..store.groups import GroupRecord
from . import audit, memberships
from . import users as user_service
from .teams import get_team

Tags = frozenset[str] | None


@dataclass
class GroupView:
    """A group and, when asked for, its live members."""

    group: GroupRecord
    members: list[Member] | None


def _members(group: GroupRecord, with_members: bool) -> list[Member] | None:
    if not with_members:
        return None
    return [Member(scim_id, display) for scim_id, display in store.members_of(group.id)]


def _may_exist(scim_id: str) -> bool:
    return "\x00" not in scim_id


def _check_limits(display_name: str | None, external_id: str | None, limits: Limits) -> None:
    for name, value in (("displayName", display_name), ("externalId", external_id)):
        if isinstance(value, str) and (len(value) > limits.max_length
                                       or len(value.encode("utf-8", "surrogatepass")) > INDEXED_BYTES):
            raise InvalidValue(f"'{name}' is longer than this service stores: at most "
                               f"{limits.max_length} characters and {INDEXED_BYTES:,} bytes of UTF-8.")


def read_group(tenant_id: int, scim_id: str, *, with_members: bool = True) -> GroupView:
    """The tenant's group ``scim_id`` (members only if ``with_members``); NotFound (404)."""
    group = store.read_group(tenant_id, scim_id) if _may_exist(scim_id) else None
    if group is None:
        raise NotFound(f"Group {shown(scim_id)} not found.")
    audit.note_target(group)
    return GroupView(group, _members(group, with_members))


def list_groups(tenant_id: int, query: ListQuery, *,
                with_members: bool = True) -> tuple[int, list[GroupView]]:
    """A list or search of groups (RFC 7644 §3.4.2), in creation order; sortBy is ignored."""
    tree = None
    if query.filter is not None and query.filter.strip():
        tree = parse_group_filter(query.filter)
    total, groups = store.search_groups(tenant_id, tree, offset=query.start_index - 1,
                                        limit=query.count)
    return total, [GroupView(g, _members(g, with_members)) for g in groups]


def search_all(tenant_id: int, query: ListQuery, location_prefix: str, *,
               with_members: bool = True) -> tuple[int, list[Any], list[GroupView]]:
    """POST /.search (RFC 7644 §3.4.3): users, then groups, paged as one list.

    A filter naming attributes one resource type lacks matches none of that type;
    InvalidFilter only when it suits neither. Returns (total, users, groups).
    """
    errors: list[Exception] = []
    try:
        user_total, users = user_service.list_users(tenant_id, query, location_prefix)
    except InvalidFilter as error:
        errors.append(error)
        user_total, users = 0, []
    offset = max(0, query.start_index - 1 - user_total)
    room = max(0, query.count - len(users))
    try:
        group_total, groups = list_groups(
            tenant_id, replace(query, start_index=offset + 1, count=room, sort_by=None),
            with_members=with_members)
    except InvalidFilter as error:
        if errors:
            raise errors[0] from None
        group_total, groups = 0, []
    return user_total + group_total, users, groups


def _locked(connection: Any, tenant_id: int, scim_id: str) -> GroupRecord:
    group = store.lock_group(connection, tenant_id, scim_id) if _may_exist(scim_id) else None
    if group is None:
        raise NotFound(f"Group {shown(scim_id)} not found.")
    audit.note_target(group)
    return group


def _resolve_new_members(connection: Any, tenant_id: int, ids: list[str]) -> dict[str, int]:
    """{SCIM id: users.id} for members to add; InvalidValue naming the ids that are no user's."""
    found = store.live_users_by_scim_id(connection, tenant_id, ids)
    unknown = [i for i in ids if i not in found]
    if unknown:
        listed = ", ".join(shown(i) for i in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise InvalidValue(f"No user with id {listed} in this organization: members must be "
                           "existing users; nothing was changed.")
    return found


def _change_members(connection: Any, tenant_id: int, group: GroupRecord, *, add: list[str],
                    remove: list[str], replace: bool) -> dict[str, list[str]]:
    """Apply member changes (ids as sent) to the group and its linked teams; the journal's diff."""
    wanted = _resolve_new_members(connection, tenant_id, add)
    if replace:
        current = store.all_member_ids(connection, group.id)
        target = set(wanted.values())
        added_ids, removed_ids = target - current, current - target
    else:
        # Removals may name a member whose account was removed since: any account of the tenant.
        leaving = store.live_users_by_scim_id(connection, tenant_id, remove) if remove else {}
        missing = [i for i in remove if i not in leaving]
        if missing:
            leaving.update(_any_account(connection, tenant_id, missing))
        present = store.members_among(connection, group.id,
                                      list(wanted.values()) + list(leaving.values()))
        added_ids = set(wanted.values()) - present
        removed_ids = set(leaving.values()) & present
    if not added_ids and not removed_ids:
        return {}
    store.remove_members(connection, group.id, removed_ids)
    store.add_members(connection, group.id, added_ids)
    teams = store.linked_teams(connection, group.id)
    if teams:
        reason = memberships.group_reason(group.scim_id)
        memberships.change(connection, tenant_id, protect=True,
                           adds=[(t, u, reason) for t in teams for u in added_ids],
                           removes=[(t, u, reason) for t in teams for u in removed_ids])
    names = store.scim_ids_of(connection, added_ids | removed_ids)
    return {"members": {"added": sorted(names[u] for u in added_ids),
                        "removed": sorted(names[u] for u in removed_ids)}}


def _any_account(connection: Any, tenant_id: int, scim_ids: list[str]) -> dict[str, int]:
    return membership_store.accounts_by_scim_id(connection, tenant_id, scim_ids)


def create_group(tenant_id: int, document: GroupDocument, *, limits: Limits = Limits(),
                 with_members: bool = True) -> GroupView:
    """Create a group (RFC 7644 §3.3); Uniqueness (409) when its displayName is taken, ignoring case."""
    _check_limits(document.display_name, document.external_id, limits)
    audit.note_target_name(document.display_name)
    group = store.new_group(tenant_id, document.display_name, document.external_id)
    with write_transaction() as connection:
        with store.unique_display_name(document.display_name):
            store.insert_group(connection, group)
        changes: dict[str, Any] = {"displayName": {"old": None, "new": group.display_name}}
        if group.external_id is not None:
            changes["externalId"] = {"old": None, "new": group.external_id}
        if document.members:
            changes.update(_change_members(connection, tenant_id, group,
                                           add=list(document.members), remove=[], replace=False))
        audit.record(connection, group, "group_create", 201, changes)
    return GroupView(group, _members(group, with_members))


def replace_group(tenant_id: int, scim_id: str, document: GroupDocument, if_match: Tags = None, *,
                  limits: Limits = Limits(), with_members: bool = True) -> GroupView:
    """Replace a group (RFC 7644 §3.5.1): its name, externalId and members (absent: none)."""
    _check_limits(document.display_name, document.external_id, limits)
    with write_transaction() as connection:
        group = _locked(connection, tenant_id, scim_id)
        check_if_match(if_match, group.version, f"Group {group.scim_id}")
        plan = GroupPatch(display_name=document.display_name, external_id=document.external_id,
                          external_id_set=True, replace_members=True,
                          add=dict.fromkeys(document.members or ()))
        _save(connection, tenant_id, group, plan, "group_replace")
    return GroupView(group, _members(group, with_members))


def patch_group(tenant_id: int, scim_id: str, body: Any, if_match: Tags = None, *,
                limits: Limits = Limits(), with_members: bool = True) -> GroupView:
    """Apply a PatchOp to a group (RFC 7644 §3.5.2), all operations or none.

    Member adds and removes touch only the rows they name; an add of a present
    member or a remove of an absent one changes nothing; an unknown member id is
    400 invalidValue naming it, and nothing is applied.
    """
    plan = read_group_patch(body)
    _check_limits(plan.display_name, plan.external_id, limits)
    with write_transaction() as connection:
        group = _locked(connection, tenant_id, scim_id)
        check_if_match(if_match, group.version, f"Group {group.scim_id}")
        _save(connection, tenant_id, group, plan, "group_patch")
    return GroupView(group, _members(group, with_members))


def _save(connection: Any, tenant_id: int, group: GroupRecord, plan: GroupPatch,
          operation: str) -> None:
    columns: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if plan.display_name is not None and plan.display_name != group.display_name:
        changes["displayName"] = {"old": group.display_name, "new": plan.display_name}
        columns.update(display_name=plan.display_name, display_name_norm=fold(plan.display_name))
    if plan.external_id_set and plan.external_id != group.external_id:
        changes["externalId"] = {"old": group.external_id, "new": plan.external_id}
        columns["external_id"] = plan.external_id
    if columns:
        with store.unique_display_name(plan.display_name):
            store.update_group(connection, group, columns)
    if plan.touches_members:
        changes.update(_change_members(connection, tenant_id, group, add=list(plan.add),
                                       remove=list(plan.remove), replace=plan.replace_members))
    if changes:
        store.update_group(connection, group, {"version": group.version + 1, "updated_at": utcnow()})
    if "displayName" in changes:
        operation = "group_rename"
    audit.record(connection, group, operation, 200, changes)


def delete_group(tenant_id: int, scim_id: str, if_match: Tags = None) -> None:
    """Delete a group (RFC 7644 §3.6); the teams linked to it lose the memberships it gave."""
    with write_transaction() as connection:
        group = _locked(connection, tenant_id, scim_id)
        check_if_match(if_match, group.version, f"Group {group.scim_id}")
        teams = store.linked_teams(connection, group.id)
        if teams:
            rows = membership_store.reason_rows(
                connection, memberships.group_reason(group.scim_id), teams)
            memberships.change(connection, tenant_id, removes=rows, protect=True)
        store.delete_group(connection, group)
        audit.record(connection, group, "group_remove", 204, {})


def groups_of_users(user_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """{users.id: [(group id, displayName), …]}: each user's read-only ``groups`` attribute."""
    return store.groups_of_users(user_ids) if user_ids else {}


# --- for people (scimsvc group ..., team link-group) ---------------------------------

@dataclass
class GroupSummary:
    group: GroupRecord
    members: int
    teams: list[str]


def list_group_summaries(tenant_id: int) -> list[GroupSummary]:
    """Every group of the organization by displayName, with its live member count and teams."""
    connection = read_connection()
    groups = store.all_groups(connection, tenant_id)
    counts = store.member_counts(connection, tenant_id)
    links = store.team_links(connection, [g.id for g in groups])
    return [GroupSummary(g, counts.get(g.id, 0), links.get(g.id, [])) for g in groups]


def find_group(connection: Any, tenant_id: int, name: str) -> GroupRecord:
    """The group called ``name`` (displayName in any case) or with SCIM id ``name``; NotFound."""
    group = store.group_by_name(connection, tenant_id, name)
    if group is None and _may_exist(name):
        group = store.group_by_scim_id(connection, tenant_id, name)
    if group is None:
        raise NotFound(f"No group '{name}'.")
    return group


@dataclass
class GroupDetail:
    group: GroupRecord
    members: list[Any]  # id, scim_id, user_name, active, deleted_at
    teams: list[str]


def show_group(tenant_id: int, name: str) -> GroupDetail:
    connection = read_connection()
    group = find_group(connection, tenant_id, name)
    return GroupDetail(group, store.member_accounts(connection, group.id),
                       store.team_links(connection, [group.id]).get(group.id, []))


def link_group(tenant_id: int, team_name: str, group_name: str) -> tuple[GroupRecord, int]:
    """Make a group's members members of a team (reason ``group:<id>``), now and as they change.

    Returns the group and how many of its members hold the new reason. Conflict
    if the two are linked already. Journaled (``group_link``).
    """
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        group = find_group(connection, tenant_id, group_name)
        audit.note_target(group)
        if not store.link(connection, team.id, group.id):
            raise Conflict(f"Team '{team.name}' is already linked to group '{group.display_name}'.")
        members = store.all_member_ids(connection, group.id)
        reason = memberships.group_reason(group.scim_id)
        memberships.change(connection, tenant_id, adds=[(team.id, u, reason) for u in members])
        audit.record(connection, group, "group_link", 200,
                     {"team": team.name, "members": len(members)})
    return group, len(members)


def unlink_group(tenant_id: int, team_name: str, group_name: str) -> tuple[GroupRecord, int]:
    """Undo ``link_group``: exactly the memberships the group gave go (other reasons stay).

    Returns the group and how many reasons were taken away; NotFound if not linked.
    """
    with write_transaction() as connection:
        team = get_team(tenant_id, team_name)
        group = find_group(connection, tenant_id, group_name)
        audit.note_target(group)
        if not store.unlink(connection, team.id, group.id):
            raise NotFound(f"Team '{team.name}' is not linked to group '{group.display_name}'.")
        rows = membership_store.team_reason_rows(connection, team.id,
                                                 memberships.group_reason(group.scim_id))
        memberships.change(connection, tenant_id, removes=rows)
        audit.record(connection, group, "group_unlink", 200,
                     {"team": team.name, "members": len(rows)})
    return group, len(rows)


def linked_groups(tenant_id: int, team_name: str) -> list[GroupRecord]:
    """The groups linked to a team, by displayName."""
    connection = read_connection()
    team = get_team(tenant_id, team_name)
    found = store.groups_by_ids(connection, store.linked_groups(connection, team.id))
    return sorted(found.values(), key=lambda g: g.display_name_norm)
