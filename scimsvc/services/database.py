"""Creating the database schema and the default organization."""
from __future__ import annotations

from ..extensions import db
from ..models import Organization
from .organizations import ensure_organization


def initialise(default_org: str) -> tuple[Organization, bool]:
    """Create the tables (idempotent) and the default organization; tell whether it was new."""
    db.create_all()
    return ensure_organization(default_org, default_org)
