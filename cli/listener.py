"""The Prometheus listener of ``scimsvc serve``: /metrics on SCIMSVC_METRICS_LISTEN, in the master.

The metrics are not on the service's own port: they name every organization's
API keys, so they are for the operator, on a separate listener that binds to
loopback in the documented set-up (a non-loopback address is allowed, with a
warning, for a scraper on a private network). Workers write their values to a
private folder (prometheus-client's multiprocess mode); a process of its own,
forked from the gunicorn master before the first worker, serves their sum plus
the gauges it reads from the database per scrape (keys, webhook backlog, Google
syncs). Not a thread in the master: a worker forked while a scrape held a lock
(SQLite's, the pool's, logging's) would start with that lock held forever.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import tempfile
import time
import traceback
from typing import Any, Callable

import click
from prometheus_client import start_http_server
from sqlalchemy.pool import NullPool

from scimsvc import create_app, metrics
from scimsvc.config import CREATE_DATABASE
from scimsvc.services.keys import active_keys
from scimsvc.services.sources.google import last_runs as google_last_runs
from scimsvc.services.webhooks import backlog as webhook_backlog


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _database_readers() -> tuple[Callable[[], list], Callable[[], list], Callable[[], list]]:
    """What the gauges read per scrape: the active keys, the webhook backlog, the Google syncs."""
    # The master keeps no connection between scrapes (NullPool): a worker forked later
    # must not inherit one.
    app = create_app({"SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}})
    app.config[CREATE_DATABASE] = False

    def reader(query: Callable[[], list]) -> Callable[[], list]:
        def read() -> list:
            with app.app_context():
                return query()
        return read

    return reader(active_keys), reader(webhook_backlog), reader(google_last_runs)


def _serve_metrics(host: str, port: int, master: int) -> None:
    """The listener process: serve /metrics until the master is gone; never returns."""
    code = 0
    try:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                       signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
                       signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(number, signal.SIG_DFL)  # not the master's handlers
        registry = metrics.multiprocess_registry(*_database_readers())
        start_http_server(port, addr=host.strip("[]"), registry=registry)
        while os.getppid() == master:
            time.sleep(1)
    except BaseException:
        code = 1
        traceback.print_exc()
    finally:
        os._exit(code)


def gunicorn_hooks(listen: str) -> dict[str, Any]:
    """The gunicorn settings that serve the workers' metrics on ``listen`` (host:port)."""
    host, _, port = listen.rpartition(":")
    if not _is_loopback(host):
        click.echo(f"Warning: SCIMSVC_METRICS_LISTEN={listen} is not a loopback address: the "
                   "metrics (they name every API key) are reachable from the network.", err=True)
    folder = tempfile.mkdtemp(prefix="scimsvc-metrics-")
    metrics.enable_multiprocess(folder)

    listener: dict[str, int] = {}

    def when_ready(server) -> None:
        master = os.getpid()
        pid = os.fork()
        if pid == 0:
            _serve_metrics(host, int(port), master)
        listener["pid"] = pid
        server.log.info("Prometheus metrics on http://%s/metrics (pid %s)", listen, pid)

    def child_exit(_server, worker) -> None:
        metrics.worker_exited(worker.pid)

    def on_exit(_server) -> None:
        if "pid" in listener:
            try:
                os.kill(listener["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        shutil.rmtree(folder, ignore_errors=True)

    return {"when_ready": when_ready, "child_exit": child_exit, "on_exit": on_exit}
