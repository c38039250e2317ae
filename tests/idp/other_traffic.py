"""OneLogin, JumpCloud and PingFederate/PingOne: the parts of their traffic that differ.

These vendors publish less request-level detail than Okta and Microsoft; each fixture says
where its shape comes from, and the tests assert only what those sources show.

- [OL-DOCKER] Docker's OneLogin SCIM setup guide (docker/docs, "SCIM" → OneLogin): OneLogin's
  "SCIM Provisioner with SAML (SCIM v2 Core)" app sends the SCIM JSON Template below, rendered
  with the user's values, with the custom headers ``Content-Type: application/scim+json`` and
  ``User-Agent: OneLogin SCIM``; deprovisioning is a drop-down ("Suspend" or "Delete").
- [OL-ENT] OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" default template as
  reproduced by service providers' setup guides (e.g. Keepnet Labs' "OneLogin SCIM
  Integration"): a string ``active`` ("{$user.active}"), ``"id": null``, a client ``meta``,
  and an enterprise ``manager`` carrying ``managerId`` instead of ``value``.
- [JC] JumpCloud, "Identity Management using a Custom SCIM Integration",
  https://jumpcloud.com/support/provision-and-manage-users-and-groups-in-apps-using-custom-scim-identity-management-integration:
  "A test user and test group are created to test the integration. Both will be deleted if
  the DELETE method is supported by the service provider. If the DELETE method is not
  supported for users, then the test user will be deactivated".
- [PING-FILTER] PingOne, "SCIM filter expressions",
  https://docs.pingidentity.com/pingone/integrations/p1_scim_filter_expressions.html:
  the user-matching filter is a template such as ``username Eq "%s"``.
- [PF] PingFederate "SCIM Provisioner" (https://docs.pingidentity.com/integrations/scim/):
  users are updated with PUT ("PATCH — Users: No"), "Provision disabled users" creates users
  with ``active`` false, and "Remove User Action" disables or deletes.
"""
from __future__ import annotations

import copy

# --- OneLogin ------------------------------------------------------------------------------

ONELOGIN_HEADERS = {"Content-Type": "application/scim+json", "User-Agent": "OneLogin SCIM"}

# [OL-DOCKER] the SCIM JSON Template, rendered for one user ({$parameters.scimusername} = Email).
_ONELOGIN_CORE = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ],
    "userName": "kate.owens@example.com",
    "name": {
        "givenName": "Kate",
        "familyName": "Owens"
    },
    "emails": [
        {
            "value": "kate.owens@example.com",
            "primary": True
        }
    ]
}

# [OL-ENT] the v2 Enterprise template, rendered for one user.
_ONELOGIN_ENTERPRISE = {
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "department": "Finance",
        "manager": {
            "managerId": "b8a5f2d2-3e4c-4f71-9f3e-2c1d9a7e6b10",
            "displayName": "Dana Whitfield"
        }
    },
    "active": "true",
    "emails": [
        {
            "value": "li.wei@example.com",
            "type": "work",
            "primary": True
        }
    ],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "familyName": "Wei",
        "givenName": "Li",
        "formatted": "Li Wei"
    },
    "userName": "li.wei@example.com",
    "id": None,
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ]
}


def onelogin_core(**changes) -> dict:
    return {**copy.deepcopy(_ONELOGIN_CORE), **changes}


def onelogin_enterprise(**changes) -> dict:
    return {**copy.deepcopy(_ONELOGIN_ENTERPRISE), **changes}


# --- JumpCloud -----------------------------------------------------------------------------

JUMPCLOUD_USER_AGENT = "JumpCloud SCIM"  # illustrative; JumpCloud does not document it

# [JC] the connection test's user (JumpCloud asks the admin for a test user account).
_JUMPCLOUD_TEST_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "jc-scim-test@example.com",
    "name": {"givenName": "JumpCloud", "familyName": "Test"},
    "emails": [{"value": "jc-scim-test@example.com", "type": "work", "primary": True}],
    "active": True,
}


def jumpcloud_test_user() -> dict:
    return copy.deepcopy(_JUMPCLOUD_TEST_USER)


# --- PingFederate / PingOne ----------------------------------------------------------------

PING_USER_AGENT = "PingFederate SCIM Provisioner"  # illustrative
# [PING-FILTER] the documented example template, "%s" being the matched user's identifier.
PING_FILTER_TEMPLATE = 'username Eq "%s"'


def ping_user(user_name: str, *, active: bool = True) -> dict:
    """A PingFederate create/PUT body: core + enterprise attributes, ``active`` as configured."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Janet", "familyName": "Smith"},
        "emails": [{"value": "janet.smith@example.com", "type": "work", "primary": True}],
        "active": active,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "4711"},
    }
