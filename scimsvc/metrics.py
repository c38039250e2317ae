"""Prometheus metrics (prometheus-client): what every layer counts, and how they are exposed.

Every metric here has labels, so its values are created when first used; under
``scimsvc serve`` that is in a gunicorn worker, after ``enable_multiprocess``
pointed prometheus-client at a folder the workers share (its multiprocess
mode), and the listener in the gunicorn master adds the workers' files up.
Without a listener (SCIMSVC_METRICS_LISTEN unset) the values stay in process
memory and nobody reads them: counting costs a dictionary lookup.

docs/operations.md lists every metric and the alerts worth having.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LOCK_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "scimsvc_http_requests_total", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"])
LATENCY = Histogram(
    "scimsvc_http_request_duration_seconds", "Time to answer an HTTP request, by route and method.",
    ["route", "method"], buckets=_LATENCY_BUCKETS)
OPERATIONS = Counter(
    "scimsvc_scim_operations_total",
    "SCIM operations (create, replace, patch, remove, read, list, search, their group_ "
    "counterparts but search, discovery, other) by "
    "outcome: success, refused (no valid key, rate limited), client_error (other 4xx), server_error.",
    ["operation", "outcome"])
REFUSALS = Counter(
    "scimsvc_refusals_total",
    "Requests refused before they could act, by reason: no_key, malformed, unknown, revoked, "
    "expired, forbidden, rate_limited.",
    ["reason"])
FRONT_REFUSALS = Counter(
    "scimsvc_http_front_refusals_total",
    "Requests refused by scimsvc serve's HTTP front before the app saw them, by status: 400 "
    "(unreadable), 408 (not read in time), 413 (body too large), 431 (head too large), 501.",
    ["status"])
LOCK_WAIT = Histogram(
    "scimsvc_db_write_lock_wait_seconds",
    "Time a write transaction waited for the database's write lock (SQLite: BEGIN IMMEDIATE).",
    ["database"], buckets=_LOCK_BUCKETS)
WRITE_TRANSACTIONS = Histogram(
    "scimsvc_db_write_transaction_seconds",
    "Duration of write transactions, waits for locks included.",
    ["database"], buckets=_LOCK_BUCKETS)
LOCK_TIMEOUTS = Counter(
    "scimsvc_db_lock_timeouts_total",
    "Write transactions that did not get their lock in time (answered 503 with Retry-After).",
    ["database"])
LAST_SUCCESS = Gauge(
    "scimsvc_api_key_last_success_timestamp_seconds",
    "Unix time of the last successful SCIM request of each API key (organization id, key name); "
    "the listener serves it per organization slug, for active keys (KeysCollector).",
    ["org_id", "key"], multiprocess_mode="max")


def observe_request(route: str, method: str, status: int, seconds: float | None) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    if seconds is not None:
        LATENCY.labels(route, method).observe(seconds)


def outcome_of(status: int, refused: bool) -> str:
    if refused:
        return "refused"
    if status < 400:
        return "success"
    return "client_error" if status < 500 else "server_error"


def observe_operation(operation: str, status: int, refusal: str | None,
                      tenant_id: int | None, key_name: str | None) -> None:
    outcome = outcome_of(status, refusal is not None)
    OPERATIONS.labels(operation, outcome).inc()
    if refusal is not None:
        REFUSALS.labels(refusal).inc()
    elif outcome == "success" and key_name is not None and tenant_id is not None:
        LAST_SUCCESS.labels(str(tenant_id), key_name).set(time.time())


# --- exposing them ------------------------------------------------------------------------

def enable_multiprocess(folder: str) -> None:
    """Make the metric values created from now on live in files under ``folder``.

    Called by ``scimsvc serve`` before gunicorn forks its workers; the values of
    every labelled metric are created in the workers, so all of them are shared.
    """
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name in os.listdir(folder):  # a previous run's values are not this run's
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    os.environ[MULTIPROC_ENV] = folder
    values.ValueClass = values.get_value_class()


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay in the totals)."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(pid)


# (organization id, organization slug, key name, expires_at, last_used_at)
KeyRow = tuple[int, str, str, Any, Any]
# (organization slug, webhook name, pending, failed, created_at of the oldest pending or None)
WebhookRow = tuple[str, str, int, int, Any]
# (organization slug, connection name, last finished run's status or None, its finished_at or None)
SyncRow = tuple[str, str, Any, Any]


class KeysCollector(Collector):
    """Gauges read from the database at scrape time, for each organization's active keys
    (not revoked, not expired, not replaced by a rotation): seconds until each expires, and
    when each last succeeded: the later of the database's last use of the key (so a server
    that restarts still knows an idle key) and the workers' timestamps of success.

    ``last_success`` yields (organization id, key name, unix time) from the workers.
    """

    def __init__(self, keys: Callable[[], Iterable[KeyRow]],
                 last_success: Callable[[], Iterable[tuple[str, str, float]]] | None = None):
        self._keys = keys
        self._last_success = last_success

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        expiry = GaugeMetricFamily(
            "scimsvc_api_key_expires_in_seconds",
            "Seconds until each active API key with an expiry expires (organization, key).",
            labels=["org", "key"])
        stamp = GaugeMetricFamily(
            LAST_SUCCESS._name,
            "Unix time of the last successful SCIM request of each active API key "
            "(organization, key): the later of its last use in the database and this server's.",
            labels=["org", "key"])
        age = GaugeMetricFamily(
            "scimsvc_api_key_seconds_since_last_success",
            "Seconds since the last successful SCIM request of each active API key "
            "(organization, key).",
            labels=["org", "key"])
        seen: dict[tuple[str, str], float] = {}
        if self._last_success is not None:
            for org_id, name, when in self._last_success():
                seen[(org_id, name)] = max(when, seen.get((org_id, name), 0.0))
        for org_id, org, name, expires_at, last_used in self._keys():
            if expires_at is not None:
                expiry.add_metric([org, name], expires_at.timestamp() - now)
            candidates = [seen.get((str(org_id), name))]
            if last_used is not None:
                candidates.append(last_used.timestamp())
            known = [c for c in candidates if c is not None]
            if known:
                stamp.add_metric([org, name], max(known))
                age.add_metric([org, name], now - max(known))
        yield expiry
        yield stamp
        yield age


class WebhooksCollector(Collector):
    """Each webhook's undelivered deliveries, read from the database at scrape time."""

    def __init__(self, backlog: Callable[[], Iterable[WebhookRow]]):
        self._backlog = backlog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        pending = GaugeMetricFamily(
            "scimsvc_webhook_deliveries_pending",
            "Deliveries waiting to be sent or retried, per webhook (organization, webhook).",
            labels=["org", "webhook"])
        failed = GaugeMetricFamily(
            "scimsvc_webhook_deliveries_failed",
            "Deliveries given up on (too old, or answered 410) and not retried, per webhook.",
            labels=["org", "webhook"])
        oldest = GaugeMetricFamily(
            "scimsvc_webhook_oldest_pending_seconds",
            "Age of each webhook's oldest pending delivery (0 when none is pending).",
            labels=["org", "webhook"])
        for org, name, waiting, given_up, created_at in self._backlog():
            pending.add_metric([org, name], waiting)
            failed.add_metric([org, name], given_up)
            oldest.add_metric([org, name],
                              max(0.0, now - created_at.timestamp()) if created_at else 0.0)
        yield pending
        yield failed
        yield oldest


