"""Rate limits (flask-limiter): per API key, and per client address for refused requests.

Two shared limits cover every keyed blueprint (the SCIM API, the product's /api/v1
and /access/v1), counted across all of them:

- ``SCIMSVC_RATE_LIMIT_PER_KEY`` counts the requests of each valid key, whatever
  route they call; a key over it gets 429.
- ``SCIMSVC_RATE_LIMIT_REFUSED`` counts, per client address, the requests that
  are being refused (no key, an unknown, revoked or expired key, 403); past it the
  address gets 429 instead of 401/403, so a flood of invented keys is cut short.
  Requests with a valid key are never counted here, so an IdP sharing an address
  with a misconfigured client keeps working.

The key's check runs first (``api.scim.identify``, ``api.auth.identify_product``,
registered before the limiter), so both limits know whether the key is valid; a
request whose key is not checked (the public AuthZEN metadata) is counted by
neither. Counts live in ``SCIMSVC_RATE_LIMIT_STORAGE``: memory (each process its own) or Redis (shared
by every worker and server); if Redis does not answer, each process falls back
to counting in memory rather than failing requests. A 429 carries ``Retry-After``
and the SCIM error body on /scim/v2 (the product API's JSON elsewhere).
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from ..config import RATE_LIMIT_NAMESPACE
from ..errors import TooManyRequests
from ..services import audit
from .auth import Access
from .errors import render_scim_error

log = logging.getLogger(__name__)

EXTENSION = "scimsvc.limiter"


def _access() -> Access | None:
    return g.get("access")


def _unkeyed() -> bool:
    return _access() is None


def _has_valid_key() -> bool:
    access = _access()
    return access is not None and access.refusal is None


def _key_id() -> str:
    access = _access()
    return f"key:{access.credential.key.id}" if access and access.credential else "key:-"


def _client_address() -> str:
    return f"addr:{request.remote_addr or '-'}"


def init_app(app: Flask, blueprints) -> None:
    """Limit the requests to ``blueprints`` (those whose requests carry an API key)."""
    per_key = app.config["SCIMSVC_RATE_LIMIT_PER_KEY"]
    refused = app.config["SCIMSVC_RATE_LIMIT_REFUSED"]
    limiter = Limiter(
        key_func=_client_address, app=None, storage_uri=app.config["SCIMSVC_RATE_LIMIT_STORAGE"],
        strategy="sliding-window-counter", key_prefix=app.config[RATE_LIMIT_NAMESPACE], headers_enabled=False,
        in_memory_fallback_enabled=True, swallow_errors=True,
        enabled=bool(per_key or refused),
    )
    for blueprint in blueprints:
        if per_key:
            limiter.shared_limit(per_key, scope="per-key", key_func=_key_id,
                                 exempt_when=lambda: not _has_valid_key())(blueprint)
        if refused:
            limiter.shared_limit(refused, scope="refused", key_func=_client_address,
                                 exempt_when=lambda: _unkeyed() or _has_valid_key())(blueprint)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)


def _too_many(error: RateLimitExceeded) -> Response:
    limiter: Limiter = current_app.extensions[EXTENSION]
    limit = limiter.current_limit
    retry_after = 1
    if limit is not None:
        try:
            retry_after = max(1, int(limit.reset_at - time.time()))
        except Exception:  # the storage went away between the hit and now
            log.warning("could not read the rate limit window", exc_info=True)
    context = audit.current()
    if context is not None:
        context.refusal = "rate_limited"
    which = "this API key" if _has_valid_key() else "refused requests from this address"
    refusal = TooManyRequests(f"Too many requests: the rate limit for {which} ({error.description}) "
                              "is exhausted. Retry later.", retry_after=retry_after)
    return render_scim_error(refusal)  # the product API's JSON error on its paths
