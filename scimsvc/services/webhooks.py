"""Webhooks: receivers of the change events, signed per Standard Webhooks, delivered at least once.

A change calls ``enqueue`` inside its write transaction: one delivery row per
enabled webhook of the organization that wants the event's type, holding the
exact body to POST. If the change rolls back, so do its deliveries; once it
commits, a worker (``Worker``: a thread in each ``scimsvc serve`` worker process,
or ``scimsvc webhook worker`` alone) sends them. Nothing else is needed to
deliver: the payload is in the row, the secret in the webhook's row.

Signing (https://www.standardwebhooks.com): the headers ``webhook-id`` (the
event id, the same on every attempt, so receivers can drop duplicates),
``webhook-timestamp`` (seconds, of this attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the base64-decoded
part of the ``whsec_`` secret.

The signing secret is shown once, when the webhook is added, and stored
encrypted (Fernet: AES-128-CBC with HMAC-SHA256) with the instance's webhook
key: ``SCIMSVC_WEBHOOK_KEY`` if set, else the file ``webhook.key`` in the
instance folder (0600, made by the first ``webhook add``). A worker started
before that file existed reads it when a secret cannot be decrypted with the
key it has (none yet, or one replaced since), so the order of ``serve`` and
``webhook add`` does not matter. A copy of the
database (a backup, a replica, a read-only SQL user) cannot sign deliveries; the
servers that deliver need the key, so several servers share it (the same
setting or file on each).

Attempts: a 2xx delivers; a 410 marks the delivery failed and disables the
webhook (the receiver said it is gone); anything else (another status, a
refused connection, no answer within the timeout, 5 s by default) is retried
with exponential backoff and jitter until the delivery is older than
``max_age`` (24 h by default), then marked failed. Redirects are not followed.
One worker at a time sends a webhook's deliveries, lowest sequence first; when
an attempt fails, that webhook's later deliveries wait (at most a minute) so a
receiver that is down is not hammered, and mostly get its events in order.
Every event carries its organization-wide ``sequence``: a receiver keeps, per
user, the highest it has applied and ignores older ones.
"""
from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import importlib.metadata
import ipaddress
import json
import logging
import os
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import groupby
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import event as orm_event
from sqlalchemy import select

from ..database.transactions import write_transaction
from ..errors import Conflict, InvalidValue, NotFound
from ..extensions import db
from ..models import Organization, Webhook, utcnow
from ..store import webhooks as store
from .names import clean_name

log = logging.getLogger(__name__)

# The event types a webhook can ask for (issue 11 §4); ``user.*`` asks for all of them.
EVENT_TYPES = ("user.created", "user.updated", "user.disabled", "user.enabled", "user.removed",
               "user.restored", "user.access_changed")
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
KEY_FILE = "webhook.key"
STATUSES = (store.PENDING, store.DELIVERED, store.FAILED)
# Of the receiver's answer, what is kept in last_error (its start), and read at all.
_ERROR_CHARS = 300
_READ_BYTES = 4096
# A failed attempt holds back the webhook's later deliveries for at most this long.
_HOLD_BACK = timedelta(seconds=60)


# --- settings ----------------------------------------------------------------------

