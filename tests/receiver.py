"""A real HTTP webhook receiver on 127.0.0.1 for the tests: records what it is sent, answers as told."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from standardwebhooks.webhooks import Webhook as StandardWebhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the receiver got, and how it answers: ``statuses`` first (one per request), then
    ``default``; ``delay`` seconds before answering."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each request
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r, status in zip(self.received, self.answered) if status < 300]

    def wait_for(self, count: int, seconds: float = 30) -> list[dict[str, Any]]:
        """Wait until ``count`` events were accepted (a bound for a loaded machine, not a timing check)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                return events
            time.sleep(0.02)
        raise AssertionError(f"the receiver accepted {len(self.events())} events, expected {count}")


def verify(secret: str, received: Received) -> dict[str, Any]:
    """Check the signature with the independent ``standardwebhooks`` package; return the payload."""
    return StandardWebhook(secret).verify(received.body, received.headers)


@contextlib.contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            with receiver.lock:
                receiver.arrived.append(time.monotonic())
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                receiver.received.append(Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                receiver.answered.append(status)
            payload = b"ok" if status < 300 else b"receiver says no"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the sender gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
