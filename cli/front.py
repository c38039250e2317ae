"""The HTTP front of ``scimsvc serve``: gunicorn worker processes, each running waitress.

Gunicorn's sync worker read each request with the worker's only thread, so a
client that sent nothing, sent its headers a byte at a time, left a chunked
body unfinished or kept its connection open after the answer held a worker
until gunicorn's 60 s timeout killed it (issue 15). Here gunicorn keeps what it
does well (the arbiter: forking, restarts, signals, graceful stop) and each
worker runs waitress instead: an event loop reads every request, headers and
body, while only sockets wait; a request is handed to the worker's thread pool
once it is complete. A fresh client therefore never queues behind slow ones.

The loop also closes what stalls: a connection whose request is not fully read
SCIMSVC_READ_TIMEOUT seconds (20) after its first byte is answered 408, an idle
connection is closed after SCIMSVC_IDLE_TIMEOUT seconds (30). Gunicorn's heartbeat comes
from the loop, not from a request, so no request is cut by a worker timeout:
the database timeouts bound a request instead (docs/deploy.md).

Refusals made before Flask sees a request (a malformed request line, headers
over ``MAX_HEADER_BYTES``, a body over the app's MAX_CONTENT_LENGTH, a chunked
encoding waitress cannot read) are SCIM error bodies like every other answer.
"""
from __future__ import annotations

import json
import os
import resource
import socket
import time
from typing import Any

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from scimsvc import metrics
from scimsvc.scim.schema import ERROR_SCHEMA

# Request line and headers together; over it, 431. The longest request an IdP sends is a
# list with a long filter or attributes list, well under it; a 64 KB Authorization header
# still reaches the app (and gets its 401).
MAX_HEADER_BYTES = 256 * 1024
# Open connections per worker before it stops accepting (each costs a socket and a buffer).
CONNECTION_LIMIT = 1000
THREADS = 4
# Seconds a refused client's remaining input is read and dropped before the socket closes.
LINGER_SECONDS = 2.0


