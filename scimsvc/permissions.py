"""The permission catalogue: the actions a role can grant, and at which scope."""
from __future__ import annotations

from dataclasses import dataclass

TENANT = "tenant"
SCOPES = (TENANT,)


@dataclass(frozen=True)
class Permission:
    action: str
    title: str
    scopes: tuple[str, ...]
    description: str


SCIM_PROVISION = "scim:provision"

CATALOGUE: dict[str, Permission] = {
    p.action: p
    for p in (
        Permission(
            SCIM_PROVISION,
            "Provision Users with SCIM",
            (TENANT,),
            "Call the SCIM API to create, update, disable and remove the organization's users.",
        ),
    )
}
