"""``scimsvc webhook``: receivers of the change events, their deliveries, and the delivery worker."""
from __future__ import annotations

import signal
import threading
from typing import Any

import click

from scimsvc.services import webhooks
from scimsvc.services.health import readiness

from .context import State, pass_state, writes
from .output import emit_json, fields, json_option, listing, note, when


def _settings(state: State) -> webhooks.DeliverySettings:
    app = state.ensure_app()
    return webhooks.DeliverySettings.from_config(app.config, app.instance_path)


def _state_of(hook) -> str:
    return "enabled" if hook.enabled else "disabled"


def _events(hook) -> str:
    return ",".join(hook.event_types) if hook.event_types else "all"


def _hook_json(hook, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data = {"name": hook.name, "url": hook.url, "events": list(hook.event_types or []),
            "state": _state_of(hook), "disabledReason": hook.disabled_reason,
            "created": when(hook.created_at), "disabled": when(hook.disabled_at)}
    if counts is not None:
        data["deliveries"] = counts
    return data


@click.group("webhook", short_help="Send change events to HTTPS receivers, signed.")
def webhook() -> None:
    """Webhooks: POST each change event (user.created, user.disabled, ...) to a receiver,
    signed per Standard Webhooks, retried for up to 24 hours."""


@webhook.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--event", "event_types", multiple=True, metavar="TYPE",
              help=f"Deliver only this event type (repeatable; default: all). "
                   f"One of: {', '.join(webhooks.EVENT_TYPES)}, user.*.")
@click.option("--allow-http", is_flag=True,
              help="Accept an http:// URL that is not loopback (events then travel unencrypted).")
@json_option
@pass_state
@writes
def webhook_add(state: State, name: str, url: str, event_types: tuple[str, ...], allow_http: bool,
                as_json: bool) -> None:
    """Add a webhook and print its signing secret (whsec_..., shown only this once)."""
    app = state.ensure_app()
    webhooks.check_url(url, allow_http)  # before a key file is made for nothing
    webhooks.check_event_types(event_types)
    key = webhooks.signing_key(app.config, app.instance_path, create=True)
    hook, secret = webhooks.add_webhook(state.tenant_id, name, url, event_types, key=key,
                                        allow_http=allow_http)
    if as_json:
        emit_json({**_hook_json(hook), "secret": secret})
        return
    click.echo(secret)
    note(f"Webhook '{hook.name}' added: {_events(hook)} events to {hook.url}. Copy the signing "
         "secret now: the receiver verifies every delivery with it, and it is not shown again.")


@webhook.command("list")
@json_option
@pass_state
def webhook_list(state: State, as_json: bool) -> None:
    """List the webhooks with their pending and failed deliveries."""
    hooks = [(hook, webhooks.delivery_counts(hook)) for hook in webhooks.list_webhooks(state.tenant_id)]
    listing(as_json, hooks, lambda pair: _hook_json(*pair),
            ["name", "url", "events", "state", "pending", "failed"],
            lambda pair: (pair[0].name, pair[0].url, _events(pair[0]), _state_of(pair[0]),
                          pair[1]["pending"], pair[1]["failed"]))


@webhook.command("show")
@click.argument("name")
@json_option
@pass_state
def webhook_show(state: State, name: str, as_json: bool) -> None:
    """Show a webhook (never its secret)."""
    hook = webhooks.get_webhook(state.tenant_id, name)
    counts = webhooks.delivery_counts(hook)
    if as_json:
        emit_json(_hook_json(hook, counts))
        return
    fields([("name", hook.name), ("url", hook.url), ("events", _events(hook)),
            ("state", _state_of(hook)), ("disabled reason", hook.disabled_reason),
            ("created", when(hook.created_at)), ("pending", counts["pending"]),
            ("delivered", counts["delivered"]), ("failed", counts["failed"])])


@webhook.command("remove")
@click.argument("name")
@click.confirmation_option(prompt="The webhook and its deliveries are deleted; pending ones are "
                                  "never sent. Remove it?")
@pass_state
@writes
def webhook_remove(state: State, name: str) -> None:
    """Remove a webhook and its deliveries."""
    webhooks.remove_webhook(state.tenant_id, name)
    click.echo(f"Webhook '{name}' removed.")


