"""``scimsvc events``: the change feed, for people."""
from __future__ import annotations

import click

from scimsvc.services import events

from .context import State, pass_state, writes
from .output import emit_json, json_option, table


@click.group("events", short_help="Read the change feed (user and access changes).")
def events_group() -> None:
    """The change events the product reads at /api/v1/events (or receives by webhook)."""


@events_group.command("list")
@click.option("--after", type=click.IntRange(0, events.MAX_SEQUENCE), default=0,
              metavar="SEQUENCE",
              help="Only events with a sequence above this one.")
@click.option("--type", "types", multiple=True, type=click.Choice(events.TYPES),
              help="Only events of this type (repeatable).")
@click.option("--limit", type=click.IntRange(1, events.MAX_LIMIT), default=events.DEFAULT_LIMIT,
              show_default=True, help="At most this many events.")
@json_option
@pass_state
def events_list(state: State, after: int, types: tuple[str, ...], limit: int,
                as_json: bool) -> None:
    """List events in sequence order, oldest first."""
    found = events.list_events(state.tenant_id, after, list(types), limit)
    if as_json:
        emit_json(found)
        return
    table(["sequence", "occurred", "type", "user", "source", "actor", "changes"],
          [(e["sequence"], e["occurredAt"], e["type"], e["user"]["userName"], e["source"],
            e["actor"], ",".join(e["changes"])) for e in found])


@events_group.command("purge")
@pass_state
@writes
def events_purge(state: State) -> None:
    """Delete the events older than SCIMSVC_EVENT_RETENTION_DAYS (the feed also does, hourly)."""
    days = state.ensure_app().config["SCIMSVC_EVENT_RETENTION_DAYS"]
    deleted = events.purge_expired(state.tenant_id, days)
    click.echo(f"{deleted} event(s) older than {days} days deleted.")
