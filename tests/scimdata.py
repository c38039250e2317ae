"""The SCIM names and RFC sample values the tests share, written out once.

These are the wire values of RFC 7643/7644, spelled here rather than taken from
``scimsvc.scim.schema``: a test that imported the service's own constants would
pass however the service misspelled them. Expected values in assertions and the
IdPs' recorded bodies (tests/idp/*_traffic.py) stay written out where they are.
"""
from __future__ import annotations

SCIM = "application/scim+json"  # RFC 7644 §3.1 / §8.1

# Schemas (RFC 7643 §8.7.1, §4.3)
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# Messages (RFC 7644 §3.4.2, §3.4.3, §3.5.2, §3.12)
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# RFC 7643 §8.2 (full user representation): Babs Jensen's id, her manager's and a role's value.
BJENSEN_ID = "2819c223-7f76-453a-919d-413861904646"
MANAGER_ID = "26118915-6090-4610-87e4-49d8ca9f808d"
MANDY_ID = "902c246b-6245-4190-8e05-00816be7344a"

# RFC 7643 §8.2: her addresses.
WORK_ADDRESS = {
    "type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
    "region": "CA", "postalCode": "91608", "country": "USA", "primary": True,
}
HOME_ADDRESS = {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
                "region": "CA", "postalCode": "91608", "country": "USA"}
