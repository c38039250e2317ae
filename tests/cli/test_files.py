"""The instance folder and SQLite files are private to their owner; serve warns when they are not."""
from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.databases import is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite files only")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SCIMSVC_DATABASE_URL", raising=False)
    monkeypatch.setenv("SCIMSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    return tmp_path / "instance"


def test_init_creates_the_folder_0700_and_the_database_and_its_wal_0600(instance):
    previous = os.umask(0o022)  # the usual umask, which would give 0755 and 0644
    try:
        result = CliRunner().invoke(cli, ["init"])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert _mode(instance) == 0o700
    database = instance / "scimsvc.sqlite3"
    assert _mode(database) == 0o600
    # Open a connection that keeps the WAL files around, then look at them.
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        connection.commit()
        for suffix in ("-wal", "-shm"):
            assert _mode(f"{database}{suffix}") == 0o600
    finally:
        connection.close()


def _serve(monkeypatch):
    """Run ``scimsvc serve`` up to the point where it would start gunicorn."""
    import cli.main

    # serve sends the scimsvc logger to stderr (the runner's, here): undone after the test.
    for name in ("scimsvc", "scimsvc.requests"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", [])
        monkeypatch.setattr(logger, "setLevel", lambda level: None)
    started = []
    monkeypatch.setattr(cli.main, "run", lambda **options: started.append(options))
    result = CliRunner().invoke(cli.main.cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1
    return result


def test_serve_says_nothing_about_private_files(instance, monkeypatch):
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    assert _serve(monkeypatch).stderr == ""


def test_serve_warns_when_the_folder_or_database_is_open_to_others(instance, monkeypatch):
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    database = instance / "scimsvc.sqlite3"
    os.chmod(instance, 0o755)
    os.chmod(database, 0o644)
    lines = [json.loads(line) for line in _serve(monkeypatch).stderr.splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("WARNING", "scimsvc", f"{instance} is open to other users (mode 755); it holds or "
                               f"guards key and password hashes: chmod 700 {instance}"),
        ("WARNING", "scimsvc", f"{database} is open to other users (mode 644); it holds or "
                               f"guards key and password hashes: chmod 600 {database}"),
    ]
