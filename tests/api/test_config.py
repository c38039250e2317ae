"""Configuration: defaults, then instance/config.py, then SCIMSVC_* environment variables."""
from __future__ import annotations

import pytest

from scimsvc import create_app
from scimsvc.config import ConfigError, from_environment
from tests.conftest import Admin

VARIABLES = ("SCIMSVC_DATABASE_URL", "SCIMSVC_BASE_URL", "SCIMSVC_MAX_COUNT", "SCIMSVC_ORG",
             "SCIMSVC_MAX_BODY_BYTES", "SCIMSVC_INSTANCE_PATH", "SCIMSVC_LOG_LEVEL")


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """An instance folder picked by SCIMSVC_INSTANCE_PATH, with no other SCIMSVC_* set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(folder))
    return folder


def test_defaults_put_the_sqlite_file_in_the_instance_folder(instance):
    app = create_app()
    assert app.instance_path == str(instance)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'scimsvc.sqlite3'}"
    assert app.config["SCIMSVC_BASE_URL"] is None
    assert app.config["SCIMSVC_DEFAULT_ORG"] == "default"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_config_py_accepts_the_documented_names(instance):
    (instance / "config.py").write_text(
        'SCIMSVC_BASE_URL = "https://scim.example.com/"\n'
        f'SCIMSVC_DATABASE_URL = "sqlite:///{instance / "other.sqlite3"}"\n'
        "SCIMSVC_MAX_COUNT = 50\n"
        'SCIMSVC_ORG = "acme"\n'
    )
    app = create_app()
    assert app.config["SCIMSVC_BASE_URL"] == "https://scim.example.com"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'other.sqlite3'}"
    assert app.config["SCIMSVC_MAX_COUNT"] == 50
    assert app.config["SCIMSVC_DEFAULT_ORG"] == "acme"


def test_environment_wins_over_config_py(instance, monkeypatch):
    (instance / "config.py").write_text('SCIMSVC_BASE_URL = "https://from-file.example"\nSCIMSVC_MAX_COUNT = 50\n')
    monkeypatch.setenv("SCIMSVC_BASE_URL", "https://from-env.example")
    monkeypatch.setenv("SCIMSVC_MAX_COUNT", "70")
    app = create_app()
    assert app.config["SCIMSVC_BASE_URL"] == "https://from-env.example"
    assert app.config["SCIMSVC_MAX_COUNT"] == 70


def test_endpoint_follows_the_configuration(instance, monkeypatch):
    (instance / "config.py").write_text('SCIMSVC_BASE_URL = "https://from-file.example"\n')
    assert Admin(create_app())("endpoint").stdout == "https://from-file.example/scim/v2\n"
    monkeypatch.setenv("SCIMSVC_BASE_URL", "https://from-env.example")
    assert Admin(create_app())("endpoint").stdout == "https://from-env.example/scim/v2\n"


def test_location_header_uses_the_base_url(admin, scim):
    response = scim.post("Users", json={"userName": "alice@example.com"})
    assert response.headers["Location"].startswith("https://scim.example.test/scim/v2/Users/")


@pytest.mark.parametrize("name,value,message", [
    ("SCIMSVC_MAX_COUNT", "lots", "SCIMSVC_MAX_COUNT='lots' is not valid: expected a positive integer."),
    ("SCIMSVC_DEFAULT_COUNT", "0", "SCIMSVC_DEFAULT_COUNT='0' is not valid: expected a positive integer."),
    ("SCIMSVC_LOG_LEVEL", "loud",
     "SCIMSVC_LOG_LEVEL='loud' is not valid: expected DEBUG, INFO, WARNING, ERROR or CRITICAL."),
])
def test_bad_values_are_named(name, value, message):
    with pytest.raises(ConfigError) as raised:
        from_environment({name: value})
    assert str(raised.value) == message


@pytest.mark.parametrize("url", ["scim.example.com", "ftp://scim.example.com",
                                 "https://scim.example.com/scim/v2", "https://scim.example.com/?a=b"])
def test_bad_base_url_is_refused(instance, monkeypatch, url):
    monkeypatch.setenv("SCIMSVC_BASE_URL", url)
    with pytest.raises(ConfigError, match="SCIMSVC_BASE_URL"):
        create_app()


def test_cli_reports_a_bad_setting_in_one_line(instance, monkeypatch):
    from click.testing import CliRunner

    from cli.main import cli

    monkeypatch.setenv("SCIMSVC_MAX_BODY_BYTES", "1MB")
    result = CliRunner().invoke(cli, ["endpoint"])
    assert result.exit_code == 1
    assert result.output == ("Error: Configuration: SCIMSVC_MAX_BODY_BYTES='1MB' is not valid: "
                             "expected a positive integer.\n")


def test_relative_sqlite_url_lives_in_the_instance_folder(instance, monkeypatch):
    monkeypatch.setenv("SCIMSVC_DATABASE_URL", "sqlite:///custom.sqlite3")
    result = Admin(create_app())("init")
    assert result.stdout.splitlines()[0] == f"Database ready: sqlite:///{instance / 'custom.sqlite3'}"
    assert (instance / "custom.sqlite3").exists()


@pytest.mark.parametrize("url,message", [
    ("foo", "SCIMSVC_DATABASE_URL='foo' is not a database URL (e.g. postgresql+psycopg://user@host/db)."),
    ("mysql://u@localhost/db", "SCIMSVC_DATABASE_URL names 'mysql': scimsvc runs on SQLite or PostgreSQL."),
    ("postgresql+nosuchdriver://u@localhost/db",
     "The database driver for 'postgresql+nosuchdriver' is not installed: "
     "pip install 'psycopg[binary]' (or '.[postgres]' in scimsvc's folder) and use "
     "postgresql+psycopg://..."),
])
def test_unusable_database_url_is_one_line_error(instance, monkeypatch, url, message):
    from click.testing import CliRunner

    from cli.main import cli

    monkeypatch.setenv("SCIMSVC_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["role", "list"])
    assert result.exit_code == 1
    assert result.output == f"Error: Configuration: {message}\n"
