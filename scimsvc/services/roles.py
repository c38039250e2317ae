"""Roles: named sets of (action, scope) permissions from the catalogue."""
from __future__ import annotations

from sqlalchemy import select

from ..errors import Conflict, Invalid, NotFound
from ..extensions import db
from ..models import Role, RolePermission, Team, team_roles
from ..permissions import CATALOGUE, TENANT
from .names import clean_name


def create_role(tenant_id: int, name: str, permissions: list[tuple[str, str | None]]) -> Role:
    """Create a role granting ``permissions`` (action, scope; scope defaults to tenant).

    Raises Invalid for an empty or unknown permission, Conflict for a duplicate name.
    """
    name = clean_name(name, "A role")
    if not permissions:
        raise Invalid("A role needs at least one --permission (see 'scimsvc permission list').")
    grants = set()
    for action, scope in permissions:
        entry = CATALOGUE.get(action)
        if entry is None:
            raise Invalid(f"Unknown permission '{action}' (see 'scimsvc permission list').")
        scope = scope or TENANT
        if scope not in entry.scopes:
            raise Invalid(f"Permission '{action}' cannot be granted at scope '{scope}'.")
        grants.add((action, scope))
    if _find(tenant_id, name) is not None:
        raise Conflict(f"Role '{name}' already exists.")
    role = Role(tenant_id=tenant_id, name=name,
                permissions=[RolePermission(action=a, scope=s) for a, s in sorted(grants)])
    db.session.add(role)
    db.session.commit()
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
    role = get_role(tenant_id, name)
    db.session.delete(role)
    db.session.commit()