@dataclass
class DeliverySettings:
    """How deliveries are made; ``from_config`` reads them from the app's settings.

    ``key`` alone changes, when a secret cannot be decrypted and the key is read again.
    """

    key: bytes | None = None          # the Fernet key the secrets are encrypted with
    timeout: float = 5.0              # seconds to connect and get the answer
    max_age: timedelta = timedelta(hours=24)
    retry_base: float = 5.0           # seconds before the first retry; doubled each time
    retry_cap: float = 3600.0         # longest wait between two attempts
    lease: timedelta = timedelta(seconds=60)
    poll: float = 0.5                 # seconds between looks at the table when nothing wakes us
    gather: float = 0.05              # seconds a woken worker waits for more events to send at once
    busy_gather: float = 0.25         # the same, while events keep coming (fewer, larger claims)
    batch: int = 50                   # deliveries of one webhook per claim
    webhooks_per_claim: int = 8
    # Where the key came from, (config, instance_path): read again when a secret cannot be
    # decrypted with ``key`` (the key file was made, or replaced, after this was built).
    key_source: tuple[Mapping[str, Any], str] | None = field(default=None, compare=False,
                                                              repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance_path: str) -> "DeliverySettings":
        return cls(
            key=signing_key(config, instance_path, create=False),
            key_source=(config, instance_path),
            timeout=float(config["SCIMSVC_WEBHOOK_TIMEOUT"]),
            max_age=timedelta(hours=float(config["SCIMSVC_WEBHOOK_MAX_AGE_HOURS"])),
            retry_base=float(config["SCIMSVC_WEBHOOK_RETRY_SECONDS"]),
            lease=timedelta(seconds=float(config["SCIMSVC_WEBHOOK_LEASE_SECONDS"])),
            poll=float(config["SCIMSVC_WEBHOOK_POLL_SECONDS"]),
        )


def _reread_key(settings: DeliverySettings) -> bool:
    """Read the key again from ``settings.key_source`` into ``settings``; tell whether it
    changed (not when there is no source, no key yet, or what is there is not a key: logged,
    the old key is kept)."""
    if settings.key_source is None:
        return False
    config, instance_path = settings.key_source
    try:
        key = signing_key(config, instance_path, create=False)
    except InvalidValue as error:
        log.error("the webhook key cannot be read: %s", error)
        return False
    if key is None or key == settings.key:
        return False
    if settings.key is None:
        log.info("webhook key found: deliveries can be signed")
    else:
        log.warning("the webhook key changed: deliveries are signed with the new one")
    settings.key = key
    return True


def signing_key(config: Mapping[str, Any], instance_path: str, *, create: bool) -> bytes | None:
    """The instance's webhook key: the setting, else the key file (made if ``create``).

    Raises InvalidValue when the setting or the file does not hold a Fernet key.
    """
    configured = config.get("SCIMSVC_WEBHOOK_KEY")
    if configured:
        return _checked_key(str(configured).encode(), "SCIMSVC_WEBHOOK_KEY")
    path = os.path.join(instance_path, KEY_FILE)
    try:
        with open(path, "rb") as handle:
            return _checked_key(handle.read().strip(), path)
    except FileNotFoundError:
        if not create:
            return None
    os.makedirs(instance_path, mode=0o700, exist_ok=True)
    key = Fernet.generate_key()
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return signing_key(config, instance_path, create=False)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    log.info("created the webhook key %s", path)
    return key


