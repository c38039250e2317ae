"""HTTP in, JSON out: the SCIM 2.0 API at /scim/v2, health probes, errors, journal hooks, request log."""
from __future__ import annotations

from flask import Flask

from . import errors, health, requestlog
from .http import TolerantPaths
from .scim import bp as scim_blueprint


def init_app(app: Flask) -> None:
    """Register the APIs, their error rendering and the request log on ``app``."""
    errors.init_app(app)
    app.register_blueprint(scim_blueprint)
    app.register_blueprint(health.bp)
    requestlog.init_app(app)
    app.wsgi_app = TolerantPaths(app.wsgi_app)  # type: ignore[method-assign]
