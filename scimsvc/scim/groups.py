"""The SCIM Group resource (RFC 7643 §4.2): its schema, reading a body, PATCH plans, rendering.

Members are users only, named by their SCIM ``id`` (``value``). A PATCH is read
into a plan over member ids, so the store touches only the members an operation
names: a few adds or removes on a group of 50,000 never read its member list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, NoTarget
from .filters.grammar import shown
from .filters.tree import And, Comparison, Node, Or, ValueFilter, parse_filter
from .patch.engine import read_operations
from .projection import Selection
from .resource import format_time
from .schema import Attribute, Schema

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

MEMBERS = Attribute(
    "members", "complex", True, "A list of members of the Group (users, by their id).",
    sub_attributes=(
        Attribute("value", case_exact=True, mutability="immutable",
                  description="The id of a User that is a member of the Group."),
        Attribute("$ref", "reference", mutability="immutable", reference_types=("User",),
                  description="The URI of the member's User resource."),
        Attribute("display", mutability="readOnly", returned="request",
                  description="The member's displayName, else its userName; returned when "
                              "asked for (attributes=members.display)."),
        Attribute("type", mutability="immutable", canonical_values=("User",),
                  description="The type of member: only 'User' (groups do not nest)."),
    ),
)

CORE_GROUP = Schema(
    GROUP_SCHEMA, "Group", "Group",
    (
        Attribute("displayName", required=True, uniqueness="server",
                  description="A human-readable name for the Group; unique in the organization, "
                              "ignoring case."),
        MEMBERS,
    ),
)

_TOP = {"displayname": "displayName", "externalid": "externalId", "members": "members",
        "id": "id", "meta": "meta", "schemas": "schemas"}


@dataclass(frozen=True)
class GroupDocument:
    """What a POST or PUT body says: the name, the externalId, and the members' ids (None: not sent)."""

    display_name: str
    external_id: str | None
    members: tuple[str, ...] | None


