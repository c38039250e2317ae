"""Heavy writes and crashes against a real ``scimsvc serve`` (issue 15), on SQLite or PostgreSQL.

- A PATCH on a user with 1,000 emails (the cap) must not keep a bystander's write from
  succeeding.
- kill -9 of the whole server under a write load: after a restart every acknowledged
  write is there, with its journal row.

Counts and durations are bounded; the servers are killed at the end of each test.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.databases import is_postgres, postgres_schema, server_url
from tests.live import console_script, free_port, wait_until_answering
from tests.scimdata import CORE_USER, PATCH_OP

pytestmark = pytest.mark.system

STARTUP_SECONDS = 60
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Instance:
    folder: Path
    env: dict[str, str]
    database_url: str
    key: str = ""
    port: int = 0
    process: subprocess.Popen | None = None

    def admin(self, *args: str) -> str:
        done = subprocess.run([console_script(), *args], env=self.env, cwd=self.folder,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        self.port = free_port()
        log = open(self.folder / f"serve-{self.port}.log", "w")
        self.process = subprocess.Popen([console_script(), "serve", "--port", str(self.port)],
                                        env=self.env, cwd=self.folder, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_answering(self.process, lambda: self.call("GET", "ServiceProviderConfig")[0] == 200,
                             Path(log.name), STARTUP_SECONDS)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)  # the master and its workers at once
            self.process.wait(timeout=30)

    def call(self, method: str, path: str, body: Any = None, request_id: str | None = None,
             timeout: float = 60) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/scim+json"}
        if request_id:
            headers["X-Request-Id"] = request_id
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/scim/v2/{path}", data=data,
                                         method=method, headers=headers)
        try:
            with _opener.open(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return status, json.loads(raw) if raw else None

    def sql(self, statement: str, **params: Any) -> list[tuple]:
        engine = sa.create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(statement), params)]
        finally:
            engine.dispose()


@pytest.fixture
def instance(tmp_path) -> Iterator[Instance]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env["SCIMSVC_INSTANCE_PATH"] = str(tmp_path / "instance")

    def made(url: str) -> Instance:
        env["SCIMSVC_DATABASE_URL"] = url
        found = Instance(tmp_path, env, url)
        found.admin("init")
        found.admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        found.admin("team", "create", "idp", "--role", "scim-provisioner")
        found.key = json.loads(found.admin("api-key", "create", "--team", "idp", "--name", "idp",
                                           "--json"))["key"]
        return found

    if is_postgres():
        with postgres_schema(server_url()) as url:
            served = made(url)
            try:
                yield served
            finally:
                served.kill()
    else:
        served = made(f"sqlite:///{tmp_path / 'instance' / 'scimsvc.sqlite3'}")
        try:
            yield served
        finally:
            served.kill()


def test_a_heavy_patch_on_a_thousand_value_user_leaves_bystanders_writing(instance):
    instance.start()
    emails = [{"value": f"alias{n:04}@example.com", "type": "other"} for n in range(1000)]
    status, heavy = instance.call("POST", "Users", {"schemas": [CORE_USER],
                                                    "userName": "heavy@example.com", "emails": emails})
    assert status == 201, heavy
    # Each PATCH rewrites most of the list: a remove by filter, then the list put back.
    operations = [
        {"op": "remove", "path": 'emails[value sw "alias0"]'},
        {"op": "add", "path": "emails", "value": emails[:1000]},
    ]
    heavy_results: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        for _ in range(10):
            if stop.is_set():
                return
            heavy_results.append(instance.call("PATCH", f"Users/{heavy['id']}",
                                               {"schemas": [PATCH_OP], "Operations": operations})[0])

    thread = threading.Thread(target=hammer)
    thread.start()
    bystander = []
    try:
        for n in range(20):
            started = time.monotonic()
            status, _ = instance.call("POST", "Users", {"schemas": [CORE_USER],
                                                        "userName": f"bystander{n}@example.com"})
            bystander.append((status, time.monotonic() - started))
    finally:
        stop.set()
        thread.join(timeout=120)
    assert [status for status, _ in bystander] == [201] * 20, bystander
    assert heavy_results and set(heavy_results) == {200}, heavy_results
    status, final = instance.call("GET", f"Users/{heavy['id']}")
    assert status == 200 and len(final["emails"]) == 1000
    # The value rows follow the stored document: a filter on the last value finds the user.
    status, found = instance.call("GET", 'Users?filter=emails.value%20eq%20%22alias0999@example.com%22')
    assert status == 200 and found["totalResults"] == 1
    print(f"bystander creates beside heavy PATCHes: slowest {max(s for _, s in bystander):.3f}s")


def test_kill_9_under_a_write_load_loses_no_acknowledged_write(instance):
    instance.start()
    acknowledged: dict[str, str] = {}  # request id -> userName, for every 201 received
    lock = threading.Lock()
    stop = threading.Event()

    def writer(number: int) -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            request_id = f"crash-{number}-{n}"
            user_name = f"crash{number}-{n}@example.com"
            try:
                status, _ = instance.call("POST", "Users", {"schemas": [CORE_USER],
                                                            "userName": user_name},
                                          request_id=request_id, timeout=10)
            except (OSError, http.client.HTTPException):  # the server is gone (mid-answer, even):
                return  # this write was never acknowledged
            if status == 201:
                with lock:
                    acknowledged[request_id] = user_name
            n += 1

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    instance.kill(signal.SIGKILL)  # mid-load: master and workers, no chance to clean up
    stop.set()
    for thread in writers:
        thread.join(timeout=60)
    assert len(acknowledged) >= 50, f"only {len(acknowledged)} writes before the kill"

    instance.start()  # a restart on the same database
    stored = dict(instance.sql("SELECT user_name, scim_id FROM users WHERE deleted_at IS NULL"))
    lost = [name for name in acknowledged.values() if name not in stored]
    assert lost == [], f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    journaled = dict(instance.sql(
        "SELECT request_id, status FROM audit_events WHERE operation = 'create'"))
    missing = [request_id for request_id in acknowledged if journaled.get(request_id) != 201]
    assert missing == [], f"{len(missing)} acknowledged writes without their journal row"
    if not is_postgres():
        assert instance.sql("PRAGMA integrity_check") == [("ok",)]
    # And the restarted server takes writes again.
    status, _ = instance.call("POST", "Users", {"schemas": [CORE_USER], "userName": "after@example.com"})
    assert status == 201
    print(f"kill -9 under load: {len(acknowledged)} acknowledged writes, none lost")
