"""End to end: the README's admin steps through the real ``scimsvc`` console script, then a
real ``scimsvc serve`` (gunicorn) process answering HTTP on a free port.

The other tests drive the app in-process; this one proves the pieces a person
actually runs fit together: the console script, configuration from the
environment, the SQLite file in the instance folder, gunicorn workers building
their own app, and a clean shutdown on SIGTERM and Ctrl-C.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live import console_script, free_port, wait_until_answering
from tests.scimdata import CORE_USER as USER

pytestmark = pytest.mark.system  # starts real processes

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://scim.example.test"
STARTUP_SECONDS = 30  # generous: a loaded CI machine; a healthy start takes about a second

# Never send requests to 127.0.0.1 through an HTTP proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def readme_steps() -> list[tuple[list[str], bool]]:
    """The README's admin steps: (scimsvc arguments, whether the line keeps stdout in $KEY)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Set up provisioning", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    steps = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        captured = bool(words) and words[0].startswith("KEY=$(")
        if captured:
            words = shlex.split(line.split("$(", 1)[1].rsplit(")", 1)[0])
        if words and words[0] == "scimsvc":
            steps.append((words[1:], captured))
    return steps


def readme_curl() -> tuple[str, str, dict]:
    """The README's curl that tries the key: (method, URL, JSON body)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Try it with the key", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.split("\nscimsvc", 1)[0].replace("\\\n", " "))
    assert words[0] == "curl", words
    return words[words.index("-X") + 1], next(w for w in words if w.startswith("http")), \
        json.loads(words[words.index("-d") + 1])


@dataclass
class Instance:
    """A scimsvc instance folder, driven the way an admin does: through the console script."""

    folder: Path
    script: str
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([self.script, *args], env=self.env, cwd=self.folder,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"scimsvc {' '.join(args)}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result

    def serve(self, port: int) -> subprocess.Popen:
        log = open(self.folder / f"serve-{port}.log", "w")
        return subprocess.Popen([self.script, "serve", "--port", str(port), "--workers", "1"],
                                env=self.env, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)

    def log(self, port: int) -> str:
        return (self.folder / f"serve-{port}.log").read_text()


@dataclass
class Server:
    instance: Instance
    process: subprocess.Popen
    port: int
    key: str
    readonly_key: str
    assigned_team: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/scim/v2"

    def call(self, method: str, path: str, body: Any = None,
             key: str | None = None) -> tuple[int, Any, Any]:
        """Send one request; return (status, headers, parsed JSON body or None)."""
        headers = {"Accept": "application/scim+json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method, headers=headers)
        try:
            with _opener.open(request, timeout=10) as response:
                status, answer_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, raw = error.code, error.headers, error.read()
        return status, answer_headers, json.loads(raw) if raw else None


def _wait_until_answering(server: Server) -> None:
    wait_until_answering(server.process,
                         lambda: server.call("GET", "ServiceProviderConfig")[0] == 401,
                         server.instance.folder / f"serve-{server.port}.log", STARTUP_SECONDS)


def _stop(process: subprocess.Popen, sig: int) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> Instance:
    folder = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env.update(SCIMSVC_INSTANCE_PATH=str(folder / "instance"), SCIMSVC_BASE_URL=BASE_URL)
    made = Instance(folder, console_script(), env)
    init = made.run("init")
    assert init.stdout.splitlines()[1] == "Organization 'default' created."
    return made


@pytest.fixture(scope="module")
def server(instance) -> Server:
    port = free_port()
    process = instance.serve(port)  # boots while the admin steps run
    try:
        # The README's five steps, exactly as written there.
        steps = readme_steps()
        commands = [" ".join(args[:2]) for args, _ in steps]
        assert commands == ["role create", "team create", "api-key create", "team create",
                            "provisioning assign-team", "endpoint"], commands
        key = assigned = ""
        for args, captured in steps:
            result = instance.run(*args)
            if captured:
                key = result.stdout.strip()
            if args[:2] == ["provisioning", "assign-team"]:
                assigned = args[2]
            if args == ["endpoint"]:
                assert result.stdout == f"{BASE_URL}/scim/v2\n"
        assert key.startswith("scimsvc_")
        # A key whose team lacks the permission.
        instance.run("team", "create", "readers")
        readonly = instance.run("api-key", "create", "--team", "readers", "--name", "readonly").stdout.strip()

        running = Server(instance, process, port, key, readonly, assigned)
        _wait_until_answering(running)
        yield running
    finally:
        code = _stop(process, signal.SIGTERM)
    assert code == 0, instance.log(port)
    assert "Shutting down: Master" in instance.log(port)


def test_create_user_with_the_printed_key(server):
    """The README's curl, sent to the real server with the key its steps printed."""
    method, url, document = readme_curl()
    assert url == "http://127.0.0.1:8000/scim/v2/Users"  # what `make run` serves
    status, headers, body = server.call(method, "Users", document, key=server.key)
    assert status == 201, body
    assert body["userName"] == document["userName"] == "alice@example.com"
    assert headers["Location"] == f"{BASE_URL}/scim/v2/Users/{body['id']}"
    assert body["meta"]["location"] == headers["Location"]
    assert headers["Content-Type"].startswith("application/scim+json")

    status, _, fetched = server.call("GET", f"Users/{body['id']}", key=server.key)
    assert status == 200
    assert fetched["userName"] == "alice@example.com"

    shown = server.instance.run("team", "show", server.assigned_team).stdout.splitlines()
    assert shown[3] == "Members: 1"
    assert shown[5].split() == ["alice@example.com", body["id"], "active", "assignment"]


