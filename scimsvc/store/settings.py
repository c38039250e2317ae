"""The organization settings the request path reads: the create policy and journal_reads."""
from __future__ import annotations

import time
import weakref

from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Connection, Engine

from ..database.prepared import DriverConnection, PreparedQuery
from ..extensions import db
from ..models import ProvisioningSettings

DEFAULT_ON_RECREATE = "restore"
# journal_reads is read at most this often per organization and process, so reads cost
# no query (a change made in this process applies at once).
READS_SETTING_TTL = 5.0

_settings = ProvisioningSettings.__table__.c
_POLICY = PreparedQuery(select(_settings.on_recreate, _settings.assign_team_id).where(
    _settings.tenant_id == bindparam("tenant_id")))


def recreate_policy(connection: Connection, tenant_id: int) -> tuple[str, int | None]:
    """What a SCIM create does: (on_recreate, the id of the team it assigns or None).

    An organization without settings has the defaults.
    """
    row = _POLICY.first(DriverConnection.of(connection), {"tenant_id": tenant_id})
    if row is None:
        return DEFAULT_ON_RECREATE, None
    return row.on_recreate, row.assign_team_id


_reads_setting: "weakref.WeakKeyDictionary[Engine, dict[int, tuple[float, bool]]]" = \
    weakref.WeakKeyDictionary()


def journal_reads_enabled(tenant_id: int) -> bool:
    """Tell whether the organization journals successful reads (cached READS_SETTING_TTL s)."""
    cache = _reads_setting.setdefault(db.engine, {})
    now = time.monotonic()
    hit = cache.get(tenant_id)
    if hit is not None and now - hit[0] < READS_SETTING_TTL:
        return hit[1]
    value = bool(db.session.scalar(
        select(ProvisioningSettings.journal_reads).where(ProvisioningSettings.tenant_id == tenant_id)
    ))
    cache[tenant_id] = (now, value)
    return value


@event.listens_for(ProvisioningSettings, "after_update")
@event.listens_for(ProvisioningSettings, "after_insert")
def _forget_reads_setting(_mapper, connection, target) -> None:
    _reads_setting.get(connection.engine, {}).pop(target.tenant_id, None)
