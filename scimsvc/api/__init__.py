"""HTTP in, JSON out: the SCIM 2.0 API at /scim/v2, health probes, errors, journal hooks, request log."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, health, journal, requestlog
from .http import TolerantPaths
from .scim import bp as scim_blueprint


def init_app(app: Flask) -> None:
    """Register the APIs, their error rendering and the request log on ``app``."""
    errors.init_app(app)
    journal.init_app(app)
    app.register_blueprint(scim_blueprint)
    app.register_blueprint(health.bp)
    requestlog.init_app(app)
    app.wsgi_app = TolerantPaths(app.wsgi_app)  # type: ignore[method-assign]
    proxies = app.config.get("SCIMSVC_TRUSTED_PROXIES", 0)
    if proxies:
        # The client's address, scheme and host as the proxies saw them, taking the last
        # ``proxies`` values of each header (the ones our proxies appended); anything a
        # client put in front of those is ignored. Without the setting nothing is trusted.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
