"""Group rows, their member rows and the teams linked to them: every SQL statement of /Groups.

Member rows are read and written by the ids a request names (the primary key
(group_id, user_id) and ix_group_members_user serve each), so a PATCH that adds
or removes a few members of a 50,000-member group touches only those rows; only
a full replace, a delete or a link to a team reads the whole list.
"""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator

from sqlalchemy import (and_, bindparam, delete, false, func, insert, not_, or_, select, true,
                        update)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..database.engine import is_unique_violation
from ..database.prepared import DriverConnection, PreparedQuery, PreparedWrite
from ..database.transactions import dialect_name, driver_connection, read_connection
from ..errors import InvalidFilter, Uniqueness
from ..models import Group, Team, User, group_members, team_groups, utcnow
from ..scim.filters.grammar import shown
from ..scim.filters.tree import And, Comparison, Node, Not, Or, ValueFilter, parse_time
from ..scim.schema import fold
from .memberships import chunks

_g = Group.__table__.c
_group_table = Group.__table__
_gm = group_members.c
_tg = team_groups.c
_u = User.__table__.c


@dataclass(slots=True, eq=False)
class GroupRecord:
    """A ``groups`` row (the columns in table order)."""

    id: int
    tenant_id: int
    scim_id: str
    display_name: str
    display_name_norm: str
    external_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def user_name(self) -> str:  # the journal's target name (audit.record)
        return self.display_name


_COLUMNS = tuple(c.key for c in _g)
_GROUP = PreparedQuery(select(*_g).where(_g.scim_id == bindparam("scim_id"),
                                         _g.tenant_id == bindparam("tenant_id")))
_GROUP_FOR_WRITE = PreparedQuery(select(*_g).where(
    _g.scim_id == bindparam("scim_id"), _g.tenant_id == bindparam("tenant_id"))
    .with_for_update(of=_group_table))
_INSERT_GROUP = PreparedWrite(insert(_group_table).returning(_g.id))
_UPDATE_GROUP = PreparedWrite(update(_group_table).where(_g.id == bindparam("row_id")))
_INSERT_MEMBERS = PreparedWrite(insert(group_members))
_DELETE_MEMBER = PreparedWrite(delete(group_members).where(
    _gm.group_id == bindparam("row_group_id"), _gm.user_id == bindparam("row_user_id")))
_LINKED_TEAMS = PreparedQuery(select(_tg.team_id).where(_tg.group_id == bindparam("group_id"))
                              .order_by(_tg.team_id))


def new_group(tenant_id: int, display_name: str, external_id: str | None) -> GroupRecord:
    now = utcnow()
    return GroupRecord(None, tenant_id, str(uuid.uuid4()), display_name, fold(display_name),  # type: ignore[arg-type]
                       external_id, 1, now, now)


@contextlib.contextmanager
def unique_display_name(display_name: Any) -> Iterator[None]:
    """Turn the unique index's verdict on displayName into Uniqueness (409)."""
    try:
        yield
    except IntegrityError as error:
        if is_unique_violation(error):
            raise Uniqueness(f"A group with displayName '{display_name}' already exists "
                             "(ignoring case).") from None
        raise


def insert_group(connection: Connection, group: GroupRecord) -> GroupRecord:
    row = {key: getattr(group, key) for key in _COLUMNS if key != "id"}
    group.id = _INSERT_GROUP.execute(DriverConnection.of(connection), row)
    return group


def update_group(connection: Connection, group: GroupRecord, changes: dict[str, Any]) -> None:
    _UPDATE_GROUP.execute(DriverConnection.of(connection), {**changes, "row_id": group.id})
    for key, value in changes.items():
        setattr(group, key, value)


def delete_group(connection: Connection, group: GroupRecord) -> None:
    connection.execute(delete(group_members).where(_gm.group_id == group.id))
    connection.execute(delete(team_groups).where(_tg.group_id == group.id))
    connection.execute(delete(_group_table).where(_g.id == group.id))


def read_group(tenant_id: int, scim_id: str) -> GroupRecord | None:
    row = _GROUP.first(driver_connection(), {"scim_id": scim_id, "tenant_id": tenant_id})
    return None if row is None else GroupRecord(*row)


def lock_group(connection: Connection, tenant_id: int, scim_id: str) -> GroupRecord | None:
    row = _GROUP_FOR_WRITE.first(DriverConnection.of(connection),
                                 {"scim_id": scim_id, "tenant_id": tenant_id})
    return None if row is None else GroupRecord(*row)


def group_by_name(connection: Connection, tenant_id: int, display_name: str) -> GroupRecord | None:
    row = connection.execute(select(*_g).where(
        _g.tenant_id == tenant_id, _g.display_name_norm == fold(display_name))).first()
    return None if row is None else GroupRecord(*row)