def _checked_key(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise InvalidValue(f"{where} does not hold a webhook key (32 url-safe base64 bytes, "
                           "as Fernet.generate_key() makes).") from None
    return key


# --- signing ---------------------------------------------------------------------

def new_secret() -> str:
    """A signing secret in Standard Webhooks form: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _encrypt(key: bytes, secret: str) -> str:
    return Fernet(key).encrypt(secret.encode()).decode()


def _secret(settings: DeliverySettings, stored: str) -> str | None:
    """The signing secret ``stored`` encrypted, decrypted with the key of ``settings``,
    read again once if that fails (a key file made or replaced since); None if still not."""
    secret = _decrypt(settings.key, stored)
    if secret is None and _reread_key(settings):
        secret = _decrypt(settings.key, stored)
    return secret


def _no_key_error(settings: DeliverySettings) -> str:
    if settings.key is None:
        return _NO_KEY_AT_ALL
    return _NO_KEY


def _decrypt(key: bytes | None, stored: str) -> str | None:
    if key is None:
        return None
    try:
        return Fernet(key).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


# --- what a change does: enqueue --------------------------------------------------

_enqueued: contextvars.ContextVar[bool] = contextvars.ContextVar("scimsvc_webhooks_enqueued",
                                                                 default=False)
# Set when a transaction that enqueued deliveries commits: wakes this process's workers.
_wake = threading.Event()


def wants(event_types: Iterable[str] | None, event_type: str) -> bool:
    """Tell whether a webhook asking for ``event_types`` (empty: all) gets ``event_type``."""
    types = list(event_types or ())
    if not types:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return event_type in types or family in types


def enqueue(connection: Any, tenant_id: int, event: dict[str, Any]) -> None:
    """Add, in the caller's write transaction, a delivery of ``event`` to each enabled
    webhook of the organization that wants its type.

    ``event`` is the public event (``id``, ``sequence``, ``type``, ...); it is stored
    serialized, as the exact body every attempt sends.
    """
    hooks = store.enabled_webhooks(connection, tenant_id)
    targets = [hook.id for hook in hooks if wants(hook.event_types, event["type"])]
    if not targets:
        return
    store.insert_deliveries(connection, _rows(targets, tenant_id, event, utcnow()))
    _enqueued.set(True)


def _rows(webhook_ids: Iterable[int], tenant_id: int, event: Mapping[str, Any],
          now: datetime) -> list[dict[str, Any]]:
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)
    return [{"webhook_id": webhook_id, "tenant_id": tenant_id, "event_id": str(event["id"]),
             "event_type": str(event["type"]), "sequence": int(event.get("sequence") or 0),
             "payload": payload, "status": store.PENDING, "attempts": 0, "created_at": now,
             "next_attempt_at": now, "expires_at": None, "last_attempt_at": None,
             "last_status": None, "last_error": None, "delivered_at": None,
             "claimed_until": None, "claim_token": None}
            for webhook_id in webhook_ids]


@orm_event.listens_for(db.session, "after_commit")
def _wake_after_commit(_session) -> None:
    if _enqueued.get():
        _enqueued.set(False)
        _wake.set()


@orm_event.listens_for(db.session, "after_rollback")
def _forget_after_rollback(_session) -> None:
    if _enqueued.get():
        _enqueued.set(False)


def wake() -> None:
    """Make this process's workers look for due deliveries now."""
    _wake.set()


# --- admin -------------------------------------------------------------------------

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_http: bool = False) -> str:
    """Return ``url`` if a webhook may POST to it; raise InvalidValue saying why not.

    HTTPS only, except to a loopback address or with ``allow_http``; no user:password
    part (it would be shown by every ``webhook list``).
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise InvalidValue(f"'{url}' is not a URL.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidValue(f"'{url}' is not an http(s) URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise InvalidValue("A webhook URL cannot hold a user or password: the receiver checks "
                           "the signature instead.")
    if parts.fragment:
        raise InvalidValue("A webhook URL has no #fragment.")
    if parts.scheme == "http" and not (allow_http or _is_loopback(host)):
        raise InvalidValue(f"'{url}' is not HTTPS: events would travel unencrypted. Use an "
                           "https:// URL, or --allow-http for a receiver on a trusted network.")
    if len(url) > 2000:
        raise InvalidValue("A webhook URL is at most 2000 characters.")
    return url


def check_event_types(event_types: Iterable[str]) -> list[str]:
    """Return the distinct types asked for, in order; raise InvalidValue for an unknown one."""
    chosen = list(dict.fromkeys(t.strip() for t in event_types))
    known = set(EVENT_TYPES) | {"user.*"}
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InvalidValue(f"Unknown event type {', '.join(repr(t) for t in unknown)}: choose "
                           f"from {', '.join(EVENT_TYPES)} (or user.* for all).")
    return chosen


def add_webhook(tenant_id: int, name: str, url: str, event_types: Iterable[str], *,
                key: bytes, allow_http: bool = False) -> tuple[Webhook, str]:
    """Create a webhook; return it with its signing secret (the only time it is seen).

    Raises InvalidValue for a bad name, URL or event type, Conflict for a taken name.
    """
    name = clean_name(name, "A webhook")
    url = check_url(url, allow_http)
    types = check_event_types(event_types)
    secret = new_secret()
    with write_transaction():
        if _find(tenant_id, name) is not None:
            raise Conflict(f"Webhook '{name}' already exists.")
        hook = Webhook(tenant_id=tenant_id, name=name, url=url, event_types=types,
                       secret=_encrypt(key, secret), enabled=True, created_at=utcnow())
        db.session.add(hook)
    log.info("webhook %s added for organization %s: %s", name, tenant_id, url)
    return hook, secret


def _find(tenant_id: int, name: str) -> Webhook | None:
    return db.session.scalar(select(Webhook).where(Webhook.tenant_id == tenant_id,
                                                   Webhook.name == name))


def get_webhook(tenant_id: int, name: str) -> Webhook:
    """The tenant's webhook ``name``; raises NotFound."""
    hook = _find(tenant_id, name)
    if hook is None:
        raise NotFound(f"No webhook '{name}'.")
    return hook


