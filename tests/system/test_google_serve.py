"""``scimsvc serve`` runs the Google sync on its interval: one server (any database), and two
servers on one PostgreSQL database taking turns (never two syncs of a connection at once)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.databases import is_postgres, isolated_database
from tests.fakes.google_directory import Directory, FakeGoogle, google_user
from tests.live import console_script, free_port

pytestmark = pytest.mark.system
WAIT = 90  # seconds a loaded CI machine may need; a healthy run takes a few


def _env(url: str, folder: Path, fake: FakeGoogle, interval: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env.update(SCIMSVC_DATABASE_URL=url, SCIMSVC_INSTANCE_PATH=str(folder / "instance"),
               SCIMSVC_GOOGLE_API_URL=fake.url, SCIMSVC_GOOGLE_SYNC_INTERVAL=interval,
               SCIMSVC_GOOGLE_TIMEOUT="5")
    return env


def _cli(env, folder, *args) -> str:
    result = subprocess.run([console_script(), *args], env=env, cwd=folder, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"scimsvc {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def _serve(env, folder) -> tuple[subprocess.Popen, Path]:
    log = folder / f"serve-{free_port()}.log"
    with open(log, "w") as out:
        process = subprocess.Popen([console_script(), "serve", "--port", str(free_port()),
                                    "--workers", "1"], env=env, cwd=folder, stdout=out,
                                   stderr=subprocess.STDOUT)
    return process, log


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _runs(url: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.text(
                "SELECT status, trigger, started_at, finished_at, counts FROM google_sync_runs "
                "ORDER BY id"))]
    finally:
        engine.dispose()


def _until(check, logs, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen in {WAIT}s:\n" + "\n".join(p.read_text() for p in logs))


@pytest.fixture
def fake():
    server = FakeGoogle(Directory(users=[google_user(f"u{i}@example.com", id=str(7000 + i))
                                         for i in range(1200)])).start()
    yield server
    server.stop()


def test_serve_syncs_on_its_interval(tmp_path, fake):
    with isolated_database(tmp_path) as url:
        env = _env(url, tmp_path, fake, "2")
        _cli(env, tmp_path, "init")
        key = fake.key_file(tmp_path / "key.json")
        _cli(env, tmp_path, "google", "connect", "--credentials", str(key), "--admin",
             "admin@example.com")
        process, log = _serve(env, tmp_path)
        try:
            _until(lambda: [r for r in _runs(url) if r[0] == "succeeded"], [log], "a scheduled sync")
            fake.directory.users[0]["suspended"] = True
            _until(lambda: [r for r in _runs(url) if r[0] == "succeeded" and
                            (json.loads(r[4]) if isinstance(r[4], str) else r[4]).get("disabled")],
                   [log], "a second scheduled sync")
        finally:
            _stop([process])
        runs = _runs(url)
        assert all(r[1] == "serve" for r in runs)
        status = json.loads(_cli(env, tmp_path, "google", "status", "--json"))
        assert status["users"] == 1200
        assert "Traceback" not in log.read_text()
        # The scheduler's outcome lines are JSON lines like the server's own.
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert any(line["logger"] == "scimsvc.services.sources.google" and
                   line["message"].startswith("google sync of organization") for line in lines)


@pytest.mark.skipif(not is_postgres(), reason="two servers share a PostgreSQL database")
def test_two_servers_never_sync_one_connection_at_once(tmp_path, fake):
    with isolated_database(tmp_path) as url:
        env = _env(url, tmp_path, fake, "1")
        _cli(env, tmp_path, "init")
        key = fake.key_file(tmp_path / "key.json")
        _cli(env, tmp_path, "google", "connect", "--credentials", str(key), "--admin",
             "admin@example.com")
        for page in range(1, 400):
            fake.fail(page, 0, delay=0.3)  # every page is slow: each sync takes about a second
        servers = [_serve(env, tmp_path), _serve(env, tmp_path)]
        try:
            _until(lambda: len([r for r in _runs(url) if r[3] is not None]) >= 4,
                   [log for _, log in servers], "four scheduled syncs")
        finally:
            _stop([process for process, _ in servers])
        finished = sorted((r[2], r[3]) for r in _runs(url) if r[3] is not None)
        for (_, end), (start, _) in zip(finished, finished[1:]):
            assert start >= end, f"two syncs overlapped: {finished}"
        # Each server ticks every second and a sync lasts longer: they did meet at the lease.
        logs = "".join(log.read_text() for _, log in servers)
        assert "skipped: Another sync of this connection is running" in logs, logs
        assert "Traceback" not in logs
