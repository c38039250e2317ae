"""scimsvc: a self-hosted SCIM 2.0 provisioning service."""
from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Configuration is layered like Flask's tutorial app: defaults, then
    ``instance/config.py`` if present, then ``SCIMSVC_*`` environment variables,
    then ``test_config``.
    """
    from . import config
    from .extensions import init_db

    instance_path = os.path.abspath(
        (test_config or {}).get("INSTANCE_PATH")
        or os.environ.get("SCIMSVC_INSTANCE_PATH")
        or os.path.join(os.getcwd(), "instance")
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True,
                static_folder=None)
    app.config.from_mapping(config.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config.from_environment(app.config))  # SCIMSVC_* names in config.py
    app.config.update(config.from_environment(os.environ))
    if test_config:
        app.config.update(test_config)
    config.finalize(app.config, instance_path)

    init_db(app)

    from .scim import init_app as init_scim

    init_scim(app)
    app.wsgi_app = _TolerantPaths(app.wsgi_app)  # type: ignore[method-assign]
    return app


class _TolerantPaths:
    """Collapse repeated slashes and drop a trailing one before routing.

    Admins paste base URLs ending in '/' into IdPs, which then call
    ``/scim/v2//Users`` or ``/scim/v2/Users/``; werkzeug would answer with an HTML
    redirect or a 404. Both name the same SCIM resource, so serve it.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path or (len(path) > 1 and path.endswith("/")):
            while "//" in path:
                path = path.replace("//", "/")
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.wsgi_app(environ, start_response)
