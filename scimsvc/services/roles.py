"""Roles: named sets of (action, scope) permissions from the catalogue."""
from __future__ import annotations

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import Role, RolePermission, Team, team_roles
from ..permissions import TENANT
from . import events
from .catalogue import require_permission
from .names import clean_name


def create_role(tenant_id: int, name: str, permissions: list[tuple[str, str | None]]) -> Role:
    """Create a role granting ``permissions`` (action, scope; scope defaults to tenant).

    Raises InvalidValue for an empty or unknown permission, Conflict for a duplicate name.
    """
    name = clean_name(name, "A role")
    if not permissions:
        raise InvalidValue("A role needs at least one permission.")
    grants = {_grant(tenant_id, action, scope) for action, scope in permissions}
    with write_transaction():
        if _find(tenant_id, name) is not None:
            raise Conflict(f"Role '{name}' already exists.")
        role = Role(tenant_id=tenant_id, name=name,
                    permissions=[RolePermission(action=a, scope=s) for a, s in sorted(grants)])
        db.session.add(role)
    return role


def _grant(tenant_id: int, action: str, scope: str | None) -> tuple[str, str]:
    """(action, scope) if the organization's catalogue has the action at the scope; else InvalidValue."""
    entry = require_permission(tenant_id, action)
    scope = scope or TENANT
    if scope not in entry.scopes:
        raise InvalidValue(f"Permission '{action}' cannot be granted at scope '{scope}'.")
    return action, scope


def _find(tenant_id: int, name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))


def get_role(tenant_id: int, name: str) -> Role:
    """Return the tenant's role called ``name``; raise NotFound if there is none."""
    role = _find(tenant_id, name)
    if role is None:
        raise NotFound(f"No role '{name}'.")
    return role


def list_roles(tenant_id: int) -> list[Role]:
    """Return the tenant's roles in name order."""
    return list(db.session.scalars(select(Role).where(Role.tenant_id == tenant_id).order_by(Role.name)))


def teams_with_role(role: Role) -> list[Team]:
    """Return the teams holding ``role``, in name order."""
    return list(db.session.scalars(
        select(Team).join(team_roles).where(team_roles.c.role_id == role.id).order_by(Team.name)
    ))


def add_permission(tenant_id: int, name: str, action: str, scope: str | None = None) -> Role:
    """Grant one more permission with the role; the members of teams holding it gain it at once.

    Raises NotFound for an unknown role, InvalidValue for an unknown permission,
    Conflict if the role already grants it.
    """
    with write_transaction() as connection:
        role = get_role(tenant_id, name)
        action, scope = _grant(tenant_id, action, scope)
        if any((p.action, p.scope) == (action, scope) for p in role.permissions):
            raise Conflict(f"Role '{role.name}' already grants '{action}'.")
        members = events.members_holding_role(connection, role.id)
        before = events.standing_before(connection, members)
        role.permissions.append(RolePermission(action=action, scope=scope))
        role.permissions.sort(key=lambda p: (p.action, p.scope))
        events.access_changed(connection, tenant_id, members, before=before)
    return role


def remove_permission(tenant_id: int, name: str, action: str, scope: str | None = None) -> Role:
    """Stop the role granting a permission; teams holding it lose it at once.

    Raises NotFound for an unknown role or a permission it does not grant,
    Conflict for its last permission (delete the role instead).
    """
    scope = scope or TENANT
    with write_transaction() as connection:
        role = get_role(tenant_id, name)
        grant = next((p for p in role.permissions if (p.action, p.scope) == (action, scope)), None)
        if grant is None:
            raise NotFound(f"Role '{role.name}' does not grant '{action}'.")
        if len(role.permissions) == 1:
            raise Conflict(f"'{action}' is the only permission of role '{role.name}': a role needs "
                           "at least one; delete the role instead ('scimsvc role delete').")
        members = events.members_holding_role(connection, role.id)
        before = events.standing_before(connection, members)
        role.permissions.remove(grant)
        events.access_changed(connection, tenant_id, members, before=before)
    return role


def delete_role(tenant_id: int, name: str) -> None:
    """Delete a role; the teams holding it lose its permissions at once."""
    with write_transaction() as connection:
        role = get_role(tenant_id, name)
        members = events.members_holding_role(connection, role.id)
        before = events.standing_before(connection, members)
        db.session.delete(role)
        events.access_changed(connection, tenant_id, members, before=before)