def error_response(status: int, reason: str, detail: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """An RFC 7644 §3.12 error: (status line, headers, body)."""
    body = json.dumps({"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}).encode()
    return (f"{status} {reason}",
            [("Content-Type", "application/scim+json"), ("Connection", "close")], body)


_DETAILS = {
    400: "The request could not be read as HTTP/1.1.",
    408: "The request did not arrive in time.",
    413: "The request body is larger than the server accepts.",
    431: "The request line and headers are larger than the server accepts.",
    501: "The request uses a transfer coding the server does not implement.",
}


class ScimErrorTask(ErrorTask):
    """Waitress's own refusals, as SCIM errors (its plain-text page names waitress)."""

    def execute(self) -> None:
        error = self.request.error
        metrics.FRONT_REFUSALS.labels(str(error.code)).inc()  # the app never counts these
        status, headers, body = error_response(
            error.code, error.reason, _DETAILS.get(error.code, "The request was refused."))
        self.status = status
        self.response_headers.extend(headers[:1])
        self.set_close_on_finish()
        self.channel.lingers = True
        self.content_length = len(body)
        self.write(body)


class ScimWSGITask(WSGITask):
    """Waitress's WSGI task, sending header names as the app spelled them (``ETag``,
    ``WWW-Authenticate``), not re-capitalized (``Etag``) as waitress does."""

    def build_response_header(self) -> bytes:
        spelled = {_capitalized(name): name for name, _ in self.response_headers}
        head = super().build_response_header().decode("latin-1")
        first, _, rest = head.partition("\r\n")
        lines = []
        for line in rest.split("\r\n"):
            name, colon, value = line.partition(":")
            lines.append(spelled.get(name, name) + colon + value if colon else line)
        return (first + "\r\n" + "\r\n".join(lines)).encode("latin-1")


def _capitalized(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


class ScimChannel(HTTPChannel):
    """A connection that remembers when the request it is reading began, and that reads
    what a refused client still sends for a moment before closing (a close with unread
    input resets the connection, and the client would lose the answer)."""

    task_class = ScimWSGITask
    error_task_class = ScimErrorTask
    reading_since: float | None = None
    lingers = False  # set when the server refused the request and closes the connection
    draining_until: float | None = None

    def readable(self) -> bool:
        return True if self.draining_until is not None else super().readable()

    def writable(self) -> bool:
        return False if self.draining_until is not None else super().writable()

    def handle_read(self) -> None:
        if self.draining_until is None:
            return super().handle_read()
        try:
            data = self.recv(64 * 1024)  # calls handle_close at the end of the input
        except OSError:
            data = b""
        if data and time.monotonic() > self.draining_until:
            self.close_now()

    def handle_close(self) -> None:
        if self.lingers and self.draining_until is None and self.connected:
            try:
                self.socket.shutdown(socket.SHUT_WR)  # the answer is sent: FIN, then drain
            except OSError:
                return self.close_now()
            self.will_close = self.close_when_flushed = False
            self.draining_until = time.monotonic() + LINGER_SECONDS
            return None
        return self.close_now()

    def close_now(self) -> None:
        if self.socket is not None and self._fileno is not None:
            super().handle_close()

    def received(self, data: bytes) -> bool:
        started = self.request is None
        read = super().received(data)
        if self.request is None or self.request.completed:
            self.reading_since = None
        elif started or self.reading_since is None:
            self.reading_since = time.monotonic()
        return read

    def refuse_late_request(self) -> None:
        """Answer 408 to the request still being read and close the connection."""
        metrics.FRONT_REFUSALS.labels("408").inc()
        status, headers, body = error_response(408, "Request Timeout", _DETAILS[408])
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.reading_since = None
        self.request = None
        self.lingers = True
        self.write_soon(head.encode("latin-1") + body)
        self.close_when_flushed = True


class ScimServer(TcpWSGIServer):
    channel_class = ScimChannel
    read_timeout = 20.0  # set per worker from SCIMSVC_READ_TIMEOUT

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections (channel_timeout)
        now_monotonic = time.monotonic()
        late = now_monotonic - self.read_timeout
        for channel in list(self.active_channels.values()):
            draining = getattr(channel, "draining_until", None)
            if draining is not None:
                if draining < now_monotonic:
                    channel.close_now()
                continue
            since = getattr(channel, "reading_since", None)
            if since is not None and since < late and not channel.requests:
                channel.refuse_late_request()


class WaitressWorker(Worker):
    """A gunicorn worker serving its app with waitress on the arbiter's listening sockets."""

    def init_process(self) -> None:
        _allow_open_files(CONNECTION_LIMIT + 64)
        super().init_process()

    def run(self) -> None:
        socket_map: dict[int, Any] = {}
        config = getattr(self.wsgi, "config", None) or {}
        app = _AccessLog(self.wsgi, self.log.access_log) if self.cfg.accesslog else self.wsgi
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(THREADS)
        settings = dict(
            threads=THREADS, connection_limit=CONNECTION_LIMIT,
            channel_timeout=config.get("SCIMSVC_IDLE_TIMEOUT", 30), cleanup_interval=1,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=config.get("MAX_CONTENT_LENGTH") or 1024 * 1024,
            # The app applies SCIMSVC_TRUSTED_PROXIES itself (api.proxies): waitress must
            # leave the X-Forwarded-* headers to it.
            clear_untrusted_proxy_headers=False,
            asyncore_use_poll=True, ident="scimsvc", expose_tracebacks=False)
        servers = []
        for listener in self.sockets:
            sock = listener.sock
            server = ScimServer(app, map=socket_map, _sock=sock, dispatcher=dispatcher,
                                bind_socket=False, **settings,
                                sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
            server.read_timeout = float(config.get("SCIMSVC_READ_TIMEOUT", 20))
            servers.append(server)
        while self.alive:
            self.notify()
            wasyncore.loop(timeout=1.0, use_poll=True, map=socket_map, count=1)
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
        self._stop(servers, socket_map, dispatcher)

    def _stop(self, servers: list[ScimServer], socket_map: dict[int, Any], dispatcher: Any) -> None:
        """Stop accepting, let the requests in progress finish (graceful_timeout), then exit."""
        for server in servers:
            server.accepting = False
            socket_map.pop(server._fileno, None)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and any(
                getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
                for channel in list(socket_map.values())):
            self.notify()
            wasyncore.loop(timeout=0.2, use_poll=True, map=socket_map, count=1)
        dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(socket_map)


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit on open files to ``wanted`` if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


class _AccessLog:
    """One line per answered request on gunicorn's access logger (``serve --access-log``)."""

    def __init__(self, app: Any, log: Any):
        self.app, self.log = app, log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.monotonic()

        def logged_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            self.log.info('%s "%s %s %s" %s %.1fms', environ.get("REMOTE_ADDR", "-"),
                          environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                          environ.get("SERVER_PROTOCOL"), status.split(" ", 1)[0],
                          (time.monotonic() - started) * 1000)
            return start_response(status, headers, exc_info)

        return self.app(environ, logged_start_response)