def _keys(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        name = key
        if key.lower().startswith(GROUP_SCHEMA.lower() + ":"):
            name = key[len(GROUP_SCHEMA) + 1:]
        canonical = _TOP.get(name.lower())
        if canonical is not None:
            out[canonical] = value
    return out


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("displayName is required and must be a non-empty string.")
    return value


def _external_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValue("Invalid attribute value: externalId: must be a string")
    return value or None


def member_ids(value: Any, where: str = "members") -> tuple[str, ...]:
    """The user ids of a ``members`` value (a list of {"value": id}, or one such object)."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidValue(f"Invalid attribute value: {where}: must be a JSON array")
    ids: list[str] = []
    for index, item in enumerate(value):
        if item is None:
            continue
        if not isinstance(item, dict):
            raise InvalidValue(f"Invalid attribute value: {where}[{index}]: must be a JSON object")
        fields = {k.lower(): v for k, v in item.items() if isinstance(k, str)}
        kind = fields.get("type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() != "user"):
            raise InvalidValue(f"{where}[{index}]: only users can be members (type 'User'); "
                               f"got type {kind!r}.")
        member = fields.get("value")
        if not isinstance(member, str) or not member:
            raise InvalidValue(f"Invalid attribute value: {where}[{index}].value: "
                               "must be a non-empty string (a User's id)")
        ids.append(member)
    return tuple(dict.fromkeys(ids))


def load_group(payload: Any) -> GroupDocument:
    """Read a Group body (POST or PUT). id, meta and unknown attributes are ignored (RFC 7644 §3.3)."""
    if not isinstance(payload, dict):
        raise InvalidSyntax("The request body must be a JSON object describing a Group.")
    found = _keys(payload)
    members = found.get("members")
    return GroupDocument(
        display_name=_display_name(found.get("displayName")),
        external_id=_external_id(found.get("externalId")),
        members=None if "members" not in found else member_ids(members),
    )


# --- PATCH --------------------------------------------------------------------

@dataclass
class GroupPatch:
    """What a PatchOp does to a group, in member ids: applied in order it reduces to this.

    ``replace_members`` True: the members become ``add`` (the list was replaced or
    cleared); else ``add`` join and ``remove`` leave. ``display_name`` /
    ``external_id`` are set when an operation names them (``external_id`` may be
    set to None: removed).
    """

    display_name: str | None = None
    external_id: str | None = None
    external_id_set: bool = False
    replace_members: bool = False
    add: dict[str, None] = field(default_factory=dict)  # ordered sets of ids
    remove: dict[str, None] = field(default_factory=dict)

    def _add(self, ids: Iterable[str]) -> None:
        for member in ids:
            self.remove.pop(member, None)
            self.add[member] = None

    def _remove(self, ids: Iterable[str]) -> None:
        for member in ids:
            self.add.pop(member, None)
            if not self.replace_members:
                self.remove[member] = None

    def _replace(self, ids: Iterable[str]) -> None:
        self.replace_members = True
        self.add = dict.fromkeys(ids)
        self.remove = {}

    @property
    def touches_members(self) -> bool:
        return self.replace_members or bool(self.add) or bool(self.remove)


def _split_path(path: str) -> tuple[str, str | None, str | None]:
    """``attr[filter].sub`` → (attr, filter, sub); a URN prefix of the Group schema is dropped."""
    text = path.strip()
    if text.lower().startswith(GROUP_SCHEMA.lower() + ":"):
        text = text[len(GROUP_SCHEMA) + 1:]
    if "[" in text:
        attr, _, rest = text.partition("[")
        inner, closing, after = rest.rpartition("]")
        if not closing:
            raise InvalidPath(f"The path {shown(path)} has an unclosed '['.")
        sub = after[1:] if after.startswith(".") else None
        if after and sub is None:
            raise InvalidPath(f"The path {shown(path)} is not an attribute path.")
        return attr.strip(), inner, sub
    attr, _, sub = text.partition(".")
    return attr.strip(), None, sub or None


def _filter_ids(text: str, path: str) -> list[str]:
    """The ids a ``members[...]`` filter names: ``value eq "id"``, joined by ``or``."""
    tree = parse_filter(text)
    ids: list[str] = []

    def walk(node: Node) -> None:
        if isinstance(node, Or):
            for item in node.items:
                walk(item)
        elif (isinstance(node, Comparison) and node.attr.uri is None and node.attr.sub is None
              and node.attr.name.lower() == "value" and node.op == "eq"
              and isinstance(node.value, str)):
            ids.append(node.value)
        else:
            raise InvalidFilter(f"The path {shown(path)}: members can be selected by "
                                '\'value eq "<id>"\' (joined by or) only.')

    walk(tree)
    return ids


def read_group_patch(body: Any) -> GroupPatch:
    """Read a PatchOp body for a Group (RFC 7644 §3.5.2) into a GroupPatch.

    The forms identity providers send: Okta's ``remove`` of
    ``members[value eq "<id>"]`` and ``replace`` of ``members``; Entra ID's
    ``Remove`` of ``members`` with a value list (those members only), ``Add`` of
    ``members``, ``Replace`` of ``displayName`` or of a value object without path.
    """
    plan = GroupPatch()
    for index, op, path, has_value, value in read_operations(body):
        where = f"Operations[{index}]"
        if path is None or (isinstance(path, str) and not path.strip()):
            if op == "remove":
                raise NoTarget(f"{where}: a remove needs a path (RFC 7644 §3.5.2.2).")
            if not isinstance(value, dict):
                raise InvalidSyntax(f"{where}: without a path, the value must be a JSON object.")
            for name, item in _keys(value).items():
                _apply(plan, op, name, None, None, item, True, where)
            continue
        if not isinstance(path, str):
            raise InvalidPath(f"{where}.path must be a string.")
        attr, value_filter, sub = _split_path(path)
        name = _TOP.get(attr.lower())
        if name is None or name in ("schemas",):
            raise InvalidPath(f"{where}: the Group has no attribute {shown(attr)}.")
        if sub is not None:
            raise InvalidPath(f"{where}: {shown(path)} cannot be changed; "
                              "members are added and removed whole.")
        if value_filter is not None and name != "members":
            raise InvalidPath(f"{where}: {shown(path)}: only members can be filtered.")
        if op != "remove" and not has_value:
            raise InvalidSyntax(f"{where}: an {op} needs a value.")
        _apply(plan, op, name, value_filter, path, value, has_value, where)
    return plan


def _apply(plan: GroupPatch, op: str, name: str, value_filter: str | None, path: str | None,
           value: Any, has_value: bool, where: str) -> None:
    if name in ("id", "meta"):
        if path is None:
            return  # a value object may repeat readOnly attributes: ignored (RFC 7644 §3.5.2)
        raise InvalidPath(f"{where}: '{name}' is readOnly (RFC 7643 §3.1).")
    if name == "displayName":
        if op == "remove":
            raise InvalidValue(f"{where}: displayName is required and cannot be removed.")
        plan.display_name = _display_name(value)
        return
    if name == "externalId":
        plan.external_id = None if op == "remove" else _external_id(value)
        plan.external_id_set = True
        return
    # members
    if value_filter is not None:
        if op != "remove":
            raise InvalidPath(f"{where}: {op} of {shown(path or '')} is not supported: "
                              "add or replace 'members' with a list instead.")
        plan._remove(_filter_ids(value_filter, path or ""))
        return
    if op == "remove":
        if has_value and value is not None:
            plan._remove(member_ids(value, f"{where}.value"))  # Entra: those members only
        else:
            plan._replace(())
        return
    ids = member_ids(value, f"{where}.value")
    if op == "add":
        plan._add(ids)
    else:
        plan._replace(ids)


# --- rendering ------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    """One member as a Group renders it."""

    scim_id: str
    display: str | None


def dump_group(group: Any, members: list[Member] | None, location: str,
               user_prefix: str, *, display: bool = False) -> dict[str, Any]:
    """Render a group (RFC 7643 §4.2); ``members`` None leaves them out (not loaded).

    ``display`` (returned "request") is rendered only when ``display`` is true.
    """
    created = format_time(group.created_at)
    out: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": group.scim_id}
    if group.external_id is not None:
        out["externalId"] = group.external_id
    out["displayName"] = group.display_name
    if members:
        out["members"] = [
            {"value": m.scim_id, "$ref": f"{user_prefix}{m.scim_id}", "type": "User",
             **({"display": m.display} if display and m.display else {})}
            for m in members
        ]
    out["meta"] = {
        "resourceType": "Group", "created": created,
        "lastModified": created if group.updated_at == group.created_at
        else format_time(group.updated_at),
        "location": location, "version": f'W/"{group.version}"',
    }
    return out


def _selected_names(names: tuple[str, ...]) -> set[tuple[str, str | None]]:
    out = set()
    for raw in names:
        text = raw.strip()
        if text.lower().startswith(GROUP_SCHEMA.lower() + ":"):
            text = text[len(GROUP_SCHEMA) + 1:]
        attr, _, sub = text.partition(".")
        canonical = _TOP.get(attr.lower())
        if canonical is not None:
            out.add((canonical, sub or None))
    return out


def wants_members(selection: Selection) -> bool:
    """Whether a response with this selection shows members (else they need not be loaded)."""
    if selection.attributes:
        return any(name == "members" for name, _ in _selected_names(selection.attributes))
    if selection.excluded:
        return ("members", None) not in _selected_names(selection.excluded)
    return True


def wants_display(selection: Selection) -> bool:
    """Whether ``attributes`` asks for members.display (returned "request", RFC 7643 §7)."""
    return any(name == "members" and sub is not None and sub.lower() == "display"
               for name, sub in _selected_names(selection.attributes))


def project_group(resource: dict[str, Any], selection: Selection) -> dict[str, Any]:
    """``attributes`` / ``excludedAttributes`` for a Group (schemas and id always come back)."""
    if selection.attributes:
        wanted = _selected_names(selection.attributes)
        out = {"schemas": resource["schemas"], "id": resource["id"]}
        for name, value in resource.items():
            subs = {sub for n, sub in wanted if n == name}
            if not subs or name in out:
                continue
            if None in subs or not isinstance(value, (dict, list)):
                out[name] = value
            elif isinstance(value, dict):
                kept = {k: v for k, v in value.items() if k.lower() in {s.lower() for s in subs}}
                if kept:
                    out[name] = kept
            else:
                lowered = {s.lower() for s in subs}
                kept_items = [{k: v for k, v in item.items() if k.lower() in lowered}
                              for item in value]
                if any(kept_items):
                    out[name] = [item for item in kept_items if item]
        return out
    if selection.excluded:
        out = dict(resource)
        for name, sub in _selected_names(selection.excluded):
            if name in ("id", "schemas"):
                continue
            if sub is None:
                out.pop(name, None)
            elif isinstance(out.get(name), list):
                out[name] = [{k: v for k, v in item.items() if k.lower() != sub.lower()}
                             for item in out[name]]
            elif isinstance(out.get(name), dict):
                out[name] = {k: v for k, v in out[name].items() if k.lower() != sub.lower()}
        return out
    return resource


# --- filters ----------------------------------------------------------------------

FILTERABLE = {"displayname": "displayName", "externalid": "externalId", "id": "id",
              "members": "members", "meta": "meta"}


def parse_group_filter(text: str) -> Node:
    """Parse a /Groups filter; names are checked by the store when it compiles the tree."""
    return parse_filter(text)


__all__ = ["GROUP_SCHEMA", "CORE_GROUP", "GroupDocument", "GroupPatch", "Member", "load_group",
           "read_group_patch", "dump_group", "project_group", "wants_members", "wants_display", "member_ids",
           "parse_group_filter", "And", "ValueFilter"]
