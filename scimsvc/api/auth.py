"""Bearer-key authorization for the SCIM API and the product's APIs.

A request carries ``Authorization: Bearer <key>``. The key must be known,
unrevoked and unexpired (else 401 with ``WWW-Authenticate: Bearer``, RFC 6750
§3), and its team must hold a role granting the tenant-scoped permission the
API needs (else 403): ``scim:provision`` for /scim/v2, ``directory:read`` for
/api/v1/users and the AuthZEN decisions, ``events:read`` for /api/v1/events.
Both are checked on every request.

The product's views say which permission they need with ``requires``;
``identify_product`` checks their key before the rate limiter, as
``api.scim.identify`` does for the SCIM API, and their refusals take the same
path: counted (``scimsvc_refusals_total``), summarised per minute in the journal,
in the key's organization when the key is known.

The check does not raise at once: ``check`` returns an ``Access`` (the
credential, or the refusal and its reason), so the rate limiter can count a
refused request against its client address before the refusal is answered.
A refused request writes nothing: it is counted in memory (services.refusals).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Callable, TypeVar

from flask import Response, current_app, g, request

from .. import metrics

from ..errors import Forbidden, ScimsvcError, Unauthorized
from ..permissions import CATALOGUE, SCIM_PROVISION, TENANT
from ..services import audit
from ..services.keys import Credential, authenticate
from . import journal
from .http import request_id

View = TypeVar("View", bound=Callable)

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


def requires(action: str) -> Callable[[View], View]:
    """Mark a view of the product's APIs (/api/v1, /access/v1) as needing ``action``."""
    def mark(view: View) -> View:
        view.scimsvc_action = action  # type: ignore[attr-defined]
        return view
    return mark


def identify_product() -> None:
    """Give a product API request its id and audit context, and check its key without
    refusing yet (an app-level hook registered before the rate limiter, like
    ``api.scim.identify``). Views without ``requires`` (the AuthZEN metadata) are public."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    action = getattr(view, "scimsvc_action", None)
    if action is None:
        return
    g.request_id = request_id()
    journal.bind_request(operation="other")
    g.access = check(request.headers.get("Authorization"), action)
    if g.access.refusal is not None:
        journal.note_refusal(g.access.reason)


def authorize_product() -> None:
    """Refuse a product API request whose key ``identify_product`` refused, or set
    ``g.credential`` and ``g.tenant_id`` (a blueprint ``before_request``)."""
    access: Access | None = g.get("access")
    if access is None:
        return  # a public view
    if access.refusal is not None:
        raise access.refusal
    assert access.credential is not None
    g.credential = access.credential
    g.tenant_id = access.credential.key.tenant_id


def record_product_refusal(response: Response) -> Response:
    """Count and journal a refused product API request (nothing else is journaled:
    these APIs only read)."""
    context = audit.current()
    if context is not None and context.refusal is not None:
        metrics.REFUSALS.labels(context.refusal).inc()
        journal.refusals().add(context, response.status_code)
    return response


def init_product_blueprint(bp) -> None:
    """Authorize and journal the refusals of a product API blueprint."""
    bp.before_request(authorize_product)
    bp.after_request(record_product_refusal)
