"""Refused requests cost nothing: counted in memory, journaled as one summary row per minute.

A request refused before it may act (no key, a malformed header, an unknown,
revoked or expired key, a key whose team lacks the permission, a rate limit)
writes nothing while it is served. ``Refusals.add`` counts it in memory under
(minute, organization, key, client address, reason); a background thread
flushes the counts every ``interval`` seconds in one write transaction, adding
to the minute's summary row (``repeats``) or writing it. So a flood of invented
keys costs one row per minute per address and reason, whatever its rate, and
never takes the write lock on the request path.

A refusal whose key is known (revoked, expired, forbidden, or a valid key over
its rate limit) is journaled in that key's organization and names the key; the
others belong to no organization and are listed only by instance-level tooling
(``scimsvc audit list --refusals``). Memory is bounded: past ``MAX_PENDING``
distinct summaries in one interval, further ones are counted under their reason
and minute without an address or key.

The module knows nothing of HTTP: the API passes the request's audit context
and a factory for the app context the flushing thread needs.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

from sqlalchemy.exc import SQLAlchemyError

from ..database.transactions import write_transaction
from ..errors import Busy
from ..models import utcnow
from ..store import journal as store
from .audit import RequestContext

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0
MAX_PENDING = 10_000


@dataclass
class _Summary:
    count: int
    first: dict[str, Any]  # the journal row, as of the minute's first refusal here


class Refusals:
    """The refusal counts of one app in one process, and the thread that journals them."""

    def __init__(self, app_context: Callable[[], ContextManager[Any]],
                 interval: float = DEFAULT_INTERVAL):
        self._app_context = app_context
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[tuple, _Summary] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid = os.getpid()
        _live.add(self)

    def add(self, context: RequestContext, status: int) -> None:
        """Count the refused request ``context`` describes (answered with ``status``)."""
        now = utcnow()
        minute = now.replace(second=0, microsecond=0)
        key = (minute, context.tenant_id, context.api_key_id, context.client_address,
               context.refusal)
        with self._lock:
            self._after_fork()
            summary = self._pending.get(key)
            if summary is None:
                if len(self._pending) >= MAX_PENDING:
                    key = (minute, None, None, None, context.refusal)
                    summary = self._pending.get(key)
                if summary is None:
                    summary = self._pending[key] = _Summary(0, _row(context, status, minute, key))
            summary.count += 1
            summary.first["status"] = status
            self._start()

    def pending(self) -> int:
        """How many refused requests are counted but not yet journaled."""
        with self._lock:
            return sum(s.count for s in self._pending.values())

    def flush(self) -> int:
        """Journal what is counted, in one write transaction; return how many refusals.

        On failure (the database busy or down) the counts are kept for the next flush.
        """
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        try:
            with self._app_context():
                with write_transaction() as connection:
                    for summary in taken.values():
                        store.merge_refusal(connection, {**summary.first, "repeats": summary.count})
        except (SQLAlchemyError, Busy):
            log.warning("could not journal %d refused requests; will retry",
                        sum(s.count for s in taken.values()), exc_info=True)
            with self._lock:
                for key, summary in taken.items():
                    kept = self._pending.setdefault(key, _Summary(0, summary.first))
                    kept.count += summary.count
            return 0
        return sum(s.count for s in taken.values())

    def stop(self) -> None:
        """Stop the thread and journal what is left (process exit, app teardown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.interval + 5)
        self._thread = None
        if os.getpid() == self._pid:
            self.flush()

    def _start(self) -> None:
        # Started on the first refusal, so a forked worker starts its own.
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="scimsvc-refusals",
                                            daemon=True)
            self._thread.start()

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:  # counts and thread belong to the parent
            self._pid, self._pending, self._thread = os.getpid(), {}, None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the thread must outlive any one failure
                log.exception("flushing refused requests failed")


def _row(context: RequestContext, status: int, minute, key: tuple) -> dict[str, Any]:
    _, tenant_id, api_key_id, client_address, reason = key
    known = api_key_id is not None
    return {
        "tenant_id": tenant_id, "at": minute, "request_id": context.request_id,
        "api_key_id": api_key_id, "api_key_name": context.api_key_name if known else None,
        "user_agent": context.user_agent, "method": context.method, "path": context.path,
        "operation": context.operation, "target_user_id": None, "target_user_name": None,
        "status": status, "scim_type": None, "changes": None,
        "client_address": client_address, "reason": reason, "repeats": 0,
    }


_live: "weakref.WeakSet[Refusals]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for refusals in list(_live):
        try:
            refusals.stop()
        except Exception:
            log.exception("could not journal refused requests at exit")


__all__ = ["Refusals", "DEFAULT_INTERVAL", "MAX_PENDING"]
