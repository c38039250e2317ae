"""Which database the tests run on, and a fresh, isolated one for each test.

``make test`` uses an SQLite file per test. ``make test-postgres`` sets
``SCIMSVC_TEST_DATABASE_URL`` to a PostgreSQL database; each test then gets its
own schema in it (``CREATE SCHEMA t_<random>``, reached through the connection
option ``search_path``), dropped when the test ends; database-wide extensions
(pg_trgm) sit in one shared schema on that path. The schema starts empty:
the tables come from the migrations (``scimsvc init``), never from create_all.

On SQLite the ``admin`` fixture copies a file ``scimsvc init`` migrated once per
session (tests/conftest.py). On PostgreSQL each test still migrates its own schema,
because nothing copies a schema for less than that costs. PostgreSQL has no
``CREATE SCHEMA ... TEMPLATE``; cloning means replaying the schema's DDL, and the
server's catalog work is most of an ``init``: replaying ``pg_dump --schema-only``
of a migrated schema took 0.20-0.25 s against 0.3 s for ``init`` on the 2-core CI
machine, and would make pg_dump (of the server's version) a test dependency.
Reusing a schema by TRUNCATE took 0.15-0.25 s, and would hand later tests the planner
statistics an earlier test left in pg_statistic. ``CREATE DATABASE ... TEMPLATE``
needs a database per test and no session on the template.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

ENV = "SCIMSVC_TEST_DATABASE_URL"
# Extensions are per database, not per schema: the migrations' CREATE EXTENSION IF
# NOT EXISTS would put one in the first test's schema, and the next test (or a
# parallel run) could neither see it nor survive that schema being dropped. They
# live in this schema instead, on every test schema's search_path.
EXTENSION_SCHEMA = "scimsvc_test_extensions"
EXTENSIONS = ("pg_trgm",)

_admin_engines: dict[str, Engine] = {}
_extensions_ready: set[str] = set()


def server_url() -> str | None:
    """The database server the suite was asked to use, or None for SQLite files."""
    return os.environ.get(ENV) or None


def backend() -> str:
    """'postgresql' or 'sqlite': the database the suite runs on."""
    url = server_url()
    return make_url(url).get_backend_name() if url else "sqlite"


def is_postgres() -> bool:
    return backend() == "postgresql"


@contextlib.contextmanager
def isolated_database(directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database no other test sees; remove it afterwards."""
    url = server_url()
    if url is None:
        yield f"sqlite:///{directory / 'scimsvc.sqlite3'}"
        return
    if make_url(url).get_backend_name() != "postgresql":
        raise RuntimeError(f"{ENV} must name a PostgreSQL database (postgresql+psycopg://...)")
    with postgres_schema(url) as schema_url:
        yield schema_url


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """Create a schema in the database ``url`` names, yield a URL confined to it, drop it."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = _admin_engine(url)
    _ensure_extensions(url, admin)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # application_name lets the teardown find (and end) connections a test left open.
    confined = make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema},{EXTENSION_SCHEMA} -csynchronous_commit=off",
         "application_name": schema}
    ).render_as_string(hide_password=False)
    try:
        yield confined
    finally:
        with admin.begin() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"
            ), {"name": schema})
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _ensure_extensions(url: str, admin: Engine) -> None:
    """Install EXTENSIONS in EXTENSION_SCHEMA once, moving them there if they are elsewhere."""
    if url in _extensions_ready:
        return
    with admin.begin() as connection:
        # Parallel test runs share the database: one of them at a time does this.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('scimsvc-test-extensions'))"))
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{EXTENSION_SCHEMA}"'))
        for name in EXTENSIONS:
            where = connection.execute(text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = :name"), {"name": name}).scalar()
            if where is None:
                connection.execute(text(f'CREATE EXTENSION "{name}" SCHEMA "{EXTENSION_SCHEMA}"'))
            elif where != EXTENSION_SCHEMA:
                connection.execute(text(f'ALTER EXTENSION "{name}" SET SCHEMA "{EXTENSION_SCHEMA}"'))
    _extensions_ready.add(url)


def _admin_engine(url: str) -> Engine:
    if url not in _admin_engines:
        _admin_engines[url] = create_engine(url, poolclass=NullPool)
    return _admin_engines[url]