def group_by_scim_id(connection: Connection, tenant_id: int, scim_id: str) -> GroupRecord | None:
    row = connection.execute(select(*_g).where(_g.tenant_id == tenant_id,
                                               _g.scim_id == scim_id)).first()
    return None if row is None else GroupRecord(*row)


def display_names(connection: Connection, scim_ids: Iterable[str]) -> dict[str, str]:
    """{group SCIM id: displayName}."""
    found: dict[str, str] = {}
    for chunk in chunks(sorted(set(scim_ids))):
        found.update(connection.execute(select(_g.scim_id, _g.display_name)
                                        .where(_g.scim_id.in_(chunk))).all())
    return found


def groups_by_ids(connection: Connection, ids: Iterable[int]) -> dict[int, GroupRecord]:
    found: dict[int, GroupRecord] = {}
    for chunk in chunks(sorted(set(ids))):
        for row in connection.execute(select(*_g).where(_g.id.in_(chunk))):
            found[row.id] = GroupRecord(*row)
    return found


def all_groups(connection: Connection, tenant_id: int) -> list[GroupRecord]:
    return [GroupRecord(*row) for row in connection.execute(
        select(*_g).where(_g.tenant_id == tenant_id).order_by(_g.display_name_norm, _g.id))]


def member_counts(connection: Connection, tenant_id: int) -> dict[int, int]:
    """{group id: live members} for the tenant's groups."""
    query = (select(_gm.group_id, func.count()).join(User, User.id == _gm.user_id)
             .join(Group, Group.id == _gm.group_id)
             .where(Group.tenant_id == tenant_id, _u.deleted_at.is_(None))
             .group_by(_gm.group_id))
    return dict(connection.execute(query).all())


def live_users_by_scim_id(connection: Connection, tenant_id: int,
                          scim_ids: Iterable[str]) -> dict[str, int]:
    """{SCIM id: users.id} of the tenant's live users among ``scim_ids``.

    Probes the unique scim_id index only, checking tenant and removal here: with
    them in the WHERE, SQLite's planner walked ix_users_tenant_live over every
    live user of the tenant for an IN list of a few ids (10 ms at 50,000 users).
    """
    ids = sorted(set(s for s in scim_ids if "\x00" not in s))
    found: dict[str, int] = {}
    for chunk in chunks(ids):
        for scim_id, user_id, owner, deleted_at in connection.execute(
                select(_u.scim_id, _u.id, _u.tenant_id, _u.deleted_at)
                .where(_u.scim_id.in_(chunk))):
            if owner == tenant_id and deleted_at is None:
                found[scim_id] = user_id
    return found


def scim_ids_of(connection: Connection, user_ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(user_ids))):
        found.update(connection.execute(select(_u.id, _u.scim_id).where(_u.id.in_(chunk))).all())
    return found


