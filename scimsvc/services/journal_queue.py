"""A bounded in-process queue of journal rows, written by a background thread that retries.

A refused or failed request is journaled after its response is decided, in a
transaction of its own. When that transaction cannot start at once (SQLite's
write lock is held by a long write, the database is down), waiting for it would
hold up the answer by up to the busy timeout, and giving up would lose the row
(issue 15). Instead the row is put here and the request goes on; a daemon
thread per queue writes what is queued, in order and in batches, and retries
after a failure with a growing pause (0.1 s to 5 s) until it succeeds.

The queue holds at most ``capacity`` rows: beyond that a row is dropped with a
warning (memory stays bounded while the database is unreachable for long). At
interpreter exit the queue is flushed for up to ``EXIT_FLUSH_SECONDS``. Rows are
plain dicts; what writing them means is the ``write_batch`` callable's business,
so other journals (per-minute counters, say) can reuse the queue.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, ContextManager

log = logging.getLogger(__name__)

CAPACITY = 10_000
BATCH = 200
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 5.0
EXIT_FLUSH_SECONDS = 5.0

_queues: "weakref.WeakSet[JournalQueue]" = weakref.WeakSet()


class JournalQueue:
    """Rows waiting for ``write_batch(rows)``, run in ``context()`` by a background thread."""

    def __init__(self, write_batch: Callable[[list[dict[str, Any]]], None], *,
                 context: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                 capacity: int = CAPACITY, name: str = "journal"):
        self._write_batch = write_batch
        self._context = context
        self.capacity = capacity
        self.name = name
        self._rows: deque[dict[str, Any]] = deque()
        self._changed = threading.Condition()
        self._writing = 0  # rows taken by the writer and not yet written
        self._thread: threading.Thread | None = None
        self._closed = False
        self.dropped = 0
        _queues.add(self)

    def put(self, row: dict[str, Any]) -> bool:
        """Queue ``row`` for writing; False (and a warning) if the queue is full or closed."""
        with self._changed:
            if self._closed or len(self._rows) + self._writing >= self.capacity:
                self.dropped += 1
                log.warning("%s queue full (%d rows): a row was dropped (%d so far)",
                            self.name, self.capacity, self.dropped)
                return False
            self._rows.append(row)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"scimsvc-{self.name}",
                                                daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return True

    def pending(self) -> int:
        """Rows queued or being written."""
        with self._changed:
            return len(self._rows) + self._writing

    def flush(self, timeout: float) -> bool:
        """Wait until every queued row is written, at most ``timeout`` seconds; True if so."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._rows or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self, timeout: float = EXIT_FLUSH_SECONDS) -> bool:
        """Refuse new rows, write the queued ones (at most ``timeout`` s), stop the thread."""
        flushed = self.flush(timeout)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        return flushed

    def _run(self) -> None:
        pause = FIRST_PAUSE
        failing = False
        while True:
            with self._changed:
                while not self._rows and not self._closed:
                    self._changed.wait()
                if not self._rows:
                    return
                batch = [self._rows.popleft() for _ in range(min(BATCH, len(self._rows)))]
                self._writing = len(batch)
            try:
                with self._context():
                    self._write_batch(batch)
            except Exception:  # noqa: BLE001 - any failure is retried; the rows stay queued
                if not failing:
                    log.warning("%s queue: writing %d rows failed; retrying", self.name,
                                len(batch), exc_info=True)
                failing = True
                with self._changed:
                    self._rows.extendleft(reversed(batch))
                    self._writing = 0
                    self._changed.notify_all()
                    if self._closed:
                        return
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            if failing:
                log.info("%s queue: writing again (%d rows)", self.name, len(batch))
            failing, pause = False, FIRST_PAUSE
            with self._changed:
                self._writing = 0
                self._changed.notify_all()


@atexit.register
def _flush_at_exit() -> None:
    for queue in list(_queues):
        if queue.pending():
            queue.close(EXIT_FLUSH_SECONDS)
