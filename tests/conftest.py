"""Fixtures: a real database per test (SQLite file or PostgreSQL schema), the real app and click group.

``app`` alone is the app on an empty database (what the migration and ``init`` tests need);
``admin`` (and so ``api_key`` and ``scim``) gives it the schema and the default organization.
On SQLite that is a copy of a template file ``scimsvc init`` built once per session; on
PostgreSQL ``admin`` runs ``init`` in the test's schema (tests/databases.py says why).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import State, cli
from scimsvc import create_app
from scimsvc.extensions import db
from tests.databases import isolated_database, is_postgres
from tests.scimdata import CORE_USER, SCIM

BASE_URL = "https://scim.example.test"


def _test_app(tmp_path: Path, database_url: str, **config):
    # An in-process client sends far faster than any IdP: the rate limits are off unless a
    # test (tests/api/test_rate_limits.py) sets them.
    return create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SCIMSVC_BASE_URL": BASE_URL,
        "SCIMSVC_RATE_LIMIT_PER_KEY": "",
        "SCIMSVC_RATE_LIMIT_REFUSED": "",
        **config,
    })


def _close(app) -> None:
    """Journal the refusals still counted, stop their thread, and return the app's connections
    (on SQLite the last close checkpoints the -wal file away)."""
    app.extensions["scimsvc.refusals"].stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path | None:
    """An SQLite file that the real ``scimsvc init`` migrated once for the whole session
    (schema at head, the default organization); None on PostgreSQL."""
    if is_postgres():
        return None
    folder = tmp_path_factory.mktemp("template")
    url = f"sqlite:///{folder / 'scimsvc.sqlite3'}"
    app = _test_app(folder, url)
    Admin(app)("init")
    with app.app_context(), db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _close(app)
    path = _sqlite_path(url)
    leftovers = [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert not leftovers, f"the template database still has {leftovers}"
    return path


@pytest.fixture
def database_url(tmp_path):
    """An empty database for this test: an SQLite file in tmp_path, or (when
    SCIMSVC_TEST_DATABASE_URL names a PostgreSQL database) a schema of its own,
    dropped afterwards. ``scimsvc init`` (or the ``admin`` fixture) builds the tables."""
    with isolated_database(tmp_path) as url:
        yield url


@pytest.fixture
def app(tmp_path, database_url):
    """The app on this test's database, still empty (use ``admin`` for a migrated one)."""
    app = _test_app(tmp_path, database_url)
    yield app
    _close(app)


def create_empty_database(database_url: str) -> None:
    """Make the test's database exist without tables, as a database created outside scimsvc
    would (on PostgreSQL the test's schema already is that)."""
    if database_url.startswith("sqlite:///"):
        _sqlite_path(database_url).touch()


class Admin:
    """Runs CLI commands against the test app, the way an admin would type them."""

    def __init__(self, app):
        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True, input: str | None = None):
        result = self.runner.invoke(cli, list(args), obj=State(app=self.app), input=input)
        if ok and result.exit_code != 0:
            raise AssertionError(f"scimsvc {' '.join(args)} failed ({result.exit_code}):\n"
                                 f"{result.output}{result.exception!r}")
        return result


@pytest.fixture
def admin(app, database_url, migrated_template):
    """The CLI, bound to ``app``, with the database initialised.

    On SQLite the test's database file becomes a copy of ``migrated_template``, which is
    what ``init`` would have written; on PostgreSQL (or if something already created the
    file) ``init`` runs here, as an admin would run it.
    """
    run = Admin(app)
    target = _sqlite_path(database_url) if migrated_template is not None else None
    if (target is not None and app.config["SQLALCHEMY_DATABASE_URI"] == database_url
            and (not target.exists() or target.stat().st_size == 0)):
        _close(app)  # no connection may hold the empty file open while it is replaced
        shutil.copyfile(migrated_template, target)
    else:
        run("init")
    return run


class ScimClient:
    """The Flask test client, sending an API key and the SCIM media type."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def headers(self, extra=None, key: str | None = None):
        headers = {"Content-Type": SCIM, "Accept": SCIM}
        token = key if key is not None else self.key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra or {})
        return headers

    def request(self, method, path, json=None, headers=None, key=None, data=None):
        url = path if path.startswith("/") else f"/scim/v2/{path}"
        kwargs = {"headers": self.headers(headers, key)}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        return self.client.open(url, method=method, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def provision_key(admin: Admin, *, role="scim-provisioner", team="idp", name="okta",
                  org: str | None = None) -> str:
    """Run the admin steps (role, team, key) and return the key."""
    prefix = ["--org", org] if org else []
    if admin(*prefix, "role", "show", role, ok=False).exit_code != 0:
        admin(*prefix, "role", "create", role, "--permission", "scim:provision")
    if admin(*prefix, "team", "show", team, ok=False).exit_code != 0:
        admin(*prefix, "team", "create", team, "--role", role)
    result = admin(*prefix, "api-key", "create", "--team", team, "--name", name, "--json")
    import json

    return json.loads(result.stdout)["key"]


@pytest.fixture
def api_key(admin) -> str:
    return provision_key(admin)


@pytest.fixture
def scim(app, api_key) -> ScimClient:
    """A SCIM client holding a key that may provision users."""
    return ScimClient(app.test_client(), api_key)


def make_user(scim: ScimClient, user_name: str = "bjensen@example.com", **attrs) -> dict:
    """POST a user and return the created resource."""
    body = {"schemas": [CORE_USER], "userName": user_name, **attrs}
    response = scim.post("Users", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()