def members_among(connection: Connection, group_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` that have a member row in the group (primary-key probes)."""
    found: set[int] = set()
    for chunk in chunks(sorted(set(user_ids))):
        found.update(connection.execute(select(_gm.user_id).where(
            _gm.group_id == group_id, _gm.user_id.in_(chunk))).scalars())
    return found


def all_member_ids(connection: Connection, group_id: int) -> set[int]:
    """Every member row's user id (a replace, a delete or a link needs the whole list)."""
    return set(connection.execute(select(_gm.user_id).where(_gm.group_id == group_id)).scalars())


def add_members(connection: Connection, group_id: int, user_ids: Iterable[int]) -> None:
    rows = [{"group_id": group_id, "user_id": u} for u in sorted(set(user_ids))]
    if rows:
        _INSERT_MEMBERS.executemany(DriverConnection.of(connection), rows)


def remove_members(connection: Connection, group_id: int, user_ids: Iterable[int]) -> None:
    rows = [{"row_group_id": group_id, "row_user_id": u} for u in sorted(set(user_ids))]
    if rows:
        _DELETE_MEMBER.executemany(DriverConnection.of(connection), rows)


def linked_teams(connection: Connection, group_id: int) -> list[int]:
    return [r.team_id for r in _LINKED_TEAMS.all(DriverConnection.of(connection),
                                                 {"group_id": group_id})]


def linked_groups(connection: Connection, team_id: int) -> list[int]:
    return list(connection.execute(select(_tg.group_id).where(_tg.team_id == team_id)
                                   .order_by(_tg.group_id)).scalars())


def link(connection: Connection, team_id: int, group_id: int) -> bool:
    """Link a team to a group; False if it already was."""
    exists = connection.execute(select(_tg.team_id).where(
        _tg.team_id == team_id, _tg.group_id == group_id)).first()
    if exists is not None:
        return False
    connection.execute(insert(team_groups).values(team_id=team_id, group_id=group_id))
    return True


def unlink(connection: Connection, team_id: int, group_id: int) -> bool:
    """Unlink; False if they were not linked."""
    result = connection.execute(delete(team_groups).where(
        _tg.team_id == team_id, _tg.group_id == group_id))
    return bool(result.rowcount)


def team_links(connection: Connection, group_ids: Iterable[int]) -> dict[int, list[str]]:
    """{group id: the names of the teams linked to it}."""
    found: dict[int, list[str]] = {}
    for chunk in chunks(sorted(set(group_ids))):
        rows = connection.execute(select(_tg.group_id, Team.name).join(Team, Team.id == _tg.team_id)
                                  .where(_tg.group_id.in_(chunk)).order_by(Team.name))
        for group_id, name in rows:
            found.setdefault(group_id, []).append(name)
    return found


# --- reads of the request path ---------------------------------------------------

def members_of(group_id: int) -> list[tuple[str, str | None]]:
    """(SCIM id, display) of the group's live members, in account order."""
    rows = read_connection().execute(
        select(_u.scim_id, func.coalesce(_u.display_name, _u.user_name))
        .join(group_members, _gm.user_id == _u.id)
        .where(_gm.group_id == group_id, _u.deleted_at.is_(None)).order_by(_u.id))
    return [tuple(r) for r in rows]


def member_accounts(connection: Connection, group_id: int) -> list[Any]:
    """The group's member accounts (removed ones too): id, scim_id, user_name, status columns."""
    return connection.execute(
        select(_u.id, _u.scim_id, _u.user_name, _u.active, _u.deleted_at)
        .join(group_members, _gm.user_id == _u.id)
        .where(_gm.group_id == group_id).order_by(_u.user_name_norm, _u.id)).all()


_GROUPS_OF_USER_RANGE = PreparedQuery(
    select(_gm.user_id, _g.scim_id, _g.display_name).join(Group, Group.id == _gm.group_id)
    .where(_gm.user_id >= bindparam("low"), _gm.user_id <= bindparam("high"))
    .order_by(_g.display_name_norm, _g.id))


def groups_of_users(user_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """{users.id: [(group SCIM id, displayName), …]} in displayName order.

    A user, or a page of users in id order, is one prepared range probe of
    ix_group_members_user on the request's driver connection (no second
    connection per page); scattered ids (a sorted page) are read by IN lists.
    """
    ids = sorted(set(user_ids))
    found: dict[int, list[tuple[str, str]]] = {}
    if not ids:
        return found
    wanted = set(ids)
    if ids[-1] - ids[0] < 4 * len(ids) + 64:
        rows = _GROUPS_OF_USER_RANGE.all(driver_connection(), {"low": ids[0], "high": ids[-1]})
    else:
        rows = []
        connection = read_connection()
        for chunk in chunks(ids):
            rows.extend(connection.execute(
                select(_gm.user_id, _g.scim_id, _g.display_name)
                .join(Group, Group.id == _gm.group_id)
                .where(_gm.user_id.in_(chunk)).order_by(_g.display_name_norm, _g.id)).all())
    for user_id, scim_id, name in rows:
        if user_id in wanted:
            found.setdefault(user_id, []).append((scim_id, name))
    return found


def search_groups(tenant_id: int, tree: Node | None, *, offset: int,
                  limit: int) -> tuple[int, list[GroupRecord]]:
    """Count and page the tenant's groups matching ``tree``, in creation (id) order."""
    conditions = [_g.tenant_id == tenant_id]
    if tree is not None:
        conditions.append(_compile(tree, 0))
    connection = read_connection()
    rows: list[Any] = []
    if limit:
        rows = connection.execute(select(*_g).where(*conditions).order_by(_g.id)
                                  .offset(offset).limit(limit)).all()
        if offset == 0 and len(rows) < limit:
            return len(rows), [GroupRecord(*r) for r in rows]
    total = connection.scalar(select(func.count()).select_from(_group_table).where(*conditions))
    return total or 0, [GroupRecord(*r) for r in rows]


def _compile(node: Node, depth: int) -> Any:
    if isinstance(node, And):
        return and_(*(_compile(n, depth + 1) for n in node.items))
    if isinstance(node, Or):
        return or_(*(_compile(n, depth + 1) for n in node.items))
    if isinstance(node, Not):
        return not_(_compile(node.item, depth + 1))
    if isinstance(node, ValueFilter):
        if node.attr.name.lower() != "members" or node.attr.sub is not None:
            raise InvalidFilter(f"Groups cannot be filtered on {shown(str(node.attr))}[…].")
        return _members_match(node.filter)
    if isinstance(node, Comparison):
        return _comparison(node)
    raise InvalidFilter("Unsupported filter.")


def _members_match(inner: Node) -> Any:
    """``members[value eq "id"]`` and its and/or/not combinations, over one member row."""
    def value_condition(node: Node) -> Any:
        if isinstance(node, And):
            return and_(*(value_condition(n) for n in node.items))
        if isinstance(node, Or):
            return or_(*(value_condition(n) for n in node.items))
        if (isinstance(node, Comparison) and node.attr.uri is None and node.attr.sub is None
                and node.attr.name.lower() in ("value", "display", "type")):
            return _member_comparison(node.attr.name.lower(), node.op, node.value)
        raise InvalidFilter("Group members can be filtered on value, display and type only.")
    return _g.id.in_(select(_gm.group_id).join(User, User.id == _gm.user_id)
                     .where(_u.deleted_at.is_(None), value_condition(inner)))


def _member_comparison(name: str, op: str, value: Any) -> Any:
    if name == "type":
        matches = isinstance(value, str) and value.lower() == "user"
        if op == "eq":
            return true() if matches else false()
        if op == "pr":
            return true()
        raise InvalidFilter("members.type can be compared with eq and pr only.")
    column = _u.scim_id if name == "value" else func.coalesce(_u.display_name, _u.user_name)
    return _string_op(column, op, value, case_exact=name == "value", what=f"members.{name}")


def _comparison(node: Comparison) -> Any:
    ref = node.attr
    name = ref.name.lower()
    if ref.uri is not None and ref.uri.rstrip(":").lower() != \
            "urn:ietf:params:scim:schemas:core:2.0:group":
        raise InvalidFilter(f"Groups cannot be filtered on {shown(str(ref))}.")
    if name == "members" and ref.sub is not None and ref.sub.lower() in ("value", "display", "type"):
        return _g.id.in_(select(_gm.group_id).join(User, User.id == _gm.user_id)
                         .where(_u.deleted_at.is_(None),
                                _member_comparison(ref.sub.lower(), node.op, node.value)))
    if name == "members" and ref.sub is None and node.op == "pr":
        return _g.id.in_(select(_gm.group_id).join(User, User.id == _gm.user_id)
                         .where(_u.deleted_at.is_(None)))
    if ref.sub is None and name == "displayname":
        return _string_op(_g.display_name_norm, node.op, node.value, case_exact=False,
                          what="displayName", folded=True)
    if ref.sub is None and name == "externalid":
        return _string_op(_g.external_id, node.op, node.value, case_exact=True, what="externalId")
    if ref.sub is None and name == "id":
        return _string_op(_g.scim_id, node.op, node.value, case_exact=True, what="id")
    if name == "meta" and ref.sub is not None and ref.sub.lower() in ("created", "lastmodified"):
        column = _g.created_at if ref.sub.lower() == "created" else _g.updated_at
        return _time_op(column, node.op, node.value)
    raise InvalidFilter(f"Groups cannot be filtered on {shown(str(ref))} "
                        "(displayName, externalId, id, members.value, meta.created, "
                        "meta.lastModified).")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_op(column: Any, op: str, value: Any, *, case_exact: bool, what: str,
               folded: bool = False) -> Any:
    if op == "pr":
        return column.is_not(None)
    if not isinstance(value, str):
        raise InvalidFilter(f"{what} is a string: compare it with a string.")
    if folded:
        value = fold(value)
        target = column
    else:
        target = column if case_exact else func.lower(column)
        value = value if case_exact else value.lower()
    if op == "eq":
        return target == value
    if op == "ne":
        return or_(target != value, column.is_(None))
    if op in ("co", "sw", "ew"):
        pattern = _like_escape(value)
        pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op]
        like = target.like(pattern, escape="\\")
        if not case_exact:
            return like
        # LIKE ignores ASCII case on SQLite: it prefilters, the exact test decides.
        if op == "sw":
            return and_(like, func.substr(target, 1, len(value)) == value)
        if op == "ew":
            return and_(like, func.substr(target, func.length(target) - len(value) + 1) == value)
        position = func.instr if dialect_name() == "sqlite" else func.strpos
        return and_(like, position(target, value) > 0)
    if op in ("gt", "ge", "lt", "le"):
        return {"gt": target > value, "ge": target >= value, "lt": target < value,
                "le": target <= value}[op]
    raise InvalidFilter(f"Unsupported operator {op!r} for {what}.")


def _time_op(column: Any, op: str, value: Any) -> Any:
    moment = parse_time(value)
    ops = {"eq": column == moment, "ne": column != moment, "gt": column > moment,
           "ge": column >= moment, "lt": column < moment, "le": column <= moment}
    if op == "pr":
        return column.is_not(None)
    if op not in ops:
        raise InvalidFilter(f"Unsupported operator {op!r} for a date-time.")
    return ops[op]
