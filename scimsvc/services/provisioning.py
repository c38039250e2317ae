"""Provisioning settings: team assignment and what re-creating a removed user does."""
from __future__ import annotations

from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import InvalidValue
from ..extensions import db
from ..models import ProvisioningSettings
from ..store.settings import DEFAULT_ON_RECREATE
from .teams import get_team

ON_RECREATE = ("restore", "new")


def get_settings(tenant_id: int) -> ProvisioningSettings:
    """Return the organization's settings, creating the defaults on first use."""
    settings = db.session.scalar(
        select(ProvisioningSettings).where(ProvisioningSettings.tenant_id == tenant_id)
    )
    if settings is None:
        settings = ProvisioningSettings(tenant_id=tenant_id, on_recreate=DEFAULT_ON_RECREATE,
                                        journal_reads=False)
        db.session.add(settings)
        db.session.flush()
    return settings


def assign_team(tenant_id: int, team_name: str | None) -> ProvisioningSettings:
    """Add every SCIM-created user to ``team_name`` from now on (None turns it off)."""
    with write_transaction():
        settings = get_settings(tenant_id)
        settings.assign_team = get_team(tenant_id, team_name) if team_name else None
    return settings


def update_settings(tenant_id: int, *, on_recreate: str | None = None,
                    journal_reads: bool | None = None) -> ProvisioningSettings:
    """Change the settings given (None leaves one as it is); raise InvalidValue for an unknown policy."""
    if on_recreate is not None and on_recreate not in ON_RECREATE:
        raise InvalidValue(f"The re-creation policy is one of: {', '.join(ON_RECREATE)}.")
    with write_transaction():
        settings = get_settings(tenant_id)
        if on_recreate is not None:
            settings.on_recreate = on_recreate
        if journal_reads is not None:
            settings.journal_reads = journal_reads
    return settings
