"""The SCIM 2.0 API, mounted at ``/scim/v2``."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import errors, requestlog
    from .views import bp

    errors.init_app(app)
    app.register_blueprint(bp)
    requestlog.init_app(app)
