"""Microsoft Entra ID's SCIM traffic, transcribed from Microsoft's published material.

Sources (each body below names the one it comes from):
- [TUT] "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
  https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  (MicrosoftDocs/entra-docs, docs/identity/app-provisioning/use-scim-to-provision-users-and-groups.md):
  "User Operations" requests, "Example 1/2/5", and the Test Connection note ("queries the SCIM
  endpoint for a user that doesn't exist, using a random GUID as the matching property ...
  The expected correct response is HTTP 200 OK with an empty SCIM ListResponse message").
- [KNOWN] "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra
  user provisioning service",
  https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility
  — the requests Entra sends without and with the ``aadOptscim062020`` feature flag.
- [ROLES] "Customize user provisioning attribute-mappings ...", section "Provisioning a role to
  a SCIM app",
  https://learn.microsoft.com/entra/identity/app-provisioning/customize-application-attributes
  — SingleAppRoleAssignment / AppRoleAssignmentsComplex requests, and the enterprise-extension
  user example (``manager`` as a complex value).
- [REFCODE] Microsoft's SCIM reference implementation and its test suites,
  https://github.com/AzureAD/SCIMReferenceCode: ``PostmanCollection.json`` ("SCIM Tests") and
  ``Microsoft.SCIM.PlaywrightTests/json/*.json`` with ``UserAndGroupTestsWithGarbage.cs``.

- [CAPTURE] a PATCH captured from Entra when a user's "Account enabled" was unchecked, posted in
  ssoready/ssoready issue #155 ("SCIM sync not updating active attribute on deactivation", 2024):
  ``Operations`` first, ``"Replace"`` and the string ``"False"``.

The one Entra shape not printed verbatim in those pages is the enterprise ``manager`` sent as a
bare id string on its URN path; [TUT] says "only the manager attribute is checked first for
users" and its schema example stores ``"manager": "123456"``; the PATCH that Entra sends for it
(``"value": "<manager id>"``) is the one the issue lists and the validator exercises.
"""
from __future__ import annotations

import copy
import uuid

from tests.scimdata import CORE_USER as CORE, ENTERPRISE, PATCH_OP

USER_AGENT = "Azure AD Provisioning"  # illustrative; Entra's pages do not print a User-Agent
CONTENT_TYPE = "application/scim+json"  # [TUT] "Content-type: application/scim+json"


def test_connection_filter(attribute: str = "userName") -> str:
    """[TUT] Test Connection: a lookup on the matching attribute with a random GUID."""
    return f'{attribute} eq "{uuid.uuid4()}"'


