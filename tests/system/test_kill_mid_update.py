"""``kill -9`` in the middle of updates, against a real ``scimsvc serve`` (issue 15).

tests/system/test_heavy_writes.py kills the server under a load of creates; here the writers
also disable the user they created before (a PATCH, an UPDATE of rows that exist, the write
docs/deploy.md promises survives), and the check goes beyond the acknowledged writes: every
user that exists after the restart, acknowledged or not, has the journal row of its creation,
since the change and its event commit in one transaction. The kill is asserted to have cut
every writer off mid-request.

The database is an SQLite file, or a fresh PostgreSQL schema when SCIMSVC_TEST_DATABASE_URL
names a server (``make test-postgres``). Counts are bounded and every wait has a timeout; the
only processes killed are the server's own process group, started here.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.databases import isolated_database
from tests.live import console_script, free_port, wait_until_answering
from tests.scimdata import CORE_USER as USER, PATCH_OP

pytestmark = pytest.mark.system

STARTUP_SECONDS = 60  # a readiness wait on a loaded machine, not a timing assertion


@dataclass
class Instance:
    """An initialised scimsvc (database, key) and the server currently serving it."""

    folder: Path
    env: dict[str, str]
    database_url: str
    key: str = ""
    port: int = 0
    process: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    def admin(self, *args: str) -> str:
        done = subprocess.run([console_script(), *args], env=self.env, cwd=self.folder,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        self.port = free_port()
        log = self.folder / f"serve-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "w") as out:  # the defaults of `scimsvc serve`: only the port is chosen
            self.process = subprocess.Popen([console_script(), "serve", "--port", str(self.port)],
                                            env=self.env, cwd=self.folder, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_answering(self.process, lambda: self.call("GET", "ServiceProviderConfig")[0] == 200,
                             log, STARTUP_SECONDS)

    def kill(self) -> None:
        """SIGKILL the server's process group: the master and every worker, mid-request."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
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
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, f"/scim/v2/{path}", body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            connection.close()

    def sql(self, statement: str, **params: Any) -> list[tuple]:
        engine = sa.create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(statement), params)]
        finally:
            engine.dispose()


@pytest.fixture
def instance(tmp_path) -> Iterator[Instance]:
    with isolated_database(tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
        env.update(SCIMSVC_INSTANCE_PATH=str(tmp_path / "instance"), SCIMSVC_DATABASE_URL=url)
        made = Instance(tmp_path, env, url)
        made.admin("init")
        made.admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        made.admin("team", "create", "idp", "--role", "scim-provisioner")
        made.key = json.loads(made.admin("api-key", "create", "--team", "idp", "--name", "idp",
                                         "--json"))["key"]
        made.start()
        try:
            yield made
        finally:
            made.stop()


def _emails(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"value": f"{prefix}{n:04d}@example.com", "type": "work" if n % 2 else "home"}
            for n in range(count)]


def test_kill_9_amid_creates_and_disables_loses_no_acknowledged_update_and_no_event(instance):
    acknowledged: dict[str, tuple[str, str]] = {}  # request id -> (operation, user id)
    lock = threading.Lock()
    enough = threading.Event()
    writers = 4
    cut_off: list[int] = []  # the writers whose requests the kill interrupted

    def write(thread: int) -> None:
        previous = None
        for n in range(1000):  # bounded; ends at the first refused connection after the kill
            try:
                rid = f"crash-{thread}-{n}-create"
                status, body = instance.call("POST", "Users", {
                    "schemas": [USER], "userName": f"w{thread}-{n}@example.com", "active": True,
                    "emails": _emails(f"w{thread}-{n}-", 5)}, request_id=rid, timeout=30)
                if status == 201:
                    with lock:
                        acknowledged[rid] = ("create", body["id"])
                if previous is not None:
                    rid = f"crash-{thread}-{n}-disable"
                    patched, _ = instance.call("PATCH", f"Users/{previous}", {
                        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]},
                        request_id=rid, timeout=30)
                    if patched == 200:
                        with lock:
                            acknowledged[rid] = ("disable", previous)
                previous = body["id"] if status == 201 else previous
                with lock:
                    if len(acknowledged) >= 120:
                        enough.set()
            except (OSError, http.client.HTTPException):
                cut_off.append(thread)
                return  # the server is gone: whatever was not answered was not acknowledged

    threads = [threading.Thread(target=write, args=(t,)) for t in range(writers)]
    for thread in threads:
        thread.start()
    assert enough.wait(timeout=300), f"only {len(acknowledged)} writes acknowledged in 300 s"
    instance.kill()  # mid-write: the writers are still sending
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(cut_off) == list(range(writers))  # every writer was still writing at the kill

    instance.start()  # restarts on the same database, as a supervisor would
    journal = {rid: (operation, user_id, status) for rid, operation, user_id, status in instance.sql(
        "SELECT request_id, operation, target_user_id, status FROM audit_events")}
    for rid, (operation, user_id) in acknowledged.items():
        assert journal.get(rid) == (operation, user_id, 201 if operation == "create" else 200), rid
        status, user = instance.call("GET", f"Users/{user_id}")
        assert status == 200, rid
        if operation == "disable":
            assert user["active"] is False, rid
        else:
            assert len(user["emails"]) == 5
    # No write without its event, acknowledged or not: both commit in one transaction.
    created = {user_id for (user_id,) in instance.sql("SELECT scim_id FROM users")}
    journaled = {user_id for operation, user_id, status in journal.values() if operation == "create"}
    assert created == journaled
    # The restarted server takes writes again.
    assert instance.call("POST", "Users", {"schemas": [USER], "userName": "after@example.com"})[0] == 201
