"""Two ``scimsvc serve`` processes on one PostgreSQL database, as behind a load balancer.

Uniqueness, team assignment, the journal and key revocation must hold across
processes, not only inside one: nothing may rely on process memory. Each
server runs two gunicorn workers, so four processes answer. Runs only on
PostgreSQL (``make test-postgres``; ``.ci/run`` runs it): an SQLite file is one
host's database.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.databases import is_postgres, postgres_schema, server_url
from tests.live import console_script, free_port, redis_url, wait_until_answering
from tests.scimdata import CORE_USER as USER, PATCH_OP

pytestmark = [pytest.mark.system, pytest.mark.skipif(
    not is_postgres(),
    reason="needs SCIMSVC_TEST_DATABASE_URL naming a PostgreSQL database (make test-postgres)",
)]

STARTUP_SECONDS = 60  # a loaded CI machine; a healthy start takes about a second
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    def call(self, method: str, path: str, key: str | None, body: Any = None,
             request_id: str | None = None) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON body or None)."""
        headers = {"Accept": "application/scim+json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if request_id:
            headers["X-Request-Id"] = request_id
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


@dataclass
class Cluster:
    servers: list[Server]
    key: str
    database_url: str
    env: dict[str, str]
    folder: Path

    def admin(self, *args: str) -> str:
        """Run a CLI command the way an admin on a third host would."""
        result = subprocess.run([console_script(), *args], env=self.env, cwd=self.folder,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"scimsvc {' '.join(args)}: {result.stderr}"
        return result.stdout

    def sql(self, statement: str, **params: Any) -> list[tuple]:
        engine = sa.create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(statement), params)]
        finally:
            engine.dispose()


def _start(env: dict[str, str], folder: Path) -> Server:
    port = free_port()
    log = folder / f"serve-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen([console_script(), "serve", "--port", str(port), "--workers", "2"],
                                   env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    return Server(port, process, log)


