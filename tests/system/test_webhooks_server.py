"""Webhooks delivered by real ``scimsvc serve`` processes to a real receiver on 127.0.0.1.

A SCIM create reaches the receiver through the delivery thread of the server's
workers; kill -9 of a server in the middle of its deliveries loses none of them
(after a restart every event arrives, some perhaps twice: at least once); two
servers on one PostgreSQL deliver each event once per webhook.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.databases import is_postgres, postgres_schema, server_url
from tests.live import console_script, free_port, wait_until_answering
from tests.receiver import running_receiver, verify
from tests.scimdata import CORE_USER as USER

pytestmark = pytest.mark.system

STARTUP_SECONDS = 60  # a loaded CI machine; a healthy start takes about a second
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def call(self, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/scim+json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/scim/v2/{path}",
                                         data=data, method=method, headers=headers)
        try:
            with _opener.open(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    def kill_hard(self) -> None:
        """kill -9 the server and its gunicorn workers at once (a crash, a power cut)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Instance:
    folder: Path
    env: dict[str, str]
    database_url: str

    def admin(self, *args: str) -> str:
        result = subprocess.run([console_script(), *args], env=self.env, cwd=self.folder,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"scimsvc {' '.join(args)}: {result.stderr}"
        return result.stdout

    def serve(self, workers: int = 2) -> Server:
        port = free_port()
        log = self.folder / f"serve-{port}.log"
        with open(log, "w") as out:
            # A session of its own, so kill_hard reaches the workers too.
            process = subprocess.Popen(
                [console_script(), "serve", "--port", str(port), "--workers", str(workers)],
                env=self.env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        server = Server(port, process, log)
        wait_until_answering(process, lambda: server.call("GET", "ServiceProviderConfig",
                                                          None)[0] == 401,
                             log, STARTUP_SECONDS)
        return server

    def sql(self, statement: str, **params: Any) -> list[tuple]:
        engine = sa.create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(statement), params)]
        finally:
            engine.dispose()

    def key(self) -> str:
        self.admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        self.admin("team", "create", "idp", "--role", "scim-provisioner")
        return json.loads(self.admin("api-key", "create", "--team", "idp", "--name", "okta",
                                     "--json"))["key"]


def _instance(folder: Path, database_url: str, **settings: str) -> Instance:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env.update(SCIMSVC_DATABASE_URL=database_url, SCIMSVC_INSTANCE_PATH=str(folder / "instance"),
               SCIMSVC_BASE_URL="https://scim.example.test", **settings)
    instance = Instance(folder, env, database_url)
    instance.admin("init")
    return instance


@pytest.fixture
def instance(tmp_path, database_url):
    """An initialised instance on this test's database (SQLite file or PostgreSQL schema)."""
    return _instance(tmp_path, database_url, SCIMSVC_WEBHOOK_LEASE_SECONDS="3",
                     SCIMSVC_WEBHOOK_RETRY_SECONDS="0.2")


def _create(server: Server, key: str, name: str) -> str:
    status, body = server.call("POST", "Users", key, {"schemas": [USER], "userName": name})
    assert status == 201, body
    return body["id"]


def test_a_scim_create_reaches_the_receiver_from_the_server(instance):
    key = instance.key()
    with running_receiver() as receiver:
        secret = instance.admin("webhook", "add", "product", receiver.url).strip()
        server = instance.serve()
        try:
            scim_id = _create(server, key, "alice@example.com")
            [event] = receiver.wait_for(1)
        finally:
            server.stop()
        assert verify(secret, receiver.received[0]) == event
    assert (event["type"], event["user"]["id"]) == ("user.created", scim_id)
    assert "Traceback" not in server.log.read_text()


