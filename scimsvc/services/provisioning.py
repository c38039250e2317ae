"""Provisioning settings: team assignment and what re-creating a removed user does."""
from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from ..errors import Invalid
from ..extensions import db
from ..models import ProvisioningSettings
from ..prepared import DriverConnection, PreparedQuery
from .teams import get_team

ON_RECREATE = ("restore", "new")
DEFAULT_ON_RECREATE = "restore"


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


_settings = ProvisioningSettings.__table__.c
_POLICY = PreparedQuery(select(_settings.on_recreate, _settings.assign_team_id).where(
    _settings.tenant_id == bindparam("tenant_id")))


def recreate_policy(connection: Connection, tenant_id: int) -> tuple[str, int | None]:
    """What a SCIM create does: (on_recreate, the id of the team it assigns or None).

    One prepared query on ``connection`` (the session's, in the request's
    transaction), creating nothing: loading the settings entity and its team was
    a sixth of a POST's CPU (in-process profile). An organization without
    settings has the defaults ``get_settings`` would create.
    """
    row = _POLICY.first(DriverConnection.of(connection),
                        {"tenant_id": tenant_id})
    if row is None:
        return DEFAULT_ON_RECREATE, None
    return row.on_recreate, row.assign_team_id


def assign_team(tenant_id: int, team_name: str | None) -> ProvisioningSettings:
    """Add every SCIM-created user to ``team_name`` from now on (None turns it off)."""
    settings = get_settings(tenant_id)
    settings.assign_team = get_team(tenant_id, team_name) if team_name else None
    db.session.commit()
    return settings


def update_settings(tenant_id: int, *, on_recreate: str | None = None,
                    journal_reads: bool | None = None) -> ProvisioningSettings:
    """Change the settings given (None leaves one as it is); raise Invalid for an unknown policy."""
    settings = get_settings(tenant_id)
    if on_recreate is not None:
        if on_recreate not in ON_RECREATE:
            raise Invalid(f"--on-recreate is one of: {', '.join(ON_RECREATE)}.")
        settings.on_recreate = on_recreate
    if journal_reads is not None:
        settings.journal_reads = journal_reads
    db.session.commit()
    return settings