class GoogleSyncCollector(Collector):
    """Each Google Workspace connection's last finished sync, read from the database at scrape
    time; a connection that never finished a run has no samples."""

    def __init__(self, runs: Callable[[], Iterable[SyncRow]]):
        self._runs = runs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        success = GaugeMetricFamily(
            "scimsvc_google_sync_last_success",
            "1 if the connection's last finished sync succeeded, 0 if it failed or was stopped "
            "by the safety valve (organization, connection).",
            labels=["org", "connection"])
        finished = GaugeMetricFamily(
            "scimsvc_google_sync_last_finished_timestamp_seconds",
            "Unix time the connection's last sync finished (organization, connection).",
            labels=["org", "connection"])
        since = GaugeMetricFamily(
            "scimsvc_google_sync_seconds_since_last_finished",
            "Seconds since the connection's last sync finished (organization, connection).",
            labels=["org", "connection"])
        for org, name, status, finished_at in self._runs():
            if finished_at is None:
                continue
            success.add_metric([org, name], 1.0 if status == "succeeded" else 0.0)
            finished.add_metric([org, name], finished_at.timestamp())
            since.add_metric([org, name], now - finished_at.timestamp())
        yield success
        yield finished
        yield since


class _WorkersCollector(Collector):
    """The workers' values added up, but for the per-key success timestamps: KeysCollector
    serves those, for active keys only and labelled like the other key gauges."""

    def __init__(self) -> None:
        self._workers = MultiProcessCollector(None)

    def collect(self) -> Iterator[Any]:
        for family in self._workers.collect():
            if family.name != LAST_SUCCESS._name:
                yield family

    def last_success(self) -> Iterator[tuple[str, str, float]]:
        for family in self._workers.collect():
            if family.name == LAST_SUCCESS._name:
                for sample in family.samples:
                    yield sample.labels["org_id"], sample.labels["key"], sample.value


def multiprocess_registry(keys: Callable[[], Iterable[KeyRow]],
                          backlog: Callable[[], Iterable[WebhookRow]] | None = None,
                          runs: Callable[[], Iterable[SyncRow]] | None = None,
                          ) -> CollectorRegistry:
    """The registry the listener serves: the workers' values added up, and the gauges read
    from the database (keys, webhook backlog, Google syncs)."""
    registry = CollectorRegistry()
    workers = _WorkersCollector()
    registry.register(workers)
    registry.register(KeysCollector(keys, workers.last_success))
    if backlog is not None:
        registry.register(WebhooksCollector(backlog))
    if runs is not None:
        registry.register(GoogleSyncCollector(runs))
    return registry


__all__ = ["observe_request", "observe_operation", "enable_multiprocess", "worker_exited",
           "multiprocess_registry", "KeysCollector", "WebhooksCollector", "GoogleSyncCollector",
           "LOCK_WAIT", "LOCK_TIMEOUTS", "WRITE_TRANSACTIONS"]