def list_webhooks(tenant_id: int) -> list[Webhook]:
    return list(db.session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id)
                                   .order_by(Webhook.name)))


def delivery_counts(webhook: Webhook) -> dict[str, int]:
    """How many of the webhook's deliveries are pending, delivered and failed."""
    counts = store.delivery_counts(db.session.connection(), webhook.id)
    return {status: counts.get(status, 0) for status in STATUSES}


def backlog() -> list[tuple[str, str, int, int, datetime | None]]:
    """Every organization's webhooks with their undelivered deliveries, for the metrics listener
    (instance-level): (organization slug, webhook name, pending, failed, created_at of the
    oldest pending delivery in UTC, aware, or None)."""
    counts = {(webhook_id, status): (count, oldest) for webhook_id, status, count, oldest
              in store.backlog(db.session.connection())}
    hooks = db.session.execute(
        select(Webhook.id, Organization.slug, Webhook.name)
        .join(Organization, Organization.id == Webhook.tenant_id)
        .order_by(Organization.slug, Webhook.name)).all()
    rows = []
    for webhook_id, slug, name in hooks:
        pending, oldest = counts.get((webhook_id, store.PENDING), (0, None))
        failed, _ = counts.get((webhook_id, store.FAILED), (0, None))
        rows.append((slug, name, pending, failed,
                     oldest.replace(tzinfo=timezone.utc) if oldest is not None else None))
    return rows


def remove_webhook(tenant_id: int, name: str) -> None:
    """Delete a webhook and its deliveries (pending ones are never sent)."""
    with write_transaction() as connection:
        hook = get_webhook(tenant_id, name)
        store.delete_deliveries(connection, hook.id)
        db.session.delete(hook)
    log.info("webhook %s of organization %s removed", name, tenant_id)


def set_enabled(tenant_id: int, name: str, enabled: bool) -> Webhook:
    """Enable or disable a webhook. A disabled one gets no new deliveries and sends none;
    enabling it sends what was pending (retry sends what failed)."""
    with write_transaction():
        hook = get_webhook(tenant_id, name)
        hook.enabled = enabled
        hook.disabled_reason = None if enabled else "disabled with 'scimsvc webhook disable'"
        hook.disabled_at = None if enabled else utcnow()
    if enabled:
        wake()
    return hook


def deliveries(tenant_id: int, name: str, *, failed_only: bool = False,
               limit: int = 50) -> list[Any]:
    """The webhook's deliveries, newest first."""
    hook = get_webhook(tenant_id, name)
    return store.list_deliveries(db.session.connection(), hook.id,
                                 status=store.FAILED if failed_only else None, limit=limit)


def retry_failed(tenant_id: int, name: str, max_age: timedelta) -> int:
    """Send the webhook's failed deliveries again, from now, for another ``max_age``."""
    now = utcnow()
    with write_transaction() as connection:
        hook = get_webhook(tenant_id, name)
        count = store.retry_failed(connection, hook.id, now, now + max_age)
    wake()
    return count


