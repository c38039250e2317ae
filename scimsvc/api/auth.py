"""Bearer-key authorization for the SCIM API and the product's APIs.

A request carries ``Authorization: Bearer <key>``. The key must be known,
unrevoked and unexpired (else 401 with ``WWW-Authenticate: Bearer``, RFC 6750
§3), and its team must hold a role granting the tenant-scoped permission the
API needs (else 403): ``scim:provision`` for /scim/v2, ``directory:read`` for
/api/v1/users and the AuthZEN decisions, ``events:read`` for /api/v1/events.
Both are checked on every request.

The check does not raise at once: ``check`` returns an ``Access`` (the
credential, or the refusal and its reason), so the rate limiter can count a
refused request against its client address before the refusal is answered.
A refused request writes nothing: it is counted in memory (services.refusals).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import g, request

from ..errors import Forbidden, ScimsvcError, Unauthorized
from ..permissions import CATALOGUE, SCIM_PROVISION, TENANT
from ..services import audit
from ..services.keys import Credential, authenticate
from .http import request_id

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scimsvc"'}
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token (the scheme is case-insensitive).
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="scimsvc", error="invalid_token"'}

# Why a request was refused (the journal's ``reason``, the refusals metric's label).
REASONS = ("no_key", "malformed", "unknown", "revoked", "expired", "forbidden", "rate_limited")


@dataclass(frozen=True)
class Access:
    """The outcome of checking a request's key: a valid credential, or a refusal and why."""

    credential: Credential | None
    refusal: ScimsvcError | None = None
    reason: str | None = None


def check(header: str | None, action: str = SCIM_PROVISION) -> Access:
    """Check an ``Authorization`` header value; never raises for a bad key."""
    if not header:
        return Access(None, Unauthorized("Missing 'Authorization: Bearer <key>' header.",
                                         headers=CHALLENGE), "no_key")
    match = _BEARER.match(header.strip())
    if match is None:
        return Access(None, Unauthorized(
            "Malformed Authorization header: expected 'Bearer <key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="scimsvc", error="invalid_request"'}),
            "malformed")
    credential = authenticate(match.group(1), action, TENANT)
    if credential is None:
        return Access(None, Unauthorized("The API key is unknown, revoked or expired.",
                                         headers=_INVALID_TOKEN), "unknown")
    audit.identify(credential.key)  # the journal names the key, even when it is refused
    if credential.state != "active":
        return Access(credential, Unauthorized("The API key is unknown, revoked or expired.",
                                               headers=_INVALID_TOKEN), credential.state)
    if not credential.permitted:
        # RFC 6750 §3.1: a valid token without the privileges the request needs.
        detail = None
        if action != SCIM_PROVISION:
            detail = (f"This API key's team has no role granting '{CATALOGUE[action].title}' "
                      f"({action}).")
        return Access(credential, Forbidden(
            detail, headers={"WWW-Authenticate": 'Bearer realm="scimsvc", error="insufficient_scope"'}),
            "forbidden")
    return Access(credential)


def authorize(header: str | None, action: str = SCIM_PROVISION) -> Credential:
    """Return the credential for an ``Authorization`` header value whose team may ``action``,
    or raise 401/403."""
    access = check(header, action)
    if access.refusal is not None:
        raise access.refusal
    assert access.credential is not None
    return access.credential


def authorize_product(action: str) -> Credential:
    """Authorize a request of the product's APIs (/api/v1, /access/v1) for ``action``.

    Sets ``g.request_id``, ``g.credential`` and ``g.tenant_id``; the request log
    names the key. Nothing is journaled: these APIs only read.
    """
    g.request_id = request_id()
    audit.bind(audit.RequestContext(request_id=g.request_id, method=request.method,
                                    path=request.path))
    g.credential = authorize(request.headers.get("Authorization"), action)
    g.tenant_id = g.credential.key.tenant_id
    return g.credential
