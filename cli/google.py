"""``scimsvc google``: connect a Google Workspace, sync its users, see the last run, disconnect."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import uuid

import click

from scimsvc.logs import log_to_stderr
from scimsvc.scim.resource import Limits
from scimsvc.services.sources import google

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, note, when

logger = logging.getLogger("scimsvc.google")


def settings_of(state: State) -> google.Settings:
    config = state.ensure_app().config
    return google.Settings(
        api_url=config["SCIMSVC_GOOGLE_API_URL"], timeout=float(config["SCIMSVC_GOOGLE_TIMEOUT"]),
        max_removals=config.get("SCIMSVC_GOOGLE_MAX_REMOVALS"),
        limits=Limits(int(config.get("SCIMSVC_MAX_MULTI_VALUES", 1000)),
                      int(config.get("SCIMSVC_MAX_STRING_LENGTH", 1024))),
        interval=float(config["SCIMSVC_GOOGLE_SYNC_INTERVAL"]))


@click.group("google", short_help="Provision users from Google Workspace (a Directory API sync).")
def google_group() -> None:
    """Provision the organization's users from Google Workspace: scimsvc reads Google's Admin SDK
    Directory API with a service account (docs/idp/google-workspace.md)."""


@google_group.command("connect")
@click.option("--credentials", "credentials", required=True, metavar="FILE",
              help="The service account's JSON key file (kept where it is; must be chmod 600).")
@click.option("--admin", "admin", required=True, metavar="ADMIN_EMAIL",
              help="The Workspace admin the service account acts as (domain-wide delegation).")
@click.option("--customer", metavar="ID", help="Customer ID (default: the admin's, my_customer).")
@click.option("--domain", metavar="D", help="Sync only the users of this domain.")
@click.option("--org-unit", "org_units", multiple=True, metavar="PATH",
              help="Sync only this org unit and those under it (repeatable), e.g. /Sales.")
@click.option("--group", "groups", multiple=True, metavar="EMAIL",
              help="Sync only the members of this group (repeatable; needs the group scope).")
@click.option("--name", default=google.DEFAULT_NAME, show_default=True,
              help="The connection's name: its users have source google:NAME.")
@json_option
@pass_state
def google_connect(state: State, credentials: str, admin: str, customer: str | None,
                   domain: str | None, org_units: tuple[str, ...], groups: tuple[str, ...],
                   name: str, as_json: bool) -> None:
    """Check the credentials with one request to Google, then record the connection."""
    connection, found = google.connect(
        state.tenant_id, credentials, admin, customer=customer, domain=domain, org_units=org_units,
        groups=groups, name=name, settings=settings_of(state))
    if as_json:
        emit_json(_connection_json(connection))
        return
    click.echo(f"Connected to Google Workspace as {connection.admin_email} "
               f"({'users found' if found else 'no users in scope yet'}); users will have source "
               f"{connection.source}. Run 'scimsvc google sync --dry-run' to see what a sync would do.")


@google_group.command("sync")
@click.option("--dry-run", is_flag=True, help="Read Google and report what would change; write nothing.")
@click.option("--force", is_flag=True,
              help="Apply even when more users would be disabled or removed than "
                   "SCIMSVC_GOOGLE_MAX_REMOVALS allows (this run only).")
@json_option
@pass_state
def google_sync(state: State, dry_run: bool, force: bool, as_json: bool) -> None:
    """Run one reconciliation now and print what it created, updated, disabled, removed,
    restored and left unchanged."""
    bar = _Progress(enabled=not as_json and sys.stderr.isatty())
    try:
        result = google.sync(state.tenant_id, dry_run=dry_run, force=force,
                             settings=settings_of(state), progress=bar.update)
    finally:
        bar.close()
    if as_json:
        emit_json(result.as_dict())
        return
    verb = "would be" if dry_run else "were"
    click.echo(f"Google sync {'(dry run) ' if dry_run else ''}of {result.source} in "
               f"{result.seconds:.1f} s:")
    fields([(name, result.counts[name]) for name in google.COUNTS])
    for error in result.errors:
        note(f"clash: {error}" if "already has this userName" in error else error)
    if dry_run and result.status == "stopped":
        note("Nothing was written; a real sync would stop before writing (above), and with "
             "--force it would make the changes counted above.")
    elif dry_run:
        note(f"Nothing was written; the users counted above {verb} changed by a real sync.")


@google_group.command("status")
@json_option
@pass_state
def google_status(state: State, as_json: bool) -> None:
    """Show the connection and its last run: when, how it ended, its counts and errors."""
    found = google.status(state.tenant_id)
    run = found.last_run
    data = {**_connection_json(found.connection), "users": found.users,
            "lastRun": None if run is None else {
                "id": run.id, "trigger": run.trigger, "status": run.status,
                "startedAt": when(run.started_at), "finishedAt": when(run.finished_at),
                "counts": run.counts, "errors": run.errors}}
    if as_json:
        emit_json(data)
        return
    fields([("source", data["source"]), ("admin", data["admin"]), ("credentials", data["credentials"]),
            ("customer", data["customer"]), ("domain", data["domain"]),
            ("org units", ", ".join(data["orgUnits"])), ("groups", ", ".join(data["groups"])),
            ("users", found.users),
            ("last run", "never" if run is None else
             f"{run.status} ({run.trigger}), started {when(run.started_at)}, finished "
             f"{when(run.finished_at) or '-'}"),
            ("counts", "-" if run is None or not run.counts else
             ", ".join(f"{v} {k}" for k, v in run.counts.items()))])
    for error in (run.errors if run else []):
        click.echo(f"  {error}")


@google_group.command("disconnect")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@writes
def google_disconnect(state: State, yes: bool) -> None:
    """Forget the connection (the users it provisioned stay, and stop being synced)."""
    connection = google.get_connection(state.tenant_id)
    if not yes:
        click.confirm(f"Disconnect {connection.source}? Its users stay as they are.", abort=True)
    google.disconnect(state.tenant_id)
    click.echo(f"Disconnected {connection.source}; its users stay as they are.")


@google_group.command("scheduler", hidden=True)
@click.option("--parent", type=int, default=None, help="Exit when this process is gone.")
@click.option("--once", is_flag=True, help="One tick, then exit.")
@pass_state
def google_scheduler(state: State, parent: int | None, once: bool) -> None:
    """What 'scimsvc serve' runs beside the server: the due syncs, every tick."""
    settings = settings_of(state)
    log_to_stderr(state.ensure_app().config["SCIMSVC_LOG_LEVEL"])
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    # SIGTERM (the server stopping) ends a running sync as a failed run and frees its lease.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tick = min(settings.interval, 30.0)

    while True:
        try:
            google.run_due(settings, holder)
        except Exception:  # noqa: BLE001 - a bad tick must not stop the next one
            logger.exception("google sync tick failed")
        if once:
            return
        deadline = time.monotonic() + tick
        while time.monotonic() < deadline:
            if parent is not None and os.getppid() != parent:
                return
            time.sleep(min(0.5, tick))


def _connection_json(connection) -> dict:
    return {"name": connection.name, "source": connection.source, "admin": connection.admin_email,
            "credentials": connection.credentials_path, "customer": connection.customer,
            "domain": connection.domain, "orgUnits": list(connection.org_units),
            "groups": list(connection.groups)}


class _Progress:
    """A progress bar on stderr (a terminal only): pages read, then users written."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.shown = 0

    def update(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase == "read":
            click.echo(f"\rReading Google: {done} users", nl=False, err=True)
            return
        if self.bar is None:
            click.echo("", err=True)
            self.bar = click.progressbar(length=max(total, 1), label="Writing", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(max(0, done - self.shown))
        self.shown = max(self.shown, done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        elif self.enabled:
            click.echo("", err=True)
