"""Bearer-key authorization for the SCIM API.

A request carries ``Authorization: Bearer <key>``. The key must be known,
unrevoked and unexpired (else 401 with ``WWW-Authenticate: Bearer``, RFC 6750
§3), and its team must hold a role granting the tenant-scoped permission
``scim:provision`` (else 403). Both are checked on every request.
"""
from __future__ import annotations

import re

from ..errors import Forbidden, Unauthorized
from ..permissions import SCIM_PROVISION, TENANT
from ..services import audit
from ..services.keys import Credential, authenticate

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scimsvc"'}
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token (the scheme is case-insensitive).
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)


def authorize(header: str | None) -> Credential:
    """Return the credential for an ``Authorization`` header value, or raise 401/403."""
    if not header:
        raise Unauthorized("Missing 'Authorization: Bearer <key>' header.", headers=CHALLENGE)
    match = _BEARER.match(header.strip())
    if match is None:
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <key>'.",
                           headers={"WWW-Authenticate": 'Bearer realm="scimsvc", error="invalid_request"'})
    credential = authenticate(match.group(1), SCIM_PROVISION, TENANT)
    if credential is None:
        raise Unauthorized("The API key is unknown, revoked or expired.",
                           headers={"WWW-Authenticate": 'Bearer realm="scimsvc", error="invalid_token"'})
    audit.identify(credential.key)  # the journal names the key, even when it is refused
    if not credential.permitted:
        # RFC 6750 §3.1: a valid token without the privileges the request needs.
        raise Forbidden(headers={"WWW-Authenticate": 'Bearer realm="scimsvc", error="insufficient_scope"'})
    return credential
