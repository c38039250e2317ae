"""Configuration defaults and the ``SCIMSVC_*`` settings that override them.

A setting comes from ``instance/config.py`` (a Python assignment) or, winning
over it, from the environment variable of the same name.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from typing import Any, Mapping
from urllib.parse import urlsplit

import limits

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

DEFAULTS: dict[str, Any] = {
    # None means "the SQLite file scimsvc.sqlite3 in the instance folder".
    "SQLALCHEMY_DATABASE_URI": None,
    # Public URL of the service (scheme://host[:port][/prefix]); None means
    # "derive it from the request", which is only right without a proxy.
    "SCIMSVC_BASE_URL": None,
    # Whose X-Forwarded-* headers are believed: the addresses or networks of the reverse
    # proxies in front ("10.0.0.5,10.1.0.0/16"), or a number of proxies on this host (believed
    # only from a loopback peer); 0 (the default) trusts none (api.proxies).
    "SCIMSVC_TRUSTED_PROXIES": 0,
    # RFC 7644 §3.4.2.4: the page size a list gets by default and the most it may ask.
    "SCIMSVC_DEFAULT_COUNT": 100,
    "SCIMSVC_MAX_COUNT": 1000,
    # RFC 7644 §3.4.2.2: filters are capped so one request cannot pin a CPU.
    "SCIMSVC_MAX_FILTER_LENGTH": 10_000,
    # Caps published in /Schemas: values per multi-valued attribute, and characters of an
    # indexed string (userName, externalId, name.familyName, multi-valued values).
    "SCIMSVC_MAX_MULTI_VALUES": 1000,
    "SCIMSVC_MAX_STRING_LENGTH": 1024,
    # Bodies bigger than this are refused with 413 before they are parsed.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # The organization the CLI works on when --org is not given.
    "SCIMSVC_DEFAULT_ORG": "default",
    # Seconds a SQLite writer waits for the lock before giving up (then 503 + Retry-After).
    "SCIMSVC_SQLITE_BUSY_TIMEOUT": 30,
    # FULL: a commit survives power loss. NORMAL (WAL): faster, but the last commits
    # before a power loss or OS crash may roll back (docs/deploy.md).
    "SCIMSVC_SQLITE_SYNCHRONOUS": "FULL",
    # Seconds a PostgreSQL statement waits for a lock, and runs at most (then 503 + Retry-After).
    "SCIMSVC_POSTGRES_LOCK_TIMEOUT": 10,
    "SCIMSVC_POSTGRES_STATEMENT_TIMEOUT": 30,
    # ``scimsvc serve``: seconds a request may take to arrive, first byte to last (then 408),
    # and seconds a connection may stay idle before it is closed (cli/front.py).
    "SCIMSVC_READ_TIMEOUT": 20,
    "SCIMSVC_IDLE_TIMEOUT": 30,
    # Rate limits (flask-limiter; "N per second|minute|hour", several joined by ";", or
    # "off"): requests per API key, whatever its route, and refused requests (no valid key,
    # 401/403) per client address. Far above what an IdP sends: Entra's gallery rule is
    # 25 requests/s per tenant; Okta's imports come in bursts.
    "SCIMSVC_RATE_LIMIT_PER_KEY": "200 per second; 6000 per minute",
    "SCIMSVC_RATE_LIMIT_REFUSED": "60 per minute",
    # Where the counts live: memory:// (each process its own) or redis://host:port/db,
    # shared by every worker and server using it.
    "SCIMSVC_RATE_LIMIT_STORAGE": "memory://",
    # Seconds between journal writes of the refused requests counted in memory.
    "SCIMSVC_REFUSAL_FLUSH_SECONDS": 10.0,
    # host:port of the Prometheus listener `scimsvc serve` opens for /metrics ("" = none).
    "SCIMSVC_METRICS_LISTEN": "",
    # Level of the service's own log (stderr) under ``scimsvc serve``.
    "SCIMSVC_LOG_LEVEL": "INFO",
    # Days the change feed keeps events; an older cursor is 410 (resynchronise from /api/v1/users).
    "SCIMSVC_EVENT_RETENTION_DAYS": 30,
    "JSON_SORT_KEYS": False,
    # Webhooks (services/webhooks.py): the key their signing secrets are encrypted with
    # (None: instance/webhook.key), the timeout of one POST, how long a delivery is retried,
    # the first retry's delay (doubled each time), a worker's claim lease, the poll interval
    # of an idle worker, and whether ``scimsvc serve`` runs delivery workers.
    "SCIMSVC_WEBHOOK_KEY": None,
    "SCIMSVC_WEBHOOK_TIMEOUT": 5,
    "SCIMSVC_WEBHOOK_MAX_AGE_HOURS": 24,
    "SCIMSVC_WEBHOOK_RETRY_SECONDS": 5,
    "SCIMSVC_WEBHOOK_LEASE_SECONDS": 60,
    "SCIMSVC_WEBHOOK_POLL_SECONDS": 0.5,
    "SCIMSVC_WEBHOOK_WORKER": True,
    # The Google Workspace sync (services/sources/google.py, docs/idp/google-workspace.md):
    # the root the Directory API paths are joined to, seconds between the syncs ``serve``
    # runs, how many disables + removals one sync may make (None: 10 % of the source's
    # users, at least 5; "N%" a share), and seconds one API request may take.
    "SCIMSVC_GOOGLE_API_URL": "https://admin.googleapis.com/",
    "SCIMSVC_GOOGLE_SYNC_INTERVAL": 900,
    "SCIMSVC_GOOGLE_MAX_REMOVALS": None,
    "SCIMSVC_GOOGLE_TIMEOUT": 30,
}

# Not a setting: whether the engine may create a missing SQLite file. ``scimsvc init`` may;
# the other commands and ``serve`` clear it, so one run from the wrong folder creates nothing.
CREATE_DATABASE = "SCIMSVC_CREATE_DATABASE"
# Not a setting: the prefix of this deployment's rate-limit counters (finalize).
RATE_LIMIT_NAMESPACE = "SCIMSVC_RATE_LIMIT_NAMESPACE"



PROXIES_EXPECTED = ("the proxies' addresses or networks, such as 10.0.0.5,10.1.0.0/16, "
                    "or a number of proxies on this host from 0 to 10")


class ConfigError(ValueError):
    """A setting has a value scimsvc cannot use; the message names the setting."""


def _positive_int(raw: Any) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _positive_number(raw: Any) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _trusted_proxies(raw: Any) -> int | tuple[str, ...]:
    """A number of proxies (0 to 10), or the proxies' addresses and networks (a comma-separated
    string or a list), normalised to networks ("10.0.0.5/32")."""
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
        value = int(raw)
        if not 0 <= value <= 10:
            raise ValueError(raw)
        return value
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    if not items:
        raise ValueError(raw)
    return tuple(str(ipaddress.ip_network(str(item).strip(), strict=False)) for item in items)


def _synchronous(raw: Any) -> str:
    level = str(raw).strip().upper()
    if level not in ("FULL", "NORMAL"):
        raise ValueError(raw)
    return level


def _on_off(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
def _rate_limit(raw: Any) -> str:
    text = str(raw).strip()
    if text.lower() in ("off", "none", "0"):
        return ""
    try:
        if not limits.parse_many(text):
            raise ValueError(raw)
    except ValueError:
        raise ValueError(raw) from None
    return text


def _storage_uri(raw: Any) -> str:
    text = str(raw).strip()
    if urlsplit(text).scheme not in ("memory", "redis", "rediss", "redis+sentinel",
                                     "redis+cluster"):
        raise ValueError(raw)
    return text


def _listen_address(raw: Any) -> str:
    text = str(raw).strip()
    if text.lower() in ("", "off"):
        return ""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not 0 < int(port) < 65536:
        raise ValueError(raw)
    return text


def _log_level(raw: Any) -> str:
    level = str(raw).strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(raw)
    return level


def _removals(raw: Any) -> int | str:
    text = str(raw).strip()
    if text.endswith("%"):
        share = float(text[:-1])
        if not 0 <= share <= 100:
            raise ValueError(raw)
        return f"{share:g}%"
    value = int(text)
    if value < 0:
        raise ValueError(raw)
    return value


def _api_url(raw: Any) -> str:
    parts = urlsplit(str(raw))
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(raw)
    return str(raw).rstrip("/") + "/"


# Setting name (an environment variable, or an assignment in instance/config.py)
# -> (config key, parser).
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "SCIMSVC_DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "SCIMSVC_BASE_URL": ("SCIMSVC_BASE_URL", str),
    "SCIMSVC_TRUSTED_PROXIES": ("SCIMSVC_TRUSTED_PROXIES", _trusted_proxies),
    "SCIMSVC_DEFAULT_COUNT": ("SCIMSVC_DEFAULT_COUNT", _positive_int),
    "SCIMSVC_MAX_COUNT": ("SCIMSVC_MAX_COUNT", _positive_int),
    "SCIMSVC_MAX_FILTER_LENGTH": ("SCIMSVC_MAX_FILTER_LENGTH", _positive_int),
    "SCIMSVC_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", _positive_int),
    "SCIMSVC_MAX_MULTI_VALUES": ("SCIMSVC_MAX_MULTI_VALUES", _positive_int),
    "SCIMSVC_MAX_STRING_LENGTH": ("SCIMSVC_MAX_STRING_LENGTH", _positive_int),
    "SCIMSVC_ORG": ("SCIMSVC_DEFAULT_ORG", str),
    "SCIMSVC_SQLITE_BUSY_TIMEOUT": ("SCIMSVC_SQLITE_BUSY_TIMEOUT", _positive_number),
    "SCIMSVC_SQLITE_SYNCHRONOUS": ("SCIMSVC_SQLITE_SYNCHRONOUS", _synchronous),
    "SCIMSVC_POSTGRES_LOCK_TIMEOUT": ("SCIMSVC_POSTGRES_LOCK_TIMEOUT", _positive_number),
    "SCIMSVC_POSTGRES_STATEMENT_TIMEOUT": ("SCIMSVC_POSTGRES_STATEMENT_TIMEOUT", _positive_number),
    "SCIMSVC_READ_TIMEOUT": ("SCIMSVC_READ_TIMEOUT", _positive_int),
    "SCIMSVC_IDLE_TIMEOUT": ("SCIMSVC_IDLE_TIMEOUT", _positive_int),
    "SCIMSVC_LOG_LEVEL": ("SCIMSVC_LOG_LEVEL", _log_level),
    "SCIMSVC_EVENT_RETENTION_DAYS": ("SCIMSVC_EVENT_RETENTION_DAYS", _positive_int),
    "SCIMSVC_WEBHOOK_KEY": ("SCIMSVC_WEBHOOK_KEY", str),
    "SCIMSVC_WEBHOOK_TIMEOUT": ("SCIMSVC_WEBHOOK_TIMEOUT", _positive_number),
    "SCIMSVC_WEBHOOK_MAX_AGE_HOURS": ("SCIMSVC_WEBHOOK_MAX_AGE_HOURS", _positive_number),
    "SCIMSVC_WEBHOOK_RETRY_SECONDS": ("SCIMSVC_WEBHOOK_RETRY_SECONDS", _positive_number),
    "SCIMSVC_WEBHOOK_LEASE_SECONDS": ("SCIMSVC_WEBHOOK_LEASE_SECONDS", _positive_number),
    "SCIMSVC_WEBHOOK_POLL_SECONDS": ("SCIMSVC_WEBHOOK_POLL_SECONDS", _positive_number),
    "SCIMSVC_WEBHOOK_WORKER": ("SCIMSVC_WEBHOOK_WORKER", _on_off),
    "SCIMSVC_RATE_LIMIT_PER_KEY": ("SCIMSVC_RATE_LIMIT_PER_KEY", _rate_limit),
    "SCIMSVC_RATE_LIMIT_REFUSED": ("SCIMSVC_RATE_LIMIT_REFUSED", _rate_limit),
    "SCIMSVC_RATE_LIMIT_STORAGE": ("SCIMSVC_RATE_LIMIT_STORAGE", _storage_uri),
    "SCIMSVC_REFUSAL_FLUSH_SECONDS": ("SCIMSVC_REFUSAL_FLUSH_SECONDS", _positive_number),
    "SCIMSVC_METRICS_LISTEN": ("SCIMSVC_METRICS_LISTEN", _listen_address),
    "SCIMSVC_GOOGLE_API_URL": ("SCIMSVC_GOOGLE_API_URL", _api_url),
    "SCIMSVC_GOOGLE_SYNC_INTERVAL": ("SCIMSVC_GOOGLE_SYNC_INTERVAL", _positive_number),
    "SCIMSVC_GOOGLE_MAX_REMOVALS": ("SCIMSVC_GOOGLE_MAX_REMOVALS", _removals),
    "SCIMSVC_GOOGLE_TIMEOUT": ("SCIMSVC_GOOGLE_TIMEOUT", _positive_number),
}


def from_environment(environ: Mapping[str, Any]) -> dict[str, Any]:
    """Return the config keys set by the ``SCIMSVC_*`` settings in ``environ``.

    ``environ`` is ``os.environ`` or the names assigned in ``instance/config.py``,
    so both places accept the same names. Raises ConfigError for a value that
    does not parse (a count that is not a positive integer, say).
    """
    found = {}
    for name, (key, parse) in ENVIRONMENT.items():
        raw = environ.get(name)
        if raw in (None, ""):
            continue
        try:
            found[key] = parse(raw)
        except (TypeError, ValueError):
            kind = {_positive_int: "a positive integer", _positive_number: "a positive number",
                    _log_level: "DEBUG, INFO, WARNING, ERROR or CRITICAL",
                    _trusted_proxies: PROXIES_EXPECTED,
                    _synchronous: "FULL or NORMAL", _on_off: "on or off",
                    _rate_limit: "limits such as '100 per second; 3000 per minute', or off",
                    _storage_uri: "memory:// or redis://host:port/db",
                    _listen_address: "host:port, such as 127.0.0.1:9464",
                    _removals: "a number of users, or a share such as 10%",
                    _api_url: "an http(s) URL such as https://admin.googleapis.com/"}.get(parse, "a string")
            raise ConfigError(f"{name}={raw!r} is not valid: expected {kind}.") from None
    return found


def check_database_url(url: Any) -> None:
    """Raise ConfigError unless ``url`` names SQLite or PostgreSQL with an installed driver."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(f"SCIMSVC_DATABASE_URL={str(url)!r} is not a database URL "
                          "(e.g. postgresql+psycopg://user@host/db).") from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"SCIMSVC_DATABASE_URL names {backend!r}: scimsvc runs on SQLite or PostgreSQL.")
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, NoSuchModuleError):
        raise ConfigError(f"The database driver for {parsed.drivername!r} is not installed: "
                          "pip install 'psycopg[binary]' (or '.[postgres]' in scimsvc's folder) and use "
                          "postgresql+psycopg://...") from None


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "scimsvc.sqlite3")


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Fill in values that depend on others (the database path, a bare base URL)."""
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        # The folder is made (0700) with the database file, by the command allowed to create it.
        config["SQLALCHEMY_DATABASE_URI"] = default_database_url(instance_path)
    check_database_url(config["SQLALCHEMY_DATABASE_URI"])
    # Servers sharing a database share their rate limits in Redis; two deployments sharing
    # one Redis do not (the namespace is derived from the database URL, without its password).
    url = make_url(config["SQLALCHEMY_DATABASE_URI"]).set(password=None)
    config.setdefault(RATE_LIMIT_NAMESPACE, "scimsvc:" + hashlib.sha256(
        url.render_as_string(hide_password=False).encode()).hexdigest()[:12])
    proxies = config.get("SCIMSVC_TRUSTED_PROXIES") or 0
    try:  # also a value set in code (create_app's mapping), not only the setting's text
        config["SCIMSVC_TRUSTED_PROXIES"] = _trusted_proxies(proxies)
    except (TypeError, ValueError):
        raise ConfigError(f"SCIMSVC_TRUSTED_PROXIES={proxies!r} is not valid: "
                          f"expected {PROXIES_EXPECTED}.") from None
    base = config.get("SCIMSVC_BASE_URL")
    if base:
        parts = urlsplit(base)
        if (parts.scheme not in ("http", "https") or not parts.netloc or parts.query
                or parts.fragment or parts.path.rstrip("/").endswith("/scim/v2")):
            raise ConfigError(f"SCIMSVC_BASE_URL={base!r} is not valid: expected an http(s) URL "
                              "such as https://scim.example.com (without /scim/v2).")
        config["SCIMSVC_BASE_URL"] = base.rstrip("/")
