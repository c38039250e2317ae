"""Configuration defaults and the ``SCIMSVC_*`` environment variables that override them."""
from __future__ import annotations

import os
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    # None means "the SQLite file scimsvc.sqlite3 in the instance folder".
    "SQLALCHEMY_DATABASE_URI": None,
    # Public URL of the service (scheme://host[:port][/prefix]); None means
    # "derive it from the request", which is only right without a proxy.
    "SCIMSVC_BASE_URL": None,
    # RFC 7644 §3.4.2.4: the page size a list gets by default and the most it may ask.
    "SCIMSVC_DEFAULT_COUNT": 100,
    "SCIMSVC_MAX_COUNT": 1000,
    # RFC 7644 §3.4.2.2: filters are capped so one request cannot pin a CPU.
    "SCIMSVC_MAX_FILTER_LENGTH": 10_000,
    # Bodies bigger than this are refused with 413 before they are parsed.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # The organization the CLI works on when --org is not given.
    "SCIMSVC_DEFAULT_ORG": "default",
    # Seconds a SQLite writer waits for the lock before giving up.
    "SCIMSVC_SQLITE_BUSY_TIMEOUT": 30,
    "JSON_SORT_KEYS": False,
}

# Environment variable -> (config key, parser)
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "SCIMSVC_DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "SCIMSVC_BASE_URL": ("SCIMSVC_BASE_URL", str),
    "SCIMSVC_DEFAULT_COUNT": ("SCIMSVC_DEFAULT_COUNT", int),
    "SCIMSVC_MAX_COUNT": ("SCIMSVC_MAX_COUNT", int),
    "SCIMSVC_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "SCIMSVC_ORG": ("SCIMSVC_DEFAULT_ORG", str),
    "SCIMSVC_LOG_LEVEL": ("SCIMSVC_LOG_LEVEL", str),
}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Return the config keys set by ``SCIMSVC_*`` variables in ``environ``."""
    found = {}
    for name, (key, parse) in ENVIRONMENT.items():
        raw = environ.get(name)
        if raw not in (None, ""):
            found[key] = parse(raw)
    return found


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "scimsvc.sqlite3")


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill in values that depend on others (the database path, a bare base URL)."""
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(instance_path, exist_ok=True)
        config["SQLALCHEMY_DATABASE_URI"] = default_database_url(instance_path)
    if config.get("SCIMSVC_BASE_URL"):
        config["SCIMSVC_BASE_URL"] = config["SCIMSVC_BASE_URL"].rstrip("/")
