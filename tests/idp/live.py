"""A real ``scimsvc serve`` (gunicorn) on localhost, and an HTTP client shaped like Flask's.

The replay tests run in-process; this module lets the same ``IdP`` client, fixtures and
assertions drive a live server over real sockets, so headers, charsets, status lines and bodies
are checked as gunicorn and werkzeug actually produce them.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.live import free_port, wait_until_answering

SCIMSVC = str(Path(sys.executable).with_name("scimsvc"))


class LiveResponse:
    """The parts of a werkzeug test response the replay helpers use."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, data: bytes):
        self.status_code = status
        self.headers = {name: value for name, value in headers.items()}
        self._data = data

    def get_data(self, as_text: bool = False):
        return self._data.decode("utf-8") if as_text else self._data

    def get_json(self) -> Any:
        return json.loads(self._data) if self._data else None


class LiveClient:
    """``open(url, method=, data=, headers=)`` over HTTP to ``host:port``."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def open(self, url: str, method: str = "GET", data=None, headers=None) -> LiveResponse:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            body = data.encode("utf-8") if isinstance(data, str) else data
            connection.request(method, url, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return LiveResponse(response.status, response.headers, response.read())
        finally:
            connection.close()


class LiveServer:
    """The admin steps (``init``, role, team) through the real click group, then
    ``scimsvc serve`` on the same instance folder, in its own process group."""

    def __init__(self, instance: Path):
        from scimsvc.config import default_database_url

        self.port = free_port()
        self.instance = instance
        self.database_url = default_database_url(str(instance))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
        self.env.update(SCIMSVC_INSTANCE_PATH=str(instance),
                        SCIMSVC_BASE_URL=f"http://127.0.0.1:{self.port}")
        self.process: subprocess.Popen | None = None
        self.log = instance / "server.log"

    def admin(self, *args: str) -> str:
        """Run ``scimsvc ARGS`` in-process against the server's database (the CLI's own code)."""
        from tests.conftest import Admin

        from scimsvc import create_app
        from scimsvc.extensions import db

        app = create_app({"INSTANCE_PATH": str(self.instance), "SQLALCHEMY_DATABASE_URI": self.database_url})
        try:
            return Admin(app)(*args).stdout
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

    def start(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        self.admin("init")
        self.admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        self.admin("team", "create", "identity-provider", "--role", "scim-provisioner")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [SCIMSVC, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_answering(
                self.process,
                lambda: bool(LiveClient("127.0.0.1", self.port).open("/scim/v2/ServiceProviderConfig")),
                self.log, 60)
        except BaseException:
            self.stop()
            raise

    def key(self, name: str) -> str:
        out = self.admin("api-key", "create", "--team", "identity-provider", "--name", name, "--json")
        return json.loads(out)["key"]

    def client(self) -> LiveClient:
        return LiveClient("127.0.0.1", self.port)

    def stop(self) -> None:
        """SIGTERM the server's own process group (gunicorn's master and its workers)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
