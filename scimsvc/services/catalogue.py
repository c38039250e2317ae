"""The organization's permission catalogue: the built-in actions and the product's own.

A product permission (``chat:use``…) is defined per organization with a title;
roles grant it like a built-in. It cannot be removed while a role grants it.
"""
from __future__ import annotations

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import ProductPermission, Role, RolePermission
from ..permissions import ACTION_PATTERN, CATALOGUE, MAX_ACTION, TENANT, Permission
from .names import MAX_NAME


def check_action_name(action: str) -> str:
    """Return ``action`` if it is a well-formed action name; raise InvalidValue otherwise."""
    if not isinstance(action, str) or len(action) > MAX_ACTION or not ACTION_PATTERN.fullmatch(action):
        raise InvalidValue(
            f"'{action}' is not a permission name: use lowercase words joined by ':' "
            f"(e.g. chat:use, models:admin), at most {MAX_ACTION} characters.")
    return action


def _product(tenant_id: int) -> list[ProductPermission]:
    return list(db.session.scalars(select(ProductPermission)
                                   .where(ProductPermission.tenant_id == tenant_id)
                                   .order_by(ProductPermission.action)))


def _as_permission(row: ProductPermission) -> Permission:
    return Permission(row.action, row.title, (TENANT,), row.description or "", builtin=False)


def list_permissions(tenant_id: int) -> list[Permission]:
    """The built-in permissions, then the organization's product permissions by action."""
    return list(CATALOGUE.values()) + [_as_permission(row) for row in _product(tenant_id)]


def find_permission(tenant_id: int, action: str) -> Permission | None:
    """The permission called ``action`` in the organization's catalogue, or None."""
    if action in CATALOGUE:
        return CATALOGUE[action]
    row = db.session.scalar(select(ProductPermission).where(
        ProductPermission.tenant_id == tenant_id, ProductPermission.action == action))
    return None if row is None else _as_permission(row)


def require_permission(tenant_id: int, action: str) -> Permission:
    """The permission ``action``; raise InvalidValue naming the catalogue if it is unknown."""
    found = find_permission(tenant_id, action) if isinstance(action, str) else None
    if found is None:
        raise InvalidValue(f"Unknown permission '{action}' (see 'scimsvc permission list').")
    return found


def add_permission(tenant_id: int, action: str, title: str,
                   description: str | None = None) -> Permission:
    """Define a product action. Raises InvalidValue for a malformed name or title,
    Conflict for a name already in the catalogue (built-in or not)."""
    check_action_name(action)
    title = (title or "").strip()
    if not title:
        raise InvalidValue("A permission needs a title (--title).")
    if len(title) > MAX_NAME:
        raise InvalidValue(f"A permission title is at most {MAX_NAME} characters.")
    description = description.strip() or None if description is not None else None
    if action in CATALOGUE:
        raise Conflict(f"Permission '{action}' is built in.")
    with write_transaction():
        if find_permission(tenant_id, action) is not None:
            raise Conflict(f"Permission '{action}' already exists.")
        row = ProductPermission(tenant_id=tenant_id, action=action, title=title,
                                description=description)
        db.session.add(row)
    return _as_permission(row)


def roles_granting(tenant_id: int, action: str) -> list[str]:
    """The names of the organization's roles granting ``action``, in order."""
    return list(db.session.scalars(
        select(Role.name).join(RolePermission, RolePermission.role_id == Role.id)
        .where(Role.tenant_id == tenant_id, RolePermission.action == action)
        .distinct().order_by(Role.name)))


def remove_permission(tenant_id: int, action: str) -> None:
    """Remove a product action. Refused (Conflict) for a built-in and while a role grants
    it, naming the roles; NotFound if the organization has no such action."""
    if action in CATALOGUE:
        raise Conflict(f"Permission '{action}' is built in and cannot be removed.")
    with write_transaction():
        row = db.session.scalar(select(ProductPermission).where(
            ProductPermission.tenant_id == tenant_id, ProductPermission.action == action))
        if row is None:
            raise NotFound(f"No permission '{action}'.")
        granting = roles_granting(tenant_id, action)
        if granting:
            raise Conflict(f"Permission '{action}' is granted by role(s) {', '.join(granting)}: "
                           "remove it from them first ('scimsvc role remove-permission').")
        db.session.delete(row)
