"""The load generator: concurrent HTTP/1.1 clients over loopback, cheap enough not to be the bottleneck.

Requests are prepared as raw bytes before a phase starts; each client
process runs a few threads, each with its own socket, sending them in turn
and timing each response. A client reuses its connection when the server
keeps it open (gunicorn's sync workers close it after every response, so
most requests open a new one, as they would from an IdP behind a proxy).
Every loop is bounded by a request count and a deadline.
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any
from urllib.parse import quote


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    tag: Any = None  # handed back with the response when keep_bodies is set
    expect: bytes | None = None  # the body (spaces removed) must contain this, else it is an error

    def raw(self, host: str, port: int, headers: dict[str, str]) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def get(path: str, tag: Any = None, expect: bytes | None = None) -> Request:
    return Request("GET", path, tag=tag, expect=expect)


def send_json(method: str, path: str, body: Any, tag: Any = None) -> Request:
    return Request(method, path, json.dumps(body, separators=(",", ":")).encode(), tag)


def filter_query(expression: str, **params: Any) -> str:
    extra = "".join(f"&{k}={quote(str(v))}" for k, v in params.items())
    return f"?filter={quote(expression)}{extra}"


@dataclass
class Result:
    """What one phase's clients saw: per-request latencies, statuses, wall time and client CPU."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    bodies: list[tuple[Any, int, bytes]] = field(default_factory=list)
    wall: float = 0.0
    client_cpu: float = 0.0

    @property
    def ops(self) -> int:
        return len(self.latencies)

    def merge(self, other: "Result") -> None:
        self.latencies += other.latencies
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.errors += other.errors
        self.bodies += other.bodies
        self.client_cpu += other.client_cpu


_IDS = re.compile(rb'"id": ?"([^"]+)"')


class _Connection:
    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def exchange(self, raw: bytes, timeout: float) -> tuple[int, bytes]:
        """Send one request and read its response; reconnect once if a kept-alive socket went stale."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(self.address, timeout=timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(raw)
                return self._read()
            except (ConnectionError, _Closed):
                self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def _recv(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise _Closed()
        self.buffer += chunk

    def _read(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close, chunked = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        self.buffer = rest
        if chunked:
            body = self._read_chunked()
        elif length is None and close and status not in (204, 304):
            body = self._read_to_close()
        else:
            length = length or 0
            while len(self.buffer) < length:
                self._recv()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        if close:
            self.close()
        return status, body

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            while b"\r\n" not in self.buffer:
                self._recv()
            size_line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._recv()
            parts.append(self.buffer[:size])
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return b"".join(parts)

    def _read_to_close(self) -> bytes:
        try:
            while True:
                self._recv()
        except _Closed:
            body, self.buffer = self.buffer, b""
            return body


class _Closed(Exception):
    pass


def _client_process(host: str, port: int, headers: dict[str, str], requests: list[Request],
                    threads: int, deadline: float, keep_bodies: bool | str, timeout: float) -> Result:
    """Run ``threads`` clients in this process over ``requests``; stop at ``deadline``."""
    raws = [(r.raw(host, port, headers), r.tag, r.expect) for r in requests]
    lock = threading.Lock()
    position = iter(range(len(raws)))
    results = [Result() for _ in range(threads)]

    def client(result: Result) -> None:
        connection = _Connection(host, port)
        clock = time.perf_counter
        while time.time() < deadline:
            with lock:
                index = next(position, None)
            if index is None:
                break
            raw, tag, expect = raws[index]
            started = clock()
            try:
                status, body = connection.exchange(raw, timeout)
            except (OSError, _Closed) as error:
                connection.close()
                result.errors.append(f"{type(error).__name__}: {error}")
                result.latencies.append(clock() - started)
                result.statuses[0] = result.statuses.get(0, 0) + 1
                continue
            result.latencies.append(clock() - started)
            if expect is not None and status < 300 and expect not in body.replace(b" ", b""):
                status = 299  # a success status with the wrong content counts as an error
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status >= 500 or (status >= 299 and len(result.errors) < 20):
                result.errors.append(f"{status}: {body[:300]!r}")
            if keep_bodies == "ids":
                result.bodies.append((tag, status, _IDS.findall(body)))
            elif keep_bodies:
                result.bodies.append((tag, status, body))
        connection.close()

    cpu = time.process_time()
    pool = [threading.Thread(target=client, args=(r,)) for r in results]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    merged = Result()
    for r in results:
        merged.merge(r)
    merged.client_cpu = time.process_time() - cpu
    return merged


class LoadGenerator:
    """A pool of client processes, each running ``threads`` concurrent connections."""

    def __init__(self, processes: int = 2, threads: int = 8):
        self.processes = processes
        self.threads = threads
        self.pool = ProcessPoolExecutor(processes, mp_context=get_context("fork"))

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def run(self, host: str, port: int, headers: dict[str, str], requests: list[Request], *,
            concurrency: int | None = None, max_seconds: float = 120.0,
            keep_bodies: bool | str = False, timeout: float = 60.0) -> Result:
        """Send ``requests`` with ``concurrency`` clients (at most ``max_seconds``); return what they saw."""
        concurrency = concurrency or self.processes * self.threads
        processes = min(self.processes, concurrency)
        per_process = [concurrency // processes + (1 if k < concurrency % processes else 0)
                       for k in range(processes)]
        # Hand out requests round-robin so each process gets the same mix.
        shares = [requests[k::processes] for k in range(processes)]
        deadline = time.time() + max_seconds
        started = time.perf_counter()
        futures = [self.pool.submit(_client_process, host, port, headers, shares[k], per_process[k],
                                    deadline, keep_bodies, timeout)
                   for k in range(processes) if shares[k]]
        total = Result()
        for future in futures:
            total.merge(future.result())
        total.wall = time.perf_counter() - started
        return total


def sequential(host: str, port: int, headers: dict[str, str], requests: list[Request],
               max_seconds: float = 600.0, timeout: float = 60.0) -> Result:
    """Send ``requests`` one after another from one client in this process (used for paging).

    Only the resource ids of each response are kept (``Result.bodies``).
    """
    started = time.perf_counter()
    result = _client_process(host, port, headers, requests, 1, time.time() + max_seconds, "ids",
                             timeout)
    result.wall = time.perf_counter() - started
    return result


def cpu_count() -> int:
    return os.cpu_count() or 1