def test_kill_9_during_deliveries_loses_nothing(instance):
    key = instance.key()
    count = 30
    # A slow receiver, so the kill lands while deliveries are under way.
    with running_receiver(delay=0.1) as receiver:
        instance.admin("webhook", "add", "product", receiver.url)
        server = instance.serve()
        try:
            created = {_create(server, key, f"user{i}@example.com") for i in range(count)}
            deadline = time.monotonic() + 60
            while len(receiver.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            server.kill_hard()
        before_restart = len(receiver.events())
        assert 0 < before_restart < count, before_restart  # killed mid-way
        pending = instance.sql("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
        assert pending[0][0] > 0
        restarted = instance.serve()
        try:
            deadline = time.monotonic() + 90  # a bound for a loaded machine
            while {e["user"]["id"] for e in receiver.events()} != created \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            events = receiver.events()
        finally:
            restarted.stop()
    assert {e["user"]["id"] for e in events} == created  # every event, at least once
    counts = Counter(e["id"] for e in events)
    assert len(counts) == count and max(counts.values()) <= 2
    assert instance.sql("SELECT status, count(*) FROM webhook_deliveries GROUP BY status") == [
        ("delivered", count)]


@pytest.mark.skipif(not is_postgres(), reason="several servers share a PostgreSQL database")
def test_two_servers_on_postgresql_deliver_each_event_once_per_webhook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webhooks-two-servers")
    with postgres_schema(server_url()) as url, running_receiver() as first, \
            running_receiver() as second:
        instance = _instance(folder, url)
        key = instance.key()
        instance.admin("webhook", "add", "first", first.url)
        instance.admin("webhook", "add", "second", second.url)
        servers = [instance.serve(), instance.serve()]
        try:
            created = {_create(servers[i % 2], key, f"u{i}@example.com") for i in range(40)}
            for receiver in (first, second):
                receiver.wait_for(40, seconds=90)
            deadline = time.monotonic() + 90
            while instance.sql("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
                               ) != [(80,)] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:  # once stopped, nothing more is sent: what the receivers hold is everything
            for server in servers:
                server.stop()
        for receiver in (first, second):
            ids = Counter(r.headers["webhook-id"] for r in receiver.received)
            assert len(ids) == 40 and set(ids.values()) == {1}, ids.most_common(3)
            assert {e["user"]["id"] for e in receiver.events()} == created
        assert instance.sql("SELECT status, count(*) FROM webhook_deliveries GROUP BY status") \
            == [("delivered", 80)]


def test_the_standalone_worker_delivers_for_a_server_that_does_not(instance):
    key = instance.key()
    instance.env["SCIMSVC_WEBHOOK_WORKER"] = "off"
    with running_receiver() as receiver:
        instance.admin("webhook", "add", "product", receiver.url)
        server = instance.serve()
        try:
            scim_id = _create(server, key, "alice@example.com")
            assert instance.sql("SELECT status FROM webhook_deliveries") == [("pending",)]
            log = instance.folder / "worker.log"
            with open(log, "w") as out:
                worker = subprocess.Popen([console_script(), "webhook", "worker"], env=instance.env,
                                          cwd=instance.folder, stdout=out,
                                          stderr=subprocess.STDOUT)
            try:
                [event] = receiver.wait_for(1)
            finally:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(timeout=30) == 0, log.read_text()
        finally:
            server.stop()
    assert event["user"]["id"] == scim_id
    assert instance.sql("SELECT status FROM webhook_deliveries") == [("delivered",)]
    assert "Traceback" not in log.read_text()


def test_a_webhook_added_after_the_server_started_is_delivered(instance):
    # The README's order: `make run`, then `scimsvc webhook add` in another terminal. The
    # server started with no webhook key (the add makes it); it must read it when it needs it.
    key = instance.key()
    assert not (instance.folder / "instance" / "webhook.key").exists()
    server = instance.serve()
    try:
        with running_receiver() as receiver:
            secret = instance.admin("webhook", "add", "product", receiver.url).strip()
            scim_id = _create(server, key, "alice@example.com")
            [event] = receiver.wait_for(1, seconds=30)
    finally:
        server.stop()
    assert verify(secret, receiver.received[0]) == event
    assert (event["type"], event["user"]["id"]) == ("user.created", scim_id)
    log = server.log.read_text()
    assert "cannot be decrypted" not in log and "Traceback" not in log


def test_the_standalone_worker_started_before_the_first_webhook_delivers(instance):
    key = instance.key()
    instance.env["SCIMSVC_WEBHOOK_WORKER"] = "off"
    log = instance.folder / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([console_script(), "webhook", "worker"], env=instance.env,
                                  cwd=instance.folder, stdout=out, stderr=subprocess.STDOUT)
    try:
        server = instance.serve()
        try:
            with running_receiver() as receiver:
                instance.admin("webhook", "add", "product", receiver.url)
                scim_id = _create(server, key, "alice@example.com")
                [event] = receiver.wait_for(1, seconds=30)
        finally:
            server.stop()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    assert event["user"]["id"] == scim_id
    assert "cannot be decrypted" not in log.read_text()
