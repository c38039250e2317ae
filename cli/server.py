"""Run the app under gunicorn, configured from Python (no gunicorn config file)."""
from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from scimsvc import create_app
from scimsvc.config import CREATE_DATABASE
from scimsvc.logs import ACCESS_LOG_FORMAT, gunicorn_logconfig, log_to_stderr
from scimsvc.database.migrate import known_revisions, newer_schema_message, revision_status
from scimsvc.services import webhooks
from scimsvc.services.health import files_open_to_others

from .front import WaitressWorker
from .listener import gunicorn_hooks

log = logging.getLogger("scimsvc")


class _Server(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app (gunicorn does not preload), so no
        # database connection or engine crosses a fork.
        app = create_app()
        log_to_stderr(app.config["SCIMSVC_LOG_LEVEL"])
        _start_webhook_worker(app)
        _freeze_startup_objects()
        return app


def _start_webhook_worker(app) -> None:
    """Deliver webhooks from a thread of this worker process (SCIMSVC_WEBHOOK_WORKER=off: none).

    One per gunicorn worker, so a commit wakes the deliverer of its own process at
    once (services/webhooks.py); the workers of every server share the deliveries
    through claims, one worker at a time per webhook.
    """
    global _delivering
    if not app.config["SCIMSVC_WEBHOOK_WORKER"]:
        return
    settings = webhooks.DeliverySettings.from_config(app.config, app.instance_path)
    _delivering = webhooks.Worker(app, settings).start()


# This worker process's delivery thread, if it runs one.
_delivering: webhooks.Worker | None = None


def _stop_webhook_worker(_arbiter, _worker) -> None:
    """gunicorn's worker_exit hook: let the delivery thread record what it sent, then stop.

    Without it, a graceful stop (SIGTERM) could end the thread between a POST and its
    record, and the receiver would get that event again after the restart.
    """
    if _delivering is not None:
        _delivering.stop(timeout=_delivering.settings.timeout + 2)


def _freeze_startup_objects() -> None:
    """Keep the objects a worker holds for its whole life out of the cyclic GC's full collections.

    Full collections over the app's long-lived objects stalled random requests
    (docs/performance.md); frozen, they are never scanned again. Garbage is
    collected first so that none of it is frozen for the worker's lifetime.
    """
    gc.collect()
    gc.freeze()


def check_ready() -> tuple[str, str]:
    """Build the app once to check the configuration and database; return the log level
    and the metrics listener's address ("" for none).

    Raises ClickException when the database has not been initialised, so the
    server refuses to start instead of answering every request with a 500.
    """
    app = create_app()
    app.config[CREATE_DATABASE] = False
    with app.app_context():
        current, head = revision_status()
    if current is None:
        raise click.ClickException("The database is not initialised: run 'scimsvc init' first.")
    if current not in known_revisions():
        raise click.ClickException(newer_schema_message(current))
    if current != head:
        raise click.ClickException(f"The database schema is at revision {current}, this scimsvc "
                                   f"needs {head}: run 'scimsvc init' to upgrade it.")
    with app.app_context():
        exposed = files_open_to_others(app.instance_path)
    # JSON lines like everything serve writes after (the workers inherit this handler).
    log_to_stderr(app.config["SCIMSVC_LOG_LEVEL"])
    for path, mode in exposed:
        private = "700" if os.path.isdir(path) else "600"
        log.warning("%s is open to other users (mode %o); it holds or guards key and password "
                    "hashes: chmod %s %s", path, mode, private, path)
    return app.config["SCIMSVC_LOG_LEVEL"], app.config["SCIMSVC_METRICS_LISTEN"]


def start_google_scheduler() -> subprocess.Popen:
    """Start the process that runs the due Google Workspace syncs (``scimsvc google scheduler``).

    It is a process of its own, not a thread of gunicorn's master (which forks) nor of a
    worker (there are several): it ticks every min(SCIMSVC_GOOGLE_SYNC_INTERVAL, 30 s),
    syncs a connection when its last scheduled run is an interval old, and exits with
    the server. Servers sharing a database take turns through the connection's lease.
    """
    return subprocess.Popen([sys.executable, "-m", "cli.main", "google", "scheduler",
                             "--parent", str(os.getpid())], env=os.environ.copy())


def run(host: str, port: int, workers: int, access_log: bool = False,
        log_level: str = "INFO", metrics_listen: str = "") -> None:
    """Serve until SIGTERM or Ctrl-C; gunicorn then lets in-flight requests finish."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Each worker reads requests in an event loop and answers them with a thread pool
        # (cli/front.py): slow or idle clients hold sockets, never the workers.
        "worker_class": WaitressWorker,
        # The workers' heartbeat comes from their event loop: a worker silent this long is hung.
        "timeout": 60,
        "graceful_timeout": 10,
        "errorlog": "-",
        "loglevel": log_level.lower(),
        "logconfig_dict": gunicorn_logconfig(log_level),
        "access_log_format": ACCESS_LOG_FORMAT,
        "proc_name": "scimsvc",
        "worker_exit": _stop_webhook_worker,
    }
    if access_log:
        options["accesslog"] = "-"  # JSON lines on stderr too (logconfig_dict)
    if metrics_listen:
        options.update(gunicorn_hooks(metrics_listen))
    server = _Server(options)
    # Recent gunicorn releases open a control socket in the home folder; two
    # instances on one machine would fight over it, and scimsvc does not use it.
    if "control_socket_disable" in server.cfg.settings:
        server.cfg.set("control_socket_disable", True)
    scheduler = start_google_scheduler()
    try:
        server.run()
    finally:
        scheduler.terminate()
        try:
            scheduler.wait(timeout=10)
        except subprocess.TimeoutExpired:
            scheduler.kill()