def _wait_until_answering(server: Server) -> None:
    wait_until_answering(server.process,
                         lambda: server.call("GET", "ServiceProviderConfig", None)[0] == 401,
                         server.log, STARTUP_SECONDS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multiserver")
    with postgres_schema(server_url()) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
        env.update(SCIMSVC_DATABASE_URL=url, SCIMSVC_INSTANCE_PATH=str(folder / "instance"),
                   SCIMSVC_BASE_URL="https://scim.example.test")
        made = Cluster([], "", url, env, folder)
        made.admin("init")
        made.admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        made.admin("team", "create", "idp", "--role", "scim-provisioner")
        made.admin("team", "create", "employees")
        made.admin("provisioning", "assign-team", "employees")
        made.key = json.loads(made.admin("api-key", "create", "--team", "idp", "--name", "okta",
                                         "--json"))["key"]
        made.servers = [_start(env, folder), _start(env, folder)]
        try:
            for server in made.servers:
                _wait_until_answering(server)
            yield made
        finally:
            for server in made.servers:
                if server.process.poll() is None:
                    server.process.send_signal(signal.SIGTERM)
            for server in made.servers:
                try:
                    server.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()


def _together(calls: list) -> list:
    """Run the calls in threads released at the same moment; return their results in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported by the caller's assertions
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _variants(name: str, count: int) -> list[str]:
    """Spellings of ``name`` differing only in case (userName is caseExact=false)."""
    return [name.upper() if i % 3 == 0 else name.capitalize() if i % 3 == 1 else name
            for i in range(count)]


def test_both_servers_answer_from_one_database(cluster):
    a, b = cluster.servers
    status, created = a.call("POST", "Users", cluster.key, {"schemas": [USER],
                                                            "userName": "shared@example.com"})
    assert status == 201
    status, seen = b.call("GET", f"Users/{created['id']}", cluster.key)
    assert status == 200 and seen == created


def test_concurrent_duplicate_creates_split_across_servers_give_exactly_one_201(cluster):
    for round_ in range(3):
        name = f"race{round_}@example.com"
        calls = [
            (lambda server=cluster.servers[i % 2], user_name=user_name, i=i:
             server.call("POST", "Users", cluster.key, {"schemas": [USER], "userName": user_name},
                         request_id=f"dup-{round_}-{i}"))
            for i, user_name in enumerate(_variants(name, 12))
        ]
        results = _together(calls)
        statuses = sorted(r[0] if isinstance(r, tuple) else repr(r) for r in results)
        assert statuses == [201] + [409] * 11, statuses
        assert all(body["scimType"] == "uniqueness" for status, body in results if status == 409)
        live = cluster.sql("SELECT id FROM users WHERE user_name_norm = :n AND deleted_at IS NULL",
                           n=name)
        assert len(live) == 1
        # Team assignment happened once, for the one user that was created.
        memberships = cluster.sql(
            "SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = :u",
            u=live[0][0])
        assert memberships == [("employees",)]
        for server in cluster.servers:
            status, listed = server.call("GET", f'Users?filter=userName%20eq%20%22{name.upper()}%22',
                                         cluster.key)
            assert status == 200 and listed["totalResults"] == 1


def test_concurrent_patches_across_servers_lose_no_update(cluster):
    a, _ = cluster.servers
    status, user = a.call("POST", "Users", cluster.key, {"schemas": [USER],
                                                         "userName": "patched@example.com"})
    assert status == 201
    values = [f"alias{i}@example.com" for i in range(12)]
    calls = [
        (lambda server=cluster.servers[i % 2], value=value:
         server.call("PATCH", f"Users/{user['id']}", cluster.key, {
             "schemas": [PATCH_OP],
             "Operations": [{"op": "add", "path": "emails", "value": [{"value": value, "type": "other"}]}],
         }))
        for i, value in enumerate(values)
    ]
    results = _together(calls)
    assert [r[0] if isinstance(r, tuple) else repr(r) for r in results] == [200] * len(values)
    status, final = a.call("GET", f"Users/{user['id']}", cluster.key)
    assert sorted(e["value"] for e in final["emails"]) == sorted(values)
    assert final["meta"]["version"] == f'W/"{1 + len(values)}"'


def test_every_write_appears_once_in_the_journal(cluster):
    a, b = cluster.servers
    sent: dict[str, int] = {}

    def write(server: Server, method: str, path: str, body: Any, request_id: str):
        status, answer = server.call(method, path, cluster.key, body, request_id=request_id)
        sent[request_id] = status
        return status, answer

    creates = _together([
        (lambda i=i: write(cluster.servers[i % 2], "POST", "Users",
                           {"schemas": [USER], "userName": f"journal{i // 2}@example.com"},
                           f"jr-create-{i}"))
        for i in range(8)
    ])
    assert sorted(status for status, _ in creates) == [201] * 4 + [409] * 4
    ids = [body["id"] for status, body in creates if status == 201]
    _together([
        (lambda i=i, scim_id=scim_id: write(
            cluster.servers[i % 2], "PATCH", f"Users/{scim_id}",
            {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]},
            f"jr-patch-{i}"))
        for i, scim_id in enumerate(ids)
    ])
    write(a, "PUT", f"Users/{ids[0]}", {"schemas": [USER], "userName": "journal-renamed@example.com"},
          "jr-put-0")
    write(b, "DELETE", f"Users/{ids[1]}", None, "jr-delete-0")
    write(a, "DELETE", f"Users/{ids[1]}", None, "jr-delete-1")  # already gone: 404, journaled too

    rows = cluster.sql("SELECT request_id, status FROM audit_events WHERE request_id LIKE 'jr-%'")
    journaled = {}
    for request_id, status in rows:
        assert request_id not in journaled, f"{request_id} journaled twice"
        journaled[request_id] = status
    assert journaled == sent
    assert sent["jr-delete-0"] == 204 and sent["jr-delete-1"] == 404


def test_a_key_revoked_through_the_cli_is_refused_by_both_servers_at_once(cluster):
    spare = json.loads(cluster.admin("api-key", "create", "--team", "idp", "--name", "spare",
                                     "--json"))["key"]
    # Several requests per server, so that every gunicorn worker has seen the key.
    for server in cluster.servers:
        for _ in range(4):
            assert server.call("GET", "Users?count=1", spare)[0] == 200
    cluster.admin("api-key", "revoke", "spare", "--yes")
    for server in cluster.servers:
        for _ in range(4):
            status, body = server.call("GET", "Users?count=1", spare)
            assert status == 401, body
    # The other key is untouched.
    assert all(server.call("GET", "Users?count=1", cluster.key)[0] == 200
               for server in cluster.servers)


@pytest.mark.skipif(redis_url() is None, reason="no Redis on 127.0.0.1:6379 (.ci/run starts one)")
def test_rate_limits_are_shared_by_both_servers_through_redis(tmp_path):
    """Two servers (four workers) on one database and one Redis count a key's requests and an
    address's refusals together: the limit holds for the deployment, not per process."""
    with postgres_schema(server_url()) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
        env.update(SCIMSVC_DATABASE_URL=url, SCIMSVC_INSTANCE_PATH=str(tmp_path / "instance"),
                   SCIMSVC_RATE_LIMIT_STORAGE=redis_url(),
                   SCIMSVC_RATE_LIMIT_PER_KEY="8 per minute", SCIMSVC_RATE_LIMIT_REFUSED="6 per minute")
        made = Cluster([], "", url, env, tmp_path)
        made.admin("init")
        made.admin("role", "create", "p", "--permission", "scim:provision")
        made.admin("team", "create", "idp", "--role", "p")
        key = json.loads(made.admin("api-key", "create", "--team", "idp", "--name", "okta",
                                    "--json"))["key"]
        servers = [_start(env, tmp_path), _start(env, tmp_path)]
        try:
            for server in servers:
                wait_until_answering(server.process, lambda s=server: _healthy(s), server.log,
                                     STARTUP_SECONDS)
            statuses = [servers[i % 2].call("GET", "Users", key)[0] for i in range(8)]
            assert statuses == [200] * 8
            over = [servers[i % 2].call("GET", "Users", key) for i in range(2)]
            assert [status for status, _ in over] == [429, 429]
            assert all(body["status"] == "429" for _, body in over)
            refused = [servers[i % 2].call("GET", "Users", "scimsvc_0123456789ab_" + "A" * 43)[0]
                       for i in range(8)]
            assert refused == [401] * 6 + [429] * 2
        finally:
            for server in servers:
                server.process.send_signal(signal.SIGTERM)
            for server in servers:
                server.process.wait(timeout=30)
        # The refusals were journaled at exit, one row per server process and reason at most.
        rows = made.sql("SELECT reason, SUM(repeats) FROM audit_events WHERE reason IS NOT NULL "
                        "GROUP BY reason ORDER BY reason")
        assert rows == [("rate_limited", 4), ("unknown", 6)]


def _healthy(server: Server) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/healthz")
    with _opener.open(request, timeout=5) as response:
        return response.status == 200