@webhook.command("disable")
@click.argument("name")
@pass_state
@writes
def webhook_disable(state: State, name: str) -> None:
    """Stop sending to a webhook; events meanwhile are not queued for it."""
    webhooks.set_enabled(state.tenant_id, name, False)
    click.echo(f"Webhook '{name}' disabled.")


@webhook.command("enable")
@click.argument("name")
@pass_state
@writes
def webhook_enable(state: State, name: str) -> None:
    """Send to a webhook again (what was pending goes out; 'retry' resends what failed)."""
    webhooks.set_enabled(state.tenant_id, name, True)
    click.echo(f"Webhook '{name}' enabled.")


def _delivery_json(row) -> dict[str, Any]:
    return {"eventId": row.event_id, "type": row.event_type, "sequence": row.sequence,
            "status": row.status, "attempts": row.attempts, "created": when(row.created_at),
            "lastAttempt": when(row.last_attempt_at), "lastStatus": row.last_status,
            "lastError": row.last_error, "nextAttempt": when(row.next_attempt_at)
            if row.status == "pending" else None, "delivered": when(row.delivered_at)}


@webhook.command("deliveries")
@click.argument("name")
@click.option("--failed", "failed_only", is_flag=True, help="Only the deliveries given up on.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="Most deliveries to show, newest first.")
@json_option
@pass_state
def webhook_deliveries(state: State, name: str, failed_only: bool, limit: int,
                       as_json: bool) -> None:
    """Show a webhook's deliveries, newest first: state, attempts, the receiver's last answer."""
    rows = webhooks.deliveries(state.tenant_id, name, failed_only=failed_only, limit=limit)
    listing(as_json, rows, _delivery_json,
            ["event", "type", "sequence", "status", "attempts", "last status", "last attempt",
             "error"],
            lambda r: (r.event_id, r.event_type, r.sequence, r.status, r.attempts, r.last_status,
                       when(r.last_attempt_at), (r.last_error or "")[:60]))


@webhook.command("retry")
@click.argument("name")
@pass_state
@writes
def webhook_retry(state: State, name: str) -> None:
    """Send a webhook's failed deliveries again (for another retry period)."""
    settings = _settings(state)
    count = webhooks.retry_failed(state.tenant_id, name, settings.max_age)
    hook = webhooks.get_webhook(state.tenant_id, name)
    click.echo(f"{count} failed deliver{'y' if count == 1 else 'ies'} of webhook '{name}' "
               "queued again.")
    if not hook.enabled:
        note(f"Webhook '{name}' is disabled: they are sent once you run "
             f"'scimsvc webhook enable {name}'.")


@webhook.command("test")
@click.argument("name")
@pass_state
def webhook_test(state: State, name: str) -> None:
    """POST a signed webhook.test event to the receiver now and print its answer."""
    attempt = webhooks.send_test(state.tenant_id, name, _settings(state))
    if attempt.ok:
        click.echo(f"Delivered: the receiver answered {attempt.status} in "
                   f"{attempt.elapsed * 1000:.0f} ms.")
        return
    raise click.ClickException(f"Not delivered: {attempt.error}")


@webhook.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@pass_state
def webhook_worker(state: State, once: bool) -> None:
    """Deliver webhooks until SIGTERM or Ctrl-C ('scimsvc serve' also delivers, unless
    SCIMSVC_WEBHOOK_WORKER=off); any number may run: each delivery is claimed by one."""
    # Before the loop: the worker's passes log and carry on when the database fails (it may
    # come back), so a missing or uninitialised one would loop forever instead of refusing.
    with state.ensure_app().app_context():
        problem = readiness()  # a missing SQLite file raises DatabaseMissing: one line too
    if problem is not None:
        raise click.ClickException(problem)
    settings = _settings(state)
    if once:
        total = 0
        while True:
            sent = webhooks.deliver_due(settings)
            if not sent:
                break
            total += sent
        click.echo(f"{total} deliver{'y' if total == 1 else 'ies'} attempted.")
        return
    worker = webhooks.Worker(state.ensure_app(), settings)
    done = threading.Event()

    def stop(_signum, _frame) -> None:
        done.set()
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    note("Delivering webhooks (Ctrl-C stops).")
    worker.start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    worker.stop(timeout=10)


__all__ = ["webhook"]
