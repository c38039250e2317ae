"""HTTP in, JSON out: the SCIM 2.0 API at /scim/v2, its errors, journal hooks and request log."""
from __future__ import annotations

from flask import Flask

from . import errors, requestlog
from .http import TolerantPaths
from .scim import bp as scim_blueprint


def init_app(app: Flask) -> None:
    """Register the APIs, their error rendering and the request log on ``app``."""
    errors.init_app(app)
    app.register_blueprint(scim_blueprint)
    requestlog.init_app(app)
    app.wsgi_app = TolerantPaths(app.wsgi_app)  # type: ignore[method-assign]
