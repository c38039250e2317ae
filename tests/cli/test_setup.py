"""scimsvc init, endpoint, org, permission, and what every command shares (help, errors)."""
from __future__ import annotations

import json

import click
import pytest

from cli.main import cli
from scimsvc import create_app
from tests.cli import assert_fails
from tests.conftest import Admin, create_empty_database
from tests.databases import is_postgres


def test_init_creates_the_default_organization_then_is_idempotent(app):
    run = Admin(app)
    first = run("init")
    assert first.stdout.splitlines()[1] == "Organization 'default' created."
    assert first.stdout.splitlines()[0].startswith("Database ready: ")
    second = run("init")
    assert second.exit_code == 0
    assert second.stdout.splitlines()[1] == "Organization 'default' already exists."
    orgs = json.loads(run("org", "list", "--json").stdout)
    assert [o["slug"] for o in orgs] == ["default"]


def test_init_keeps_existing_data(admin):
    admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
    admin("init")
    assert json.loads(admin("role", "list", "--json").stdout)[0]["name"] == "scim-provisioner"


def test_command_before_init_asks_for_init(app, database_url):
    create_empty_database(database_url)
    assert_fails(Admin(app)("role", "list", ok=False),
                 "The database is not initialised: run 'scimsvc init' first.")


def _missing(instance) -> str:
    return (f"No database at {instance / 'scimsvc.sqlite3'} (instance folder {instance}): "
            "set SCIMSVC_INSTANCE_PATH or SCIMSVC_DATABASE_URL to point at yours, "
            "or run 'scimsvc init' to create it there.")


@pytest.mark.parametrize("command", [("role", "list"), ("db", "current"), ("db", "upgrade"),
                                     ("api-key", "list"), ("org", "create", "acme"),
                                     ("webhook", "worker", "--once")])
def test_commands_other_than_init_refuse_to_create_a_missing_database(tmp_path, monkeypatch,
                                                                     command):
    """Run from the wrong folder, a command used to start a second, empty database there."""
    from click.testing import CliRunner

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "wrong"))
    assert_fails(CliRunner().invoke(cli, list(command)), _missing(tmp_path / "wrong"))
    assert not (tmp_path / "wrong").exists()  # not even the folder


def test_the_webhook_worker_refuses_a_missing_database_instead_of_looping(tmp_path):
    """Its passes survive database errors, so it used to print a traceback every pass, forever."""
    import os
    import subprocess

    from tests.live import console_script

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env["SCIMSVC_INSTANCE_PATH"] = str(tmp_path / "wrong")
    done = subprocess.run([console_script(), "webhook", "worker"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"Error: {_missing(tmp_path / 'wrong')}\n"
    assert not (tmp_path / "wrong").exists()


def test_init_creates_the_missing_database(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "new"))
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Database ready: sqlite:///{tmp_path / 'new' / 'scimsvc.sqlite3'}\n")
    assert CliRunner().invoke(cli, ["role", "list", "--json"]).output == "[]\n"


def test_init_names_a_missing_folder_of_the_database_url_and_creates_nothing(tmp_path,
                                                                          monkeypatch):
    from click.testing import CliRunner

    missing = tmp_path / "no" / "such"
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SCIMSVC_DATABASE_URL", f"sqlite:///{missing / 'x.db'}")
    assert_fails(CliRunner().invoke(cli, ["init"]),
                 f"The folder {missing} of the database {missing / 'x.db'} does not exist: "
                 "create it (mode 0700) or correct SCIMSVC_DATABASE_URL.")
    assert not (tmp_path / "no").exists()


def test_unknown_org_is_one_line_error(admin):
    assert_fails(admin("--org", "nope", "role", "list", ok=False),
                 "No organization 'nope'. Run 'scimsvc init' or 'scimsvc org create nope'.")


def test_permission_list_prints_the_catalogue(admin):
    result = admin("permission", "list")
    assert result.stdout == (
        "ACTION          TITLE                        SCOPES  KIND\n"
        "scim:provision  Provision Users with SCIM    tenant  built-in\n"
        "directory:read  Read users and their access  tenant  built-in\n"
        "events:read     Read the change feed         tenant  built-in\n"
    )


def test_permission_list_json(admin):
    data = json.loads(admin("permission", "list", "--json").stdout)
    assert data[0] == {
        "action": "scim:provision",
        "title": "Provision Users with SCIM",
        "scopes": ["tenant"],
        "description": "Call the SCIM API to create, update, disable and remove the organization's users.",
        "builtin": True,
    }
    assert [(p["action"], p["builtin"]) for p in data] == [
        ("scim:provision", True), ("directory:read", True), ("events:read", True)]


def test_org_create_and_list(admin):
    assert admin("org", "create", "acme", "--name", "Acme Corp").stdout == "Organization 'acme' created.\n"
    data = json.loads(admin("org", "list", "--json").stdout)
    assert [(o["slug"], o["name"]) for o in data] == [("acme", "Acme Corp"), ("default", "default")]
    assert all(o["created"].endswith("Z") for o in data)
    lines = admin("org", "list").stdout.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "CREATED"]
    assert lines[1].startswith("acme     Acme Corp  ")
    assert lines[2].startswith("default  default    ")


