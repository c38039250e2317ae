"""Discovery documents (RFC 7644 §4, RFC 7643 §5-§7), truthful about what scimsvc does."""
from __future__ import annotations

import copy
from typing import Any

from flask import current_app

from ..errors import NotFound
from ..scim.groups import CORE_GROUP, GROUP_SCHEMA
from ..scim.resource import BYTES_ONLY, INDEXED_BYTES, INDEXED_STRINGS
from ..scim.schema import (
    ENTERPRISE_SCHEMA,
    LIST_RESPONSE_SCHEMA,
    RESOURCE_TYPE_SCHEMA,
    SCHEMAS,
    SPC_SCHEMA,
    USER_SCHEMA,
)


def service_provider_config(root: str) -> dict[str, Any]:
    """RFC 7643 §5: which optional features this service supports."""
    config = current_app.config
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/scimsvc/scimsvc#readme",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": config["SCIMSVC_MAX_COUNT"]},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "pagination": {
            "cursor": False,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": config["SCIMSVC_DEFAULT_COUNT"],
            "maxPageSize": config["SCIMSVC_MAX_COUNT"],
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "API key (Bearer)",
                "description": "An scimsvc API key sent as 'Authorization: Bearer <key>'. "
                               "Issue one with 'scimsvc api-key create'.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{root}/ServiceProviderConfig",
        },
    }


def user_resource_type(root: str) -> dict[str, Any]:
    """RFC 7643 §6: the one resource type served, with the enterprise extension."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": False}],
        "meta": {"resourceType": "ResourceType", "location": f"{root}/ResourceTypes/User"},
    }


def group_resource_type(root: str) -> dict[str, Any]:
    """RFC 7643 §6: the Group resource type (RFC 7643 §4.2)."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_SCHEMA,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": f"{root}/ResourceTypes/Group"},
    }


def resource_types(root: str) -> list[dict[str, Any]]:
    return [user_resource_type(root), group_resource_type(root)]


def resource_type(root: str, name: str) -> dict[str, Any]:
    for item in resource_types(root):
        if item["id"].lower() == name.lower():
            return item
    raise NotFound(f"No resource type '{name}'.")


# Every schema published: the User schemas, then the Group's.
_PUBLISHED = {**SCHEMAS, GROUP_SCHEMA.lower(): CORE_GROUP}


def schemas(root: str) -> list[dict[str, Any]]:
    return [_with_caps(s.to_scim(f"{root}/Schemas/{s.id}")) for s in _PUBLISHED.values()]


def schema(root: str, urn: str) -> dict[str, Any]:
    found = _PUBLISHED.get(urn.lower())
    if found is None:
        raise NotFound(f"No schema '{urn}'.")
    return _with_caps(found.to_scim(f"{root}/Schemas/{found.id}"))


def _with_caps(rendered: dict[str, Any]) -> dict[str, Any]:
    """State the caps (SCIMSVC_MAX_MULTI_VALUES, SCIMSVC_MAX_STRING_LENGTH) in the descriptions.

    RFC 7643 §7 has no field for a size limit; the description is where a client reads it.
    """
    if rendered.get("id") != USER_SCHEMA:
        return rendered
    rendered = copy.deepcopy(rendered)
    config = current_app.config
    values = int(config.get("SCIMSVC_MAX_MULTI_VALUES", 1000))
    length = (f" At most {int(config.get('SCIMSVC_MAX_STRING_LENGTH', 1024))} characters "
              f"({INDEXED_BYTES:,} bytes of UTF-8).")
    indexed = {name if sub is None else f"{name}.{sub}" for name, sub in INDEXED_STRINGS}
    for attribute in rendered.get("attributes", []):
        name = attribute["name"]
        if name in indexed:
            attribute["description"] = attribute.get("description", "") + length
        if attribute.get("multiValued") and attribute.get("type") == "complex":
            attribute["description"] = attribute.get("description", "") + f" At most {values} values."
        for sub in attribute.get("subAttributes", []):
            if f"{name}.{sub['name']}" in indexed or (
                    attribute.get("multiValued") and sub["name"] == "value"):
                sub["description"] = sub.get("description", "") + (
                    f" At most {INDEXED_BYTES:,} bytes of UTF-8." if name in BYTES_ONLY else length)
    return rendered


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 7644 §3.4.2: discovery lists are never paged."""
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }

