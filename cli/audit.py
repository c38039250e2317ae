"""``scimsvc audit``: read, export and prune the audit journal."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import click

from scimsvc.services import audit_log as audit
from scimsvc.services.audit_log import utcnow

from .context import State, pass_state
from .output import emit_json, json_option, note, table, when

# Exports at least this large draw a progress bar on stderr (when it is a terminal).
PROGRESS_THRESHOLD = 1000
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Since(click.ParamType):
    """A point in time: ISO 8601 (UTC unless it says otherwise) or an age like 30m, 12h, 7d, 2w."""

    name = "since"

    def convert(self, value: Any, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        relative = _RELATIVE.match(text.lower())
        if relative:
            amount, unit = relative.groups()
            return utcnow() - timedelta(**{_UNITS[unit]: int(amount)})
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(f"'{value}' is neither a date-time (2026-11-28T09:00) nor an age (30m, 12h, 7d).",
                      param, ctx)
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return moment


class StatusParam(click.ParamType):
    name = "status"

    def convert(self, value: Any, param, ctx) -> str:
        try:
            audit.parse_status(str(value))
        except ValueError:
            self.fail(f"'{value}' is not an HTTP status (409) or class (4xx).", param, ctx)
        return str(value).strip().lower()


def _filters(command: Callable) -> Callable:
    options = [
        click.option("--since", type=Since(), metavar="WHEN",
                     help="Only events at or after WHEN: 2026-11-28, 2026-11-28T09:00Z, or 30m/12h/7d/2w ago."),
        click.option("--user", metavar="USERNAME",
                     help="Only events about this user (userName in any case, or SCIM id)."),
        click.option("--key", metavar="NAME", help="Only requests made with this API key."),
        click.option("--op", "operation", type=click.Choice(audit.OPERATIONS),
                     help="Only this operation."),
        click.option("--status", type=StatusParam(), metavar="STATUS",
                     help="Only this outcome: a status (409) or a class (2xx, 4xx)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _refusals_option(command: Callable) -> Callable:
    return click.option(
        "--refusals", is_flag=True,
        help="Instead of the organization's events, the instance's refused requests that belong "
             "to no organization (no key, or a key that does not exist): one row per minute, "
             "client address and reason.")(command)


def _tenant(state: State, refusals: bool) -> int | None:
    return None if refusals else state.tenant_id


def _where(since, user, key, operation, status) -> audit.EventFilter:
    return audit.EventFilter(since=since, user=user, key=key, operation=operation, status=status)


@click.group("audit")
def audit_group() -> None:
    """The audit journal: every SCIM write, failure and refusal, with what it changed."""


@audit_group.command("list")
@_filters
@_refusals_option
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Show at most this many events (the newest).")
@json_option
@pass_state
def audit_list(state: State, since, user, key, operation, status, refusals: bool, limit: int,
               as_json: bool) -> None:
    """List journaled events, oldest first (the newest --limit of them).

    Refused requests are summarised: one row per minute, key, client address and
    reason, with the number of requests it stands for.
    """
    where = _where(since, user, key, operation, status)
    events = audit.list_events(_tenant(state, refusals), where, limit)
    if as_json:
        emit_json([audit.event_json(e) for e in events])
        return
    if refusals:
        table(["minute", "reason", "status", "requests", "client", "path", "user agent"],
              [(when(e.at), e.reason, e.status, e.repeats, e.client_address, e.path, e.user_agent)
               for e in events])
        return
    table(["time", "operation", "status", "user", "key", "changed", "request id"],
          [(when(e.at), e.operation, _outcome(e), e.target_user_name or e.target_user_id,
            e.api_key_name, ", ".join(e.changes or {}), e.request_id) for e in events])


def _outcome(entry) -> str:
    if entry.reason is not None:  # a refusal summary
        return f"{entry.status} {entry.reason} x{entry.repeats}"
    return f"{entry.status} {entry.scim_type}" if entry.scim_type else str(entry.status)


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True,
              help="Output format: one JSON event per line.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of stdout.")
@_filters
@_refusals_option
@pass_state
def audit_export(state: State, fmt: str, output, since, user, key, operation, status,
                 refusals: bool) -> None:
    """Export journaled events, oldest first, streaming them from the database.

    Events are read a batch at a time, so an export of any size runs in constant memory.
    """
    where = _where(since, user, key, operation, status)
    tenant = _tenant(state, refusals)
    total = audit.count_events(tenant, where)
    stream = click.open_file(output or "-", "w", encoding="utf-8")
    with stream:
        written = _write_events(stream, audit.iter_events(tenant, where), total)
    if output:
        note(f"Exported {written} event{'s' if written != 1 else ''} to {output}.")


def _write_events(stream, rows, total: int) -> int:
    written = 0
    if total < PROGRESS_THRESHOLD:
        for entry in rows:
            stream.write(_line(entry))
            written += 1
        return written
    with click.progressbar(length=total, label="Exporting audit events",
                           file=sys.stderr) as bar:
        for entry in rows:
            stream.write(_line(entry))
            written += 1
            bar.update(1)
    return written


def _line(entry) -> str:
    return json.dumps(audit.event_json(entry), ensure_ascii=False, separators=(",", ":")) + "\n"


@audit_group.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True, metavar="DAYS",
              help="Delete events older than DAYS days.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_refusals_option
@pass_state
def audit_prune(state: State, days: int, yes: bool, refusals: bool) -> None:
    """Delete the organization's events older than --older-than DAYS (asks first).

    Only this organization's: --refusals prunes the refusals that belong to none.
    """
    tenant = _tenant(state, refusals)
    count = audit.count_older(tenant, days)
    if count == 0:
        click.echo(f"No audit events older than {days} days.")
        return
    if not yes:
        click.confirm(f"Delete {count} audit event{'s' if count != 1 else ''} older than {days} days? "
                      "This cannot be undone.", abort=True)
    deleted = audit.prune_events(tenant, days)
    click.echo(f"Deleted {deleted} audit event{'s' if deleted != 1 else ''} older than {days} days.")
