"""Slow, idle and malformed clients against a real ``scimsvc serve`` with its defaults (issue 15).

With gunicorn's sync workers, two idle TCP connections kept a fresh request waiting
until the 60 s worker timeout; each worker now reads requests in an event loop
(cli/front.py), so stalled clients hold sockets, not workers. Counts and waits are
bounded: every socket is closed at the end of its test, every read has a timeout.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.live import console_script, free_port, wait_until_answering
from tests.scimdata import CORE_USER, ERROR

pytestmark = pytest.mark.system

STARTUP_SECONDS = 60  # a readiness wait on a loaded machine, not a timing assertion
FRESH_CLIENT_SECONDS = 1.0  # the bound for a fresh client beside the slow ones


@dataclass
class Served:
    port: int
    key: str
    process: subprocess.Popen
    log: Path

    def exchange(self, raw: bytes, timeout: float = 10.0) -> bytes:
        """Send ``raw`` on a new connection and read until the server closes or goes quiet."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(raw)
            return _read_answer(sock, timeout)

    def timed_request(self, method: str, path: str, body: dict | None = None) -> tuple[float, int]:
        """(seconds, status) of one request on a new connection, with the key."""
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} /scim/v2/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.key}\r\nContent-Type: application/scim+json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
        started = time.monotonic()
        answer = self.exchange(head + data, timeout=30)
        return time.monotonic() - started, _status(answer)


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """Read one response: up to its Content-Length, or until the server closes."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(body) >= int(value):
                    return data


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _scim_error(answer: bytes, status: int) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert _status(answer) == status, answer[:300]
    assert b"content-type: application/scim+json" in head.lower(), head
    document = json.loads(body)
    assert document["schemas"] == [ERROR] and document["status"] == str(status)
    return document


def _serve(folder: Path, **settings: str) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    env.update(SCIMSVC_INSTANCE_PATH=str(folder / "instance"), **settings)

    def admin(*args: str) -> str:
        done = subprocess.run([console_script(), *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    admin("init")
    admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
    admin("team", "create", "idp", "--role", "scim-provisioner")
    key = json.loads(admin("api-key", "create", "--team", "idp", "--name", "idp", "--json"))["key"]
    port = free_port()
    log = folder / "serve.log"
    with open(log, "w") as out:  # `scimsvc serve` with its defaults: only the port is chosen
        process = subprocess.Popen([console_script(), "serve", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(port, key, process, log)
    try:
        wait_until_answering(process, lambda: _status(served.exchange(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)) == 200,
            log, STARTUP_SECONDS)
        yield served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from _serve(tmp_path_factory.mktemp("slow-clients"))


class Crowd:
    """The slow clients of the issue, opened against one server and closed at the end."""

    def __init__(self, port: int):
        self.port = port
        self.sockets: list[socket.socket] = []
        self.slowloris: list[socket.socket] = []
        self.stop = threading.Event()
        self.dripper = threading.Thread(target=self._drip, daemon=True)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sockets.append(sock)
        return sock

    def open(self, idle: int, slowloris: int, unclosed: int, stalled_bodies: int) -> None:
        for _ in range(idle):
            self.connect()  # sends nothing
        for _ in range(slowloris):
            sock = self.connect()
            sock.sendall(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
            self.slowloris.append(sock)
        for _ in range(unclosed):  # answered, then neither side's next request comes
            sock = self.connect()
            sock.sendall(b"GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _status(_read_answer(sock, 30)) == 401
        for _ in range(stalled_bodies):
            sock = self.connect()
            sock.sendall(b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
                         b"Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\n{\"use\r\n")
        self.dripper.start()

    def _drip(self) -> None:
        """A header byte per slowloris connection every half second, as long as the test runs."""
        while not self.stop.wait(0.5):
            for sock in self.slowloris:
                try:
                    sock.send(b"X")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        if self.dripper.is_alive():
            self.dripper.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def test_a_fresh_client_is_answered_within_a_second_beside_160_slow_connections(served):
    crowd = Crowd(served.port)
    try:
        crowd.open(idle=50, slowloris=50, unclosed=50, stalled_bodies=10)
        timings = []
        # Over ~7 s: past the 5 s that gunicorn's gthread lets a thread wait for a first byte.
        for round_ in range(8):
            timings.append(served.timed_request("GET", "ServiceProviderConfig"))
            timings.append(served.timed_request("POST", "Users", {
                "schemas": [CORE_USER], "userName": f"fresh{round_}@example.com"}))
            time.sleep(0.5)
        assert [status for _, status in timings] == [200, 201] * 8
        slowest = max(seconds for seconds, _ in timings)
        print(f"fresh requests beside 160 slow connections: slowest {slowest * 1000:.1f} ms, "
              f"median {sorted(s for s, _ in timings)[len(timings) // 2] * 1000:.1f} ms")
        assert slowest < FRESH_CLIENT_SECONDS, f"slowest fresh request took {slowest:.2f}s: {timings}"
    finally:
        crowd.close()
    # Every slow client left: the server still answers at once.
    seconds, status = served.timed_request("GET", "ServiceProviderConfig")
    assert status == 200 and seconds < FRESH_CLIENT_SECONDS


def test_refusals_made_before_the_app_are_scim_errors(served):
    bad_line = served.exchange(b"GARBAGE\r\n\r\n")
    _scim_error(bad_line, 400)
    too_many_header_bytes = served.exchange(
        b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 300_000 + b"\r\n\r\n")
    _scim_error(too_many_header_bytes, 431)
    over_length = served.exchange(
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n"
        b"Content-Length: 2000000\r\n\r\n" + b" " * 2_000_000, timeout=30)
    _scim_error(over_length, 413)
    chunk = b"%x\r\n%s\r\n" % (600_000, b" " * 600_000)
    chunked_over = served.exchange(
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nContent-Type: application/scim+json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n", timeout=30)
    _scim_error(chunked_over, 413)
    unknown_coding = served.exchange(
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    _scim_error(unknown_coding, 501)


def test_large_but_legitimate_heads_reach_the_app(served):
    """What gunicorn refused as HTML (414, 431 on size or count) the app now answers itself."""
    attributes = "&".join(["attributes=emails.value"] * 10_000)
    many_attributes = served.exchange(
        f"GET /scim/v2/Users?{attributes} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {served.key}\r\n\r\n".encode())
    assert _status(many_attributes) == 200, many_attributes[:300]
    long_key = served.exchange(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               b"Authorization: Bearer " + b"k" * 65_536 + b"\r\n\r\n")
    _scim_error(long_key, 401)
    many_headers = b"".join(b"X-Header-%d: v\r\n" % n for n in range(300))
    crowded = served.exchange(b"GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n" + many_headers + b"\r\n")
    _scim_error(crowded, 401)


def test_long_query_values_do_not_stall_a_worker(served):
    """One 100 KB query value, no key needed, froze a worker in the log's e-mail redaction
    (quadratic in the regex engine) until gunicorn killed it; now it is answered at once."""
    value = "a" * 100_000
    heads = [f"GET /healthz?x={value} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             f"GET /scim/v2/ServiceProviderConfig?x={value} HTTP/1.1\r\nHost: x\r\n"
             f"Connection: close\r\n\r\n",
             f"GET /scim/v2/ServiceProviderConfig?x={value} HTTP/1.1\r\nHost: x\r\n"
             f"Connection: close\r\nAuthorization: Bearer {served.key}\r\n\r\n",
             f"GET /scim/v2/Users?x={value}@{value} HTTP/1.1\r\nHost: x\r\n"
             f"Connection: close\r\nAuthorization: Bearer {served.key}\r\n\r\n"]
    answers: list[bytes] = [b""] * len(heads)

    def send(index: int) -> None:
        answers[index] = served.exchange(heads[index].encode(), timeout=30)

    senders = [threading.Thread(target=send, args=(i,)) for i in range(len(heads))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=40)
    assert [_status(answer) for answer in answers] == [200, 401, 200, 200]
    fresh = served.exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            timeout=10)
    assert _status(fresh) == 200
    log = served.log.read_text()
    assert "WORKER TIMEOUT" not in log
    # The request log keeps 2 KB of a query, and no address.
    logged = {(line["path"], line["status"]): line["query"] for line in
              (json.loads(text) for text in log.splitlines() if text.startswith('{"time"'))
              if line.get("logger") == "scimsvc.requests" and "query" in line}
    assert logged[("/scim/v2/ServiceProviderConfig", 200)] == \
        f"x={value[:2046]}...[{len(value) - 2046} more characters]"
    assert logged[("/scim/v2/Users", 200)] == "x=[redacted]"


@pytest.fixture
def impatient(tmp_path):
    yield from _serve(tmp_path, SCIMSVC_READ_TIMEOUT="2")


def test_a_request_not_read_in_time_is_answered_408_and_closed(impatient):
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as stalled_body, \
            socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as slowloris:
        stalled_body.sendall(b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"use\r\n")
        slowloris.sendall(b"GET /scim/v2/Users HTTP/1.1\r\n")
        started = time.monotonic()
        while time.monotonic() - started < 3:  # dripping past the 2 s allowed
            slowloris.send(b"X")
            time.sleep(0.3)
        for sock in (stalled_body, slowloris):
            answer = _read_answer(sock, 10)
            _scim_error(answer, 408)
            assert sock.recv(1) == b""  # closed by the server
