"""``scimsvc group``: the IdP's groups (created over SCIM), their members and linked teams."""
from __future__ import annotations

import click

from scimsvc.services import groups

from .context import State, pass_state
from .output import emit_json, fields, json_option, table, when


def _status(row) -> str:
    if row.deleted_at is not None:
        return "removed"
    return "active" if row.active else "disabled"


@click.group("group")
def group_group() -> None:
    """IdP groups: they grant nothing until a team links them (scimsvc team link-group)."""


@group_group.command("list")
@json_option
@pass_state
def group_list(state: State, as_json: bool) -> None:
    """List groups by displayName: live members and the teams linked to each."""
    found = groups.list_group_summaries(state.tenant_id)
    if as_json:
        emit_json([{"displayName": s.group.display_name, "id": s.group.scim_id,
                    "externalId": s.group.external_id, "members": s.members, "teams": s.teams}
                   for s in found])
        return
    table(["displayName", "id", "members", "teams"],
          [(s.group.display_name, s.group.scim_id, s.members, ", ".join(s.teams)) for s in found])


@group_group.command("show")
@click.argument("name", metavar="GROUP")
@json_option
@pass_state
def group_show(state: State, name: str, as_json: bool) -> None:
    """Show a group (by displayName, any case, or SCIM id): its members and linked teams."""
    detail = groups.show_group(state.tenant_id, name)
    group = detail.group
    members = [(m.user_name, m.scim_id, _status(m)) for m in detail.members]
    if as_json:
        emit_json({"displayName": group.display_name, "id": group.scim_id,
                   "externalId": group.external_id, "created": when(group.created_at),
                   "updated": when(group.updated_at), "teams": detail.teams,
                   "members": [{"userName": n, "id": i, "status": s} for n, i, s in members]})
        return
    fields([("Group", group.display_name), ("Id", group.scim_id),
            ("External id", group.external_id), ("Teams", ", ".join(detail.teams)),
            ("Members", len(members))])
    if members:
        table(["userName", "id", "status"], members)
