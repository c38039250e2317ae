"""HTTP in, JSON out: the SCIM 2.0 API at /scim/v2, the product's access API (/api/v1) and
AuthZEN decisions (/access/v1), health probes, errors, journal hooks, request log."""
from __future__ import annotations

from flask import Flask
from . import auth, authzen, directory, errors, health, journal, limits, requestlog, scim
from .http import TolerantPaths
from .proxies import TrustedProxies


def init_app(app: Flask) -> None:
    """Register the APIs, their error rendering and the request log on ``app``."""
    errors.init_app(app)
    requestlog.init_app(app)
    journal.init_app(app)
    app.register_blueprint(scim.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(directory.bp)
    app.register_blueprint(authzen.bp)
    app.before_request(scim.identify)  # before the limiter: it needs to know the key
    app.before_request(auth.identify_product)
    limits.init_app(app, [scim.bp, directory.bp, authzen.bp])
    app.wsgi_app = TolerantPaths(app.wsgi_app)  # type: ignore[method-assign]
    proxies = app.config.get("SCIMSVC_TRUSTED_PROXIES", 0)
    if proxies:
        # The client's address, scheme and host as the proxies saw them, believed only from a
        # trusted peer (api.proxies). Without the setting nothing is trusted.
        app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)  # type: ignore[method-assign]