# [TUT] "Create User" request (POST /Users). ``meta`` and the empty ``roles`` are sent as-is.
_CREATE_USER = {
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [{
        "primary": True,
        "type": "work",
        "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    }],
    "meta": {
        "resourceType": "User"
    },
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName"
    },
    "roles": []
}

# [TUT] "Example 2. Provision a user": note the malformed extension URN in ``schemas``
# ("...enterprise:2.0User"), the nulls, and ``department``/``manager`` at top level.
_CREATE_USER_EXAMPLE_2 = {
    "schemas":
    [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
    "externalId": "jyoung",
    "userName": "jyoung@testuser.com",
    "active": True,
    "addresses": None,
    "displayName": "Joy Young",
    "emails": [
        {
            "type": "work",
            "value": "jyoung@Contoso.com",
            "primary": True}],
    "meta": {
        "resourceType": "User"},
    "name": {
        "familyName": "Young",
        "givenName": "Joy"},
    "phoneNumbers": None,
    "preferredLanguage": None,
    "title": None,
    "department": None,
    "manager": None}

# [REFCODE] PostmanCollection.json, "User tests" → "Post EnterpriseUser": PascalCase keys
# (``Primary``, ``Department``, ``Manager``, ``Value``) as Microsoft's own suite sends them.
_CREATE_ENTERPRISE_USER_PASCAL = {
    "userName": "UserName222",
    "active": True,
    "displayName": "lennay",
    "schemas": [
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ],
    "externalId": "5e5a2f3c-3c2d-4c43-a8c3-1c3e1a0c3d5f",  # Postman's {{$guid}}
    "name": {
        "formatted": "Adrew Ryan",
        "familyName": "Ryan",
        "givenName": "Andrew"
    },
    "emails": [
        {
            "Primary": True,
            "type": "work",
            "value": "testing@bob2.com"
        },
        {
            "Primary": False,
            "type": "home",
            "value": "testinghome@bob3.com"
        }
    ],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "Department": "bob",
        "Manager": {"Value": "SuzzyQ"}
    }
}

# [REFCODE] PostmanCollection.json "Get User Filters": a PascalCase attribute in the filter.
PASCAL_FILTER = 'DisplayName eq "lennay"'

# [REFCODE] Playwright json/user_omalley.json (POST; "User tests with garbage"): nulls inside
# complex values, a client-supplied ``meta`` with 7-digit fractions, an empty ``roles``.
_OMALLEY = {
    "userName": "OMalley",
    "active": True,
    "addresses": [
        {
            "country": "Bermuda",
            "formatted": "9132 Jennifer Way Suite 040\nSouth Nancy, MI 55645",
            "locality": "West Mercedes",
            "postalCode": "99265",
            "region": "Montana",
            "streetAddress": "4939 Hess Fork",
            "type": "work",
            "primary": False
        },
        {
            "country": None,
            "formatted": "18522 Lisa Unions\nEast Gregory, CT 52311",
            "locality": None,
            "postalCode": None,
            "region": None,
            "streetAddress": None,
            "type": "other",
            "primary": False
        }
    ],
    "displayName": "Kimberly Baker",
    "emails": [
        {
            "type": "work",
            "primary": True,
            "value": "anna33@example.com"
        },
        {
            "type": "other",
            "primary": False,
            "value": "anna33@gmail.com"
        }
    ],
    "meta": {
        "created": "2019-09-18T18:15:26.5788954+00:00",
        "lastModified": "2019-09-18T18:15:26.5788976+00:00",
        "resourceType": "User"
    },
    "name": {
        "formatted": "Daniel Mcgee",
        "familyName": "OMalley",
        "givenName": "Darl",
        "honorificPrefix": None,
        "honorificSuffix": None
    },
    "phoneNumbers": [
        {
            "type": "fax",
            "primary": False,
            "value": "312-320-0500"
        },
        {
            "type": "mobile",
            "primary": False,
            "value": "312-320-1707"
        },
        {
            "type": "work",
            "primary": True,
            "value": "312-320-0932"
        }
    ],
    "preferredLanguage": "xh",
    "roles": [],
    "title": "Site engineer",
    "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52",
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ]
}

# [REFCODE] Playwright json/user_junk.json, byte for byte: not JSON at all (expects 400).
USER_JUNK = (
    '{\n  "acve": tre,\n  "adadfdresses": [\n    {\n      "coudftry": "Beruda",\n'
    '      "formatted": "9132 Jennifer Way Suite 040\\nSouth Nancy, MI 55645",\n'
    '      "locality": "West Mercedes",\n      "postalCode": "99265",\n'
    '      "region": "Montana",\n      "streetAddress": "4939 Hess Fork",\n'
    '      "type": "work",\n      "primary": false\n    },\n    {\n      "country": null,\n'
    '      "formatted": "18522 Lisa Unions\\nEast Gregory, CT 52311",\n      "locality": null,\n'
    '      les": [],\n      "title": "Site engineer",\n'
    '      "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52",\n      "schemas": [\n'
    '        "urn:ietf:params:scim:schemas:core:2.0:User"\n      ]\n    }\n'
)


def create_user(**changes) -> dict:
    """[TUT] "Create User" request body, with top-level attributes replaced by ``changes``."""
    return {**copy.deepcopy(_CREATE_USER), **changes}


def create_user_example_2() -> dict:
    """[TUT] "Example 2. Provision a user" body (nulls, a mistyped extension URN)."""
    return copy.deepcopy(_CREATE_USER_EXAMPLE_2)


def create_enterprise_user_pascal() -> dict:
    """[REFCODE] Postman "Post EnterpriseUser" body (PascalCase sub-attribute names)."""
    return copy.deepcopy(_CREATE_ENTERPRISE_USER_PASCAL)


def omalley(**changes) -> dict:
    """[REFCODE] Playwright ``user_omalley.json``; ``changes`` replace top-level attributes.

    The suite's other users are this body with a few changes, which the callers spell out:
    ``user_emp1.json`` is userName "emp1", ``"active": "True"``, familyName "Employee" and two
    emails of type "work"; ``user_noname.json`` is ``user_emp2.json`` without ``userName``;
    ``put_omalley.json`` adds ``"id"`` and sets ``active`` false, country "Germany"/"bahams";
    ``put_omalley_typo.json`` is ``put_omalley.json`` with ``addresses`` misspelt ``adreses``.
    """
    body = copy.deepcopy(_OMALLEY)
    body.update(changes)
    return body


def patch(*operations: dict) -> dict:
    """A PatchOp body (RFC 7644 §3.5.2) with ``schemas`` first, as Entra orders it."""
    return {"schemas": [PATCH_OP], "Operations": [copy.deepcopy(op) for op in operations]}


