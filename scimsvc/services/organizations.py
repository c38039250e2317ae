"""Organizations (tenants): creating them and finding them by slug."""
from __future__ import annotations

import re

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import Organization, ProvisioningSettings
from .names import clean_name

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def get_organization(slug: str) -> Organization:
    """Return the organization called ``slug``; raise NotFound if there is none."""
    org = db.session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"No organization '{slug}'.")
    return org


_slugs: dict[int, str] = {}  # slugs never change


def get_organization_slug(tenant_id: int) -> str:
    """The slug of the organization ``tenant_id`` (cached: slugs never change)."""
    slug = _slugs.get(tenant_id)
    if slug is None:
        slug = db.session.scalar(select(Organization.slug).where(Organization.id == tenant_id))
        if slug is None:
            raise NotFound("No such organization.")
        _slugs[tenant_id] = slug
    return slug


def ensure_organization(slug: str, name: str | None = None) -> tuple[Organization, bool]:
    """Return the organization ``slug`` and whether it is new, creating it (and its settings) if needed."""
    with write_transaction():
        org = db.session.scalar(select(Organization).where(Organization.slug == slug))
        if org is not None:
            return org, False
        return create_organization(slug, name), True


def create_organization(slug: str, name: str | None = None) -> Organization:
    """Create an organization; raise InvalidValue for a bad slug and Conflict if it exists."""
    if not _SLUG.match(slug):
        raise InvalidValue("An organization slug is 1-63 lowercase letters, digits or '-'.")
    with write_transaction():
        if db.session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
            raise Conflict(f"Organization '{slug}' already exists.")
        org = Organization(slug=slug, name=clean_name(name, "An organization") if name else slug)
        db.session.add(org)
        db.session.flush()
        db.session.add(ProvisioningSettings(tenant_id=org.id))
    return org


def list_organizations() -> list[Organization]:
    """Return every organization in slug order."""
    return list(db.session.scalars(select(Organization).order_by(Organization.slug)))
