"""scimsvc: a self-hosted SCIM 2.0 provisioning service."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Configuration is layered like Flask's tutorial app: defaults, then
    ``instance/config.py`` if present, then ``SCIMSVC_*`` environment variables,
    then ``test_config``.
    """
    # Here, not at the top: importing the pure core (scimsvc.scim) must not load Flask.
    from flask import Flask

    from . import api, config
    from .database import engine

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

    engine.init_app(app)
    api.init_app(app)
    return app

