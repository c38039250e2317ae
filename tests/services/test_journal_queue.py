"""The journal queue: rows wait in memory, in order, until a background writer gets them in."""
from __future__ import annotations

import threading

from scimsvc.services.journal_queue import JournalQueue


class Database:
    """A stand-in for the journal table that refuses its first ``failures`` writes."""

    def __init__(self, failures: int = 0):
        self.rows: list[dict] = []
        self.failures = failures
        self.attempts = 0
        self.lock = threading.Lock()

    def write(self, batch: list[dict]) -> None:
        with self.lock:
            self.attempts += 1
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database is locked")
            self.rows.extend(batch)


def test_rows_are_written_in_the_order_they_were_queued():
    database = Database()
    queue = JournalQueue(database.write)
    for n in range(500):
        assert queue.put({"n": n})
    assert queue.flush(30)
    assert [row["n"] for row in database.rows] == list(range(500))
    assert queue.pending() == 0


def test_a_failed_write_is_retried_until_it_succeeds_and_loses_nothing():
    database = Database(failures=3)
    queue = JournalQueue(database.write)
    queue.put({"n": 1})
    queue.put({"n": 2})
    assert queue.flush(30)
    assert [row["n"] for row in database.rows] == [1, 2]
    assert database.attempts >= 4


def test_a_full_queue_drops_rows_instead_of_growing():
    gate = threading.Event()
    written: list[dict] = []

    def blocked(batch):
        gate.wait(30)
        written.extend(batch)

    queue = JournalQueue(blocked, capacity=3)
    results = [queue.put({"n": n}) for n in range(5)]
    assert results == [True, True, True, False, False]
    assert queue.dropped == 2
    gate.set()
    assert queue.flush(30)
    assert [row["n"] for row in written] == [0, 1, 2]


def test_rows_are_written_inside_the_given_context():
    entered: list[str] = []

    class Context:
        def __enter__(self):
            entered.append("in")

        def __exit__(self, *exc):
            entered.append("out")

    database = Database()
    queue = JournalQueue(database.write, context=Context)
    queue.put({"n": 1})
    assert queue.flush(30)
    assert entered[:2] == ["in", "out"] and database.rows == [{"n": 1}]


def test_a_closed_queue_refuses_rows():
    database = Database()
    queue = JournalQueue(database.write)
    queue.put({"n": 1})
    assert queue.close(30)
    assert database.rows == [{"n": 1}]
    assert not queue.put({"n": 2})
