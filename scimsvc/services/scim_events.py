"""The change event of a SCIM write, handed to the webhooks: a bridge until issue 11 §4 lands.

Issue 11's change events (``services/events.py``, branch issue11-access) build
the public event ``{"id", "sequence", "type", "occurredAt", "organization",
"source", "actor", "requestId", "changes", "user"}`` in the writing transaction,
with an organization-wide sequence from its counters, and call
``webhooks.enqueue`` with it. Until that is merged, ``audit.record`` calls
``for_scim_write`` here, so SCIM writes reach webhooks end to end: the same
shape, built from what the journal records, with a sequence taken from the
clock (microseconds: increasing for one server, not a counter). At merge the
call in ``audit.record`` and this module are replaced by events.py's.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.engine import Connection

from ..models import utcnow
from . import webhooks

_TYPES = {"create": "user.created", "restore": "user.restored", "replace": "user.updated",
          "patch": "user.updated", "disable": "user.disabled", "enable": "user.enabled",
          "remove": "user.removed"}


def for_scim_write(connection: Connection, user: Any, operation: str, changes: dict[str, Any],
                   *, request_id: str, actor: str | None, organization: str | None = None) -> None:
    """Enqueue the event of a journaled SCIM write of ``user`` (a UserRecord)."""
    event_type = _TYPES.get(operation)
    if event_type is None:
        return
    status = "removed" if user.deleted_at is not None else "active" if user.active else "disabled"
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "sequence": time.time_ns() // 1000,
        "type": event_type,
        "occurredAt": utcnow().isoformat(timespec="milliseconds") + "Z",
        "organization": organization,
        "source": "scim",
        "actor": actor,
        "requestId": request_id,
        "changes": sorted(changes),
        "user": {"id": user.scim_id, "userName": user.user_name, "externalId": user.external_id,
                 "displayName": user.display_name, "status": status, "version": user.version},
    }
    webhooks.enqueue(connection, user.tenant_id, event)
