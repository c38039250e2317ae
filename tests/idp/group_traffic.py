"""Okta's and Microsoft Entra ID's group-push requests, transcribed from their documentation.

Sources:
- [OKTA-REF20] Okta, "SCIM 2.0 Protocol Reference", section "Groups" (Create Groups,
  Retrieve Groups, Retrieve specific Groups, Update a specific Group name, Update specific
  Group membership, Delete a specific Group),
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
- [ENTRA-TUT] Microsoft, "Tutorial: Develop and plan provisioning for a SCIM endpoint in
  Microsoft Entra ID", section "Group operations" (Create Group, Get Group, Get Group by
  displayName, Update Group [Non-member attributes], Update Group [Add Members],
  Update Group [Remove Members], Delete Group),
  https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups

The ids in the documents are the vendors' servers'; the replays put in the ids our server
assigned (``members``), keeping every other value and the bodies' key order.
"""
from __future__ import annotations

from tests.scimdata import PATCH_OP

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

# --- Okta [OKTA-REF20] ---------------------------------------------------------

def okta_create_group() -> dict:
    """Create Groups: Okta pushes the group without members, then PATCHes them in."""
    return {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}


def okta_rename(group_id: str) -> dict:
    """Update a specific Group name: a replace without path, the id repeated in the value."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"id": group_id,
                                                       "displayName": "Test SCIMv2"}}]}


def okta_add_members(*member_ids: str) -> dict:
    """Update specific Group membership (add): value and display (the user's login)."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members",
                            "value": [{"value": m, "display": "test.user@okta.local"}
                                      for m in member_ids]}]}


def okta_remove_member(member_id: str) -> dict:
    """Update specific Group membership (remove): a value filter in the path."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": f'members[value eq "{member_id}"]'}]}


def okta_replace_members(*member_ids: str) -> dict:
    """Okta's "push now" of a group sends the whole member list as a replace."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "members",
                            "value": [{"value": m, "display": "test.user@okta.local"}
                                      for m in member_ids]}]}


OKTA_LIST = "Groups?startIndex=1&count=100"  # Retrieve Groups


# --- Entra ID [ENTRA-TUT] ---------------------------------------------------------

def entra_create_group() -> dict:
    """Create Group: with Microsoft's own extension URN (unknown here: ignored), no members."""
    return {
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }


def entra_get_group(group_id: str) -> str:
    """Get Group: members are never asked for."""
    return f"Groups/{group_id}?excludedAttributes=members"


ENTRA_BY_NAME = 'Groups?excludedAttributes=members&filter=displayName%20eq%20%22displayName%22'


def entra_rename() -> dict:
    """Update Group [Non-member attributes]."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "displayName",
                            "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}


def entra_add_members(*member_ids: str) -> dict:
    """Update Group [Add Members]: ``$ref`` null."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "Add", "path": "members",
                            "value": [{"$ref": None, "value": m} for m in member_ids]}]}


def entra_remove_members(*member_ids: str) -> dict:
    """Update Group [Remove Members]: those members only."""
    return {"schemas": [PATCH_OP],
            "Operations": [{"op": "Remove", "path": "members",
                            "value": [{"$ref": None, "value": m} for m in member_ids]}]}
