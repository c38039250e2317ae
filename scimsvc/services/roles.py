"""Roles: named sets of (action, scope) permissions from the catalogue."""
from __future__ import annotations

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import Role, RolePermission, Team, team_roles
from ..permissions import CATALOGUE, TENANT
from .names import clean_name


def create_role(tenant_id: int, name: str, permissions: list[tuple[str, str | None]]) -> Role:
    """Create a role granting ``permissions`` (action, scope; scope defaults to tenant).

    Raises InvalidValue for an empty or unknown permission, Conflict for a duplicate name.
    """
    name = clean_name(name, "A role")
    if not permissions:
        raise InvalidValue("A role needs at least one permission.")
    grants = set()
    for action, scope in permissions:
        entry = CATALOGUE.get(action)
        if entry is None:
            raise InvalidValue(f"Unknown permission '{action}'.")
        scope = scope or TENANT
        if scope not in entry.scopes:
            raise InvalidValue(f"Permission '{action}' cannot be granted at scope '{scope}'.")
        grants.add((action, scope))
    with write_transaction():
        if _find(tenant_id, name) is not None:
            raise Conflict(f"Role '{name}' already exists.")
        role = Role(tenant_id=tenant_id, name=name,
                    permissions=[RolePermission(action=a, scope=s) for a, s in sorted(grants)])
        db.session.add(role)
    return role


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


def delete_role(tenant_id: int, name: str) -> None:
    """Delete a role; the teams holding it lose its permissions at once."""
    with write_transaction():
        db.session.delete(get_role(tenant_id, name))