@dataclass(frozen=True)
class Attempt:
    """How one POST went: the receiver's status (None: no answer) and what went wrong."""

    status: int | None
    error: str | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send_test(tenant_id: int, name: str, settings: DeliverySettings) -> Attempt:
    """POST a signed ``webhook.test`` event to the webhook now (enabled or not) and record it."""
    hook = get_webhook(tenant_id, name)
    secret = _secret(settings, hook.secret)
    org = db.session.get(Organization, tenant_id)
    event = {"id": f"evt_{uuid.uuid4().hex}", "sequence": 0, "type": TEST_EVENT,
             "occurredAt": _iso(utcnow()), "organization": org.slug if org else None,
             "source": "cli", "actor": "cli", "requestId": None, "changes": {}, "user": None}
    row = _rows([hook.id], tenant_id, event, utcnow())[0]
    url = hook.url
    db.session.rollback()  # no transaction (nor SQLite lock) stays open while the receiver answers
    if secret is None:
        attempt = Attempt(None, _no_key_error(settings), 0.0)
    else:
        attempt = post(url, secret, row["event_id"], row["payload"], settings.timeout)
    now = utcnow()
    row.update(status=store.DELIVERED if attempt.ok else store.FAILED, attempts=1,
               last_attempt_at=now, last_status=attempt.status, last_error=attempt.error,
               delivered_at=now if attempt.ok else None)
    with write_transaction() as connection:
        store.insert_deliveries(connection, [row])
    return attempt


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds") + "Z"


# --- delivery ---------------------------------------------------------------------

def _user_agent() -> str:
    try:
        return f"scimsvc-webhooks/{importlib.metadata.version('scimsvc')}"
    except importlib.metadata.PackageNotFoundError:
        return "scimsvc-webhooks"


USER_AGENT = _user_agent()
_NO_KEY = ("the signing secret cannot be decrypted: this server's webhook key "
           "(SCIMSVC_WEBHOOK_KEY or instance/webhook.key) is not the one it was stored with")
_NO_KEY_AT_ALL = ("the signing secret cannot be decrypted: this server has no webhook key "
                  "(neither SCIMSVC_WEBHOOK_KEY nor instance/webhook.key, which the first "
                  "`scimsvc webhook add` makes)")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is the answer, not a new request
        return None


_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
_proxied = urllib.request.build_opener(_NoRedirect())


def post(url: str, secret: str, message_id: str, body: str, timeout: float) -> Attempt:
    """POST ``body`` to ``url``, signed with ``secret``; never raises for the receiver's faults."""
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    })
    opener = _direct if _is_loopback(urlsplit(url).hostname or "") else _proxied
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(_READ_BYTES)
            status, error = response.status, None
    except urllib.error.HTTPError as answer:
        status = answer.code
        text = answer.read(_READ_BYTES).decode("utf-8", "replace").strip()
        error = f"HTTP {status}" + (f": {text[:_ERROR_CHARS]}" if text else "")
        answer.close()
    except (urllib.error.URLError, OSError, ValueError) as failure:
        reason = getattr(failure, "reason", failure)
        status, error = None, (str(reason) or type(reason).__name__)[:_ERROR_CHARS]
    return Attempt(status, error, time.monotonic() - started)


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped,
    with jitter (between half and all of it) so receivers coming back are not stampeded."""
    delay = min(settings.retry_cap, settings.retry_base * 2 ** max(attempts - 1, 0))
    return delay * random.uniform(0.5, 1.0)


def deliver_due(settings: DeliverySettings, stop: threading.Event | None = None) -> int:
    """Claim due deliveries, send them, record how each went; return how many were attempted.

    Call inside an app context. Safe to run in any number of threads, processes
    and servers at once: a webhook's deliveries are claimed by one of them at a time.
    Once ``stop`` is set, nothing more is sent: what was sent is recorded, the rest
    given back.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    with db.engine.connect() as reader:  # no write lock for a pass that finds nothing to take
        if not store.anything_claimable(reader, now):
            return 0
    with write_transaction() as connection:
        claimed = store.claim(connection, now, now + settings.lease, token,
                              webhooks=settings.webhooks_per_claim, batch=settings.batch)
    attempted = 0
    started = time.monotonic()
    for webhook_id, group in groupby(claimed, key=lambda row: row.webhook_id):
        attempted += _deliver_group(webhook_id, list(group), token, settings, started, stop)
    return attempted


