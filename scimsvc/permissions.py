"""The permission catalogue: the built-in actions a role can grant, and at which scope.

Built-ins are what scimsvc's own APIs check: ``scim:provision`` for /scim/v2,
``directory:read`` for the access API and AuthZEN decisions, ``events:read`` for
the change feed. An organization adds the actions of its product (``chat:use``…)
beside them (services.catalogue); their names follow ``ACTION_PATTERN``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TENANT = "tenant"
SCOPES = (TENANT,)

# A product action: lowercase words joined by ':' (at least one), e.g. chat:use, models:admin.
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+)+")
MAX_ACTION = 64


@dataclass(frozen=True)
class Permission:
    action: str
    title: str
    scopes: tuple[str, ...]
    description: str
    builtin: bool = True


SCIM_PROVISION = "scim:provision"
DIRECTORY_READ = "directory:read"
EVENTS_READ = "events:read"

CATALOGUE: dict[str, Permission] = {
    p.action: p
    for p in (
        Permission(
            SCIM_PROVISION,
            "Provision Users with SCIM",
            (TENANT,),
            "Call the SCIM API to create, update, disable and remove the organization's users.",
        ),
        Permission(
            DIRECTORY_READ,
            "Read users and their access",
            (TENANT,),
            "Call the access API (/api/v1/users) and the AuthZEN decision endpoints.",
        ),
        Permission(
            EVENTS_READ,
            "Read the change feed",
            (TENANT,),
            "Read the organization's change events (/api/v1/events).",
        ),
    )
}