def test_org_create_mistakes(admin):
    assert_fails(admin("org", "create", "default", ok=False), "Organization 'default' already exists.")
    assert_fails(admin("org", "create", "Acme Corp", ok=False),
                 "An organization slug is 1-63 lowercase letters, digits or '-'.")


def test_init_with_org_creates_that_organization(admin):
    result = admin("--org", "acme", "init")
    assert result.stdout.splitlines()[1] == "Organization 'acme' created."
    assert admin("--org", "acme", "role", "list", "--json").stdout == "[]\n"


def test_endpoint_uses_the_base_url(admin):
    result = admin("endpoint")
    assert result.stdout == "https://scim.example.test/scim/v2\n"
    assert result.stderr == ""


def test_endpoint_without_base_url_prints_the_local_default_and_warns(tmp_path, database_url, monkeypatch):
    monkeypatch.delenv("SCIMSVC_BASE_URL", raising=False)
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": database_url})
    result = Admin(app)("endpoint")
    assert result.stdout == "http://127.0.0.1:8000/scim/v2\n"
    assert "SCIMSVC_BASE_URL is not set" in result.stderr


def test_endpoint_strips_a_trailing_slash_from_the_base_url(tmp_path, database_url):
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": database_url,
                      "SCIMSVC_BASE_URL": "https://idm.example.com/provisioning/"})
    assert Admin(app)("endpoint").stdout == "https://idm.example.com/provisioning/scim/v2\n"


def _commands(group: click.Group, path=()):
    for name, command in group.commands.items():
        yield path + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, path + (name,))


@pytest.mark.parametrize("path,command", list(_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_and_option_is_documented(path, command):
    assert command.help, f"scimsvc {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"scimsvc {' '.join(path)} {param.opts[0]} has no help="


def test_every_list_and_show_command_takes_json():
    lacking = [" ".join(path) for path, command in _commands(cli)
               if path[-1] in ("list", "show") and not any("--json" in p.opts for p in command.params)]
    assert lacking == []


def test_the_issue_command_names_exist():
    names = {" ".join(path) for path, _ in _commands(cli)}
    assert {
        "init", "permission list", "role create", "role list", "role show", "role delete",
        "team create", "team list", "team show", "team add-role", "team remove-role", "team delete",
        "api-key create", "api-key list", "api-key revoke", "provisioning assign-team",
        "provisioning show", "endpoint", "serve", "org create", "org list",
    } <= names


def test_serve_refuses_an_uninitialised_database(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "scimsvc.sqlite3").touch()
    result = CliRunner().invoke(cli, ["serve", "--port", "8000"])  # never reaches gunicorn
    assert_fails(result, "The database is not initialised: run 'scimsvc init' first.")


def test_serve_refuses_a_missing_database_and_creates_none(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "wrong"))
    assert_fails(CliRunner().invoke(cli, ["serve"]), _missing(tmp_path / "wrong"))
    assert not (tmp_path / "wrong").exists()


def test_serve_refuses_a_schema_behind_the_code(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from scimsvc.extensions import db
    from scimsvc.database.migrate import head_revision, upgrade

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "old"))
    app = create_app()
    with app.app_context():
        upgrade("0001")  # as an older scimsvc left it
        db.engine.dispose()
    if head_revision() == "0001":
        pytest.skip("only one revision exists")
    result = CliRunner().invoke(cli, ["serve"])
    assert_fails(result, f"The database schema is at revision 0001, this scimsvc needs {head_revision()}: "
                         "run 'scimsvc init' to upgrade it.")


def test_serve_refuses_a_schema_a_newer_scimsvc_upgraded(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from sqlalchemy import text

    from scimsvc.extensions import db
    from scimsvc.database.migrate import newer_schema_message, upgrade

    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "newer"))
    app = create_app()
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:  # as a later release would leave it
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        expected = newer_schema_message("9999_future")
        db.engine.dispose()
    result = CliRunner().invoke(cli, ["serve"])
    assert_fails(result, expected)


def test_scimsvc_never_imports_cli():
    """The CLI is a thin layer over scimsvc; the reverse import would tie the app to click."""
    import ast
    from pathlib import Path

    import scimsvc

    offenders = []
    for path in Path(scimsvc.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "cli" or n.startswith("cli.")]
    assert offenders == []


@pytest.mark.skipif(is_postgres(), reason="BEGIN IMMEDIATE is how SQLite writers queue")
def test_write_commands_take_the_write_lock_first(admin, app):
    """A command that reads then writes would fail with "database is locked" next to a busy
    server; starting with BEGIN IMMEDIATE makes it wait for the lock instead."""
    from sqlalchemy import event

    from scimsvc.extensions import db

    begins: list[str] = []

    def record(statement):
        if statement.startswith("BEGIN"):
            begins.append(statement)

    def trace(dbapi_connection, _record):
        # What SQLite itself runs: BEGIN is sent straight to the driver (dialect.py).
        dbapi_connection.set_trace_callback(record)

    with app.app_context():
        engine = db.engine
        engine.dispose()  # new connections, so each gets the trace
    event.listen(engine, "connect", trace)
    try:
        admin("team", "create", "employees")
        assert begins and set(begins) == {"BEGIN IMMEDIATE"}
        begins.clear()
        admin("team", "list")
        assert begins and set(begins) == {"BEGIN"}  # reads do not queue behind writers
    finally:
        event.remove(engine, "connect", trace)