def _deliver_group(webhook_id: int, rows: list[Any], token: str, settings: DeliverySettings,
                   started: float, stop: threading.Event | None) -> int:
    outcomes: list[tuple[Any, Attempt]] = []
    secret = _secret(settings, rows[0].secret)
    for row in rows:
        if time.monotonic() - started > settings.lease.total_seconds() / 2:
            break  # record what was sent well before the claim lapses; the rest is claimed again
        if stop is not None and stop.is_set():
            break
        if secret is None:
            attempt = Attempt(None, _no_key_error(settings), 0.0)
        else:
            attempt = post(row.url, secret, row.event_id, row.payload, settings.timeout)
        outcomes.append((row, attempt))
        if not attempt.ok:
            break
    unsent = [row.id for row in rows[len(outcomes):]]
    now = utcnow()
    hold_until = None
    with write_transaction() as connection:
        for row, attempt in outcomes:
            if attempt.ok:
                store.mark_delivered(connection, row.id, now, attempt.status)
                continue
            if attempt.status == 410:
                store.mark_attempt_failed(connection, row.id, token, now, status=410,
                                          error=attempt.error, retry_at=None)
                store.disable_webhook(connection, webhook_id,
                                      f"the receiver answered 410 Gone on {_iso(now)}", now)
                log.warning("webhook %s disabled: its receiver answered 410 Gone", row.name)
                continue
            deadline = row.expires_at or row.created_at + settings.max_age
            retry_at = now + timedelta(seconds=backoff(row.attempts + 1, settings))
            give_up = now >= deadline
            store.mark_attempt_failed(connection, row.id, token, now, status=attempt.status,
                                      error=attempt.error,
                                      retry_at=None if give_up else min(retry_at, deadline))
            hold_until = None if give_up else min(retry_at, now + _HOLD_BACK)
            log.info("webhook %s: delivery of %s failed (attempt %d): %s%s", row.name,
                     row.event_id, row.attempts + 1, attempt.error,
                     "; giving up" if give_up else "")
        store.release(connection, unsent, token, hold_until)
    return len(outcomes)


def next_due_in(settings: DeliverySettings) -> float:
    """Seconds until a pending delivery falls due, at most ``settings.poll``."""
    now = utcnow()
    with db.engine.connect() as connection:
        due = store.next_due_at(connection, now)
    if due is None:
        return settings.poll
    return max(0.001, min(settings.poll, (due - now).total_seconds()))


class Worker:
    """Delivers in a loop until stopped: woken by this process's commits, polling otherwise.

    ``app`` is the Flask app whose database it serves (each pass runs in an app context).
    """

    def __init__(self, app: Any, settings: DeliverySettings):
        self.app = app
        self.settings = settings
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        """Deliver until ``stop()``; errors are logged and the loop goes on."""
        while not self.stopping.is_set():
            _wake.clear()
            try:
                with self.app.app_context():
                    sent = deliver_due(self.settings, self.stopping)
                    wait = 0.0 if sent else next_due_in(self.settings)
            except Exception:  # the database went away, a bug: keep the worker alive
                log.exception("webhook delivery pass failed")
                sent, wait = 0, max(self.settings.poll, 1.0)
            if 0 < sent < self.settings.batch:
                # Busy: let the next events gather, so that one claim and one record (each a
                # write transaction, with its fsync on SQLite) take many of them.
                self.stopping.wait(self.settings.busy_gather)
            elif wait > 0 and _wake.wait(wait):
                self.stopping.wait(self.settings.gather)  # woken by a commit: its burst, at once

    def start(self) -> "Worker":
        """Run in a daemon thread (it dies with the process; its claims lapse and are retaken)."""
        self.thread = threading.Thread(target=self.run, name="scimsvc-webhooks", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.stopping.set()
        _wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


__all__ = ["EVENT_TYPES", "TEST_EVENT", "DeliverySettings", "signing_key", "new_secret",
           "signature", "wants", "enqueue", "wake", "check_url", "check_event_types",
           "add_webhook", "get_webhook", "list_webhooks", "delivery_counts", "backlog", "remove_webhook",
           "set_enabled", "deliveries", "retry_failed", "send_test", "Attempt", "post",
           "backoff", "deliver_due", "next_due_in", "Worker"]