def test_no_key_is_401(server):
    status, headers, body = server.call("POST", "Users", {"schemas": [USER], "userName": "eve@example.com"})
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "401"


def test_key_of_a_team_lacking_the_permission_is_403(server):
    status, _, body = server.call("POST", "Users", {"schemas": [USER], "userName": "eve@example.com"},
                                  key=server.readonly_key)
    assert status == 403
    assert body["status"] == "403"


def test_database_file_holds_no_plaintext_key(server):
    database = server.instance.folder / "instance" / "scimsvc.sqlite3"
    contents = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert hashlib.sha256(server.key.encode()).hexdigest().encode() in contents  # the right file
    assert server.key.encode() not in contents
    assert server.key[len("scimsvc_") + 13:].encode() not in contents


def test_revoked_key_is_401(server):
    """Runs last against the server: it revokes the key the other tests use."""
    assert server.call("GET", "ServiceProviderConfig", key=server.key)[0] == 200
    args = next(args for args, captured in readme_steps() if captured)
    name = args[args.index("--name") + 1]
    assert server.instance.run("api-key", "revoke", name, "--yes").stdout == f"API key '{name}' revoked.\n"
    status, headers, body = server.call("POST", "Users", {"schemas": [USER], "userName": "bob@example.com"},
                                        key=server.key)
    assert status == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert body["detail"] == "The API key is unknown, revoked or expired."


def test_ctrl_c_stops_the_server_cleanly(instance):
    port = free_port()
    process = instance.serve(port)
    running = Server(instance, process, port, key="", readonly_key="")
    try:
        _wait_until_answering(running)
    finally:
        code = _stop(process, signal.SIGINT)
    assert code == 0, instance.log(port)
    assert "Shutting down: Master" in instance.log(port)


def readme_product_commands() -> list[list[str]]:
    """The README's product-side block, one shell command (as words) per entry."""
    text = (ROOT / "README.md").read_text()
    block = text.split("### The product side", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands, pending = [], ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote continues on the next line
            continue
        pending = ""
        if words:
            commands.append(words)
    return commands


def test_the_readme_product_side_steps(server):
    """The README's product steps through the console script, then its curls to the real server."""
    # A key of its own: another test of this module revokes the README's.
    idp_key = server.instance.run("api-key", "create", "--team", "identity-provider",
                                  "--name", "idp-product-test").stdout.strip()
    status, _, _ = server.call("POST", "Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@example.com"},
        key=idp_key)
    assert status in (201, 409)  # the first test may have created her
    product_key, answers = "", []
    for words in readme_product_commands():
        if words[0].startswith("PRODUCT_KEY=$("):
            words = shlex.split(" ".join(words)[len("PRODUCT_KEY=$("):].rsplit(")", 1)[0])
            product_key = server.instance.run(*words[1:]).stdout.strip()
        elif words[0] == "scimsvc":
            server.instance.run(*words[1:])
        else:
            assert words[0] == "curl", words
            url = next(w for w in words if w.startswith("http")).replace(
                "127.0.0.1:8000", f"127.0.0.1:{server.port}")
            headers = dict(words[i + 1].replace("$PRODUCT_KEY", product_key).split(": ", 1)
                           for i, w in enumerate(words) if w == "-H")
            data = words[words.index("-d") + 1].encode() if "-d" in words else None
            request = urllib.request.Request(url, data=data, headers=headers,
                                             method="POST" if data else "GET")
            with _opener.open(request, timeout=10) as response:
                assert response.headers["Content-Type"].startswith("application/json")
                answers.append(json.loads(response.read()))
    assert product_key.startswith("scimsvc_")
    users, decision, feed = answers
    assert users["data"][0]["permissions"] == ["chat:use"] and users["next"] is None
    assert decision == {"decision": True}
    assert [e["type"] for e in feed["data"]][:1] == ["user.created"]
    assert any(e["type"] == "user.access_changed" for e in feed["data"])
    status, _, _ = server.call("GET", "Users", key=product_key)
    assert status == 403  # the product's key cannot provision