# --- [KNOWN] What the ``aadOptscim062020`` flag changes, request by request -------------------

# "Requests made to disable users"
DISABLE_WITHOUT_FLAG = {"op": "Replace", "path": "active", "value": "False"}
DISABLE_WITH_FLAG = {"op": "replace", "path": "active", "value": False}

# "Requests made to add a single-value string attribute"
ADD_NICKNAME_WITHOUT_FLAG = {"op": "Add", "path": "nickName", "value": "Babs"}
ADD_NICKNAME_WITH_FLAG = {"op": "add", "path": "nickName", "value": "Babs"}

# "Requests to replace multiple attributes"
REPLACE_MANY_WITHOUT_FLAG = (
    {"op": "Replace", "path": "displayName", "value": "Pvlo"},
    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
    {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
    {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
    {"op": "Replace", "path": "externalId", "value": "Eqpj"},
    {"op": "Replace",
     "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
     "value": "Eqpj"},
)
REPLACE_MANY_WITH_FLAG = (
    {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
    {"op": "replace", "value": {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}},
)

# [CAPTURE] the whole body, in Entra's key order.
DISABLE_CAPTURED = {
    "Operations": [
        {
            "op": "Replace",
            "path": "active",
            "value": "False"
        }
    ],
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ]
}

# --- [TUT] "User Operations" -----------------------------------------------------------------

# "Update User [Multi-valued properties]"
UPDATE_MULTI_VALUED = (
    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
    {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
)
# "Update User [Single-valued properties]"
UPDATE_SINGLE_VALUED = (
    {"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
)
# "Disable User" (the tutorial's current form: capitalised op, JSON boolean, Operations first)
DISABLE_USER = {
    "Operations": [
        {
            "op": "Replace",
            "path": "active",
            "value": False
        }
    ],
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ]
}

# --- Manager and roles --------------------------------------------------------------------------

MANAGER_PATH = f"{ENTERPRISE}:manager"


def set_manager_bare(manager_id: str, op: str = "Add") -> dict:
    """Entra's manager update: the reference id as a bare string on the URN path."""
    return {"op": op, "path": MANAGER_PATH, "value": manager_id}


def set_manager_object(manager_id: str, op: str = "Replace") -> dict:
    """The manager as RFC 7643 §4.3 defines it, a complex value ([ROLES] user example)."""
    return {"op": op, "path": MANAGER_PATH, "value": {"value": manager_id}}


REMOVE_MANAGER = {"op": "Remove", "path": MANAGER_PATH}


def set_manager_customappsso(manager_id: str, ref: str | None = None, op: str = "Add") -> dict:
    """[KNOWN] the older (``customappsso`` job) manager update: the unqualified path ``manager``
    and the reference as a one-element array of ``{"$ref", "value"}``."""
    return {"op": op, "path": "manager", "value": [{"$ref": ref, "value": manager_id}]}


def create_user_with_bare_manager(manager_id: str, **overrides) -> dict:
    """[TUT]'s enterprise example stores ``"manager": "123456"``: a POST/PUT body whose
    enterprise extension carries the manager as the bare id string."""
    body = create_user(**overrides)
    body[ENTERPRISE] = {"department": "Sales", "manager": manager_id}
    return body


# [ROLES] SingleAppRoleAssignment, "Example output (PATCH)": the role as stringified JSON.
ADD_ROLE_STRINGIFIED = {
    "op": "Add",
    "path": "roles",
    "value": [
        {
            "value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}"
        }
    ]
}
# [ROLES] AppRoleAssignmentsComplex, "Example output (PATCH)".
ADD_ROLES_STRINGIFIED = {
    "op": "Add",
    "path": "roles",
    "value": [
        {
            "value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"
        },
        {
            "value": "{\"id\":\"06b07648-ecfe-599f-9d2f-6325724a46ee\",\"value\":\"User\",\"displayName\":\"User\"}"
        }
    ]
}
# [ROLES] SingleAppRoleAssignment, "Example request (POST)".
ROLE_ON_CREATE = [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
# [ROLES] AssertiveAppRoleAssignmentsComplex, "Example output (PATCH)".
REPLACE_ROLES_ASSERTIVE = {
    "op": "replace",
    "path": "roles",
    "value": [
        {
            "primary": False,
            "type": "WindowsAzureActiveDirectoryRole",
            "display": "User",
            "value": "User"
        },
        {
            "primary": False,
            "type": "WindowsAzureActiveDirectoryRole",
            "display": "Test",
            "value": "Test"
        }
    ]
}
