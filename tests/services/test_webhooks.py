"""Webhooks at the services level: enqueue in the writer's transaction, claims, delivery, retries.

Events are dicts of the public event's shape, enqueued inside ``write_transaction()``
as services/events.py does; deliveries go to a real HTTP receiver on 127.0.0.1 and
their signatures are checked with the independent ``standardwebhooks`` package.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import WebhookVerificationError

from scimsvc.database.transactions import write_transaction
from scimsvc.extensions import db
from scimsvc.models import WebhookDelivery, utcnow
from scimsvc.services import webhooks
from scimsvc.services.organizations import get_organization
from scimsvc.store import webhooks as store

from tests.receiver import running_receiver, verify

_sequence = iter(range(1, 1_000_000))


def event(event_type: str = "user.created", **extra) -> dict:
    return {"id": f"evt_{uuid.uuid4().hex}", "sequence": next(_sequence), "type": event_type,
            "occurredAt": "2026-12-04T18:00:00.000Z", "organization": "default", "source": "scim",
            "actor": "okta", "requestId": "req-1", "changes": ["userName"],
            "user": {"id": str(uuid.uuid4()), "userName": "bjensen@example.com",
                     "status": "active"}, **extra}


@pytest.fixture
def key(app):
    with app.app_context():
        return webhooks.signing_key(app.config, app.instance_path, create=True)


def settings(key: bytes, **overrides) -> webhooks.DeliverySettings:
    return webhooks.DeliverySettings(key=key, timeout=2.0, retry_base=0.01, retry_cap=0.05,
                                     **overrides)


def add(app, key, name, url, events=(), org="default"):
    with app.app_context():
        return webhooks.add_webhook(get_organization(org).id, name, url, events, key=key)[1]


def enqueue(app, *events, org="default"):
    with app.app_context():
        tenant = get_organization(org).id
        with write_transaction() as connection:
            for item in events:
                webhooks.enqueue(connection, tenant, item)


def deliveries(app):
    with app.app_context():
        return [dict(row._mapping) for row in db.session.execute(sa.text(
            "SELECT d.event_id, d.event_type, d.sequence, d.status, d.attempts, d.payload, "
            "d.last_status, d.last_error, w.name AS webhook FROM webhook_deliveries d "
            "JOIN webhooks w ON w.id = d.webhook_id ORDER BY d.id"))]


def deliver_all(app, delivery_settings, rounds=200):
    """Run delivery passes until nothing is pending (bounded)."""
    with app.app_context():
        for _ in range(rounds):
            webhooks.deliver_due(delivery_settings)
            if not any(d["status"] == "pending" for d in deliveries(app)):
                return
            threading.Event().wait(0.01)
    raise AssertionError(f"still pending: {deliveries(app)}")


def test_enqueue_adds_one_delivery_per_enabled_webhook_that_wants_the_type(app, admin, key):
    add(app, key, "all", "https://a.example.test/hook")
    add(app, key, "disabled-only", "https://b.example.test/hook", ["user.disabled"])
    add(app, key, "family", "https://c.example.test/hook", ["user.*"])
    add(app, key, "off", "https://d.example.test/hook")
    with app.app_context():
        webhooks.set_enabled(get_organization("default").id, "off", False)
    created, disabled = event("user.created"), event("user.disabled")
    enqueue(app, created, disabled)
    rows = deliveries(app)
    assert sorted((r["webhook"], r["event_type"]) for r in rows) == [
        ("all", "user.created"), ("all", "user.disabled"), ("disabled-only", "user.disabled"),
        ("family", "user.created"), ("family", "user.disabled")]
    # The payload is the event, serialized once: delivery needs nothing else.
    assert json.loads(rows[0]["payload"]) == created
    assert {r["status"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}


def test_enqueue_rolls_back_with_the_change(app, admin, key):
    add(app, key, "all", "https://a.example.test/hook")
    with app.app_context():
        tenant = get_organization("default").id
        with pytest.raises(RuntimeError):
            with write_transaction() as connection:
                webhooks.enqueue(connection, tenant, event())
                raise RuntimeError("the change failed")
    assert deliveries(app) == []


def test_enqueue_never_reaches_another_organizations_webhooks(app, admin, key):
    admin("org", "create", "other")
    add(app, key, "mine", "https://a.example.test/hook")
    add(app, key, "theirs", "https://b.example.test/hook", org="other")
    enqueue(app, event(), org="default")
    assert [r["webhook"] for r in deliveries(app)] == ["mine"]


def test_a_delivery_is_signed_per_standard_webhooks(app, admin, key):
    with running_receiver() as receiver:
        secret = add(app, key, "hook", receiver.url)
        sent = event()
        enqueue(app, sent)
        deliver_all(app, settings(key))
        [received] = receiver.received
    assert secret.startswith("whsec_")
    assert verify(secret, received) == sent
    assert received.headers["webhook-id"] == sent["id"]
    assert received.headers["content-type"] == "application/json"
    [row] = deliveries(app)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200)


def test_a_signature_made_with_another_secret_is_refused_by_the_verifier(app, admin, key):
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        deliver_all(app, settings(key))
    with pytest.raises(WebhookVerificationError):
        verify(webhooks.new_secret(), receiver.received[0])


def test_the_secret_is_stored_encrypted_and_a_foreign_key_cannot_sign(app, admin, key):
    with running_receiver() as receiver:
        secret = add(app, key, "hook", receiver.url)
        with app.app_context():
            stored = db.session.execute(sa.text("SELECT secret FROM webhooks")).scalar()
        assert secret not in stored and secret.removeprefix("whsec_") not in stored
        enqueue(app, event())
        other_key = Fernet.generate_key()  # another instance's
        with app.app_context():
            assert webhooks.deliver_due(settings(other_key)) == 1
        assert receiver.received == []
        [row] = deliveries(app)
        assert row["status"] == "pending" and "cannot be decrypted" in row["last_error"]
        deliver_all(app, settings(key))  # the instance's own key still can
        assert len(receiver.received) == 1


def test_settings_made_before_the_key_file_read_it_when_they_need_it(app, admin):
    # A server starts before the first `webhook add` made instance/webhook.key.
    with app.app_context():
        early = webhooks.DeliverySettings.from_config(app.config, app.instance_path)
    assert early.key is None
    with running_receiver() as receiver:
        with app.app_context():
            key = webhooks.signing_key(app.config, app.instance_path, create=True)
        secret = add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            assert webhooks.deliver_due(early) == 1
        assert early.key == key
        assert verify(secret, receiver.received[0])["type"] == "user.created"


def test_settings_without_any_key_say_so(app, admin, key):
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            assert webhooks.deliver_due(settings(None)) == 1  # no source to read a key from
        assert receiver.received == []
        [row] = deliveries(app)
        assert row["status"] == "pending" and "has no webhook key" in row["last_error"]


def test_a_replaced_key_file_is_read_again(app, admin, key, tmp_path):
    # The key file was copied from the server that added the webhooks after this one started.
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        folder = tmp_path / "other-instance"
        folder.mkdir()
        (folder / webhooks.KEY_FILE).write_bytes(Fernet.generate_key() + b"\n")
        with app.app_context():
            stale = webhooks.DeliverySettings.from_config(app.config, str(folder))
            (folder / webhooks.KEY_FILE).write_bytes(key + b"\n")
            assert webhooks.deliver_due(stale) == 1
        assert stale.key == key and len(receiver.received) == 1


def test_a_receiver_that_fails_then_succeeds_gets_the_event_after_retries(app, admin, key):
    with running_receiver(statuses=[500, 503]) as receiver:
        secret = add(app, key, "hook", receiver.url)
        sent = event()
        enqueue(app, sent)
        deliver_all(app, settings(key))
        assert receiver.answered == [500, 503, 200]
        # Every attempt carries the same webhook-id, so the receiver can drop duplicates.
        assert {r.headers["webhook-id"] for r in receiver.received} == {sent["id"]}
        assert verify(secret, receiver.received[-1]) == sent
    [row] = deliveries(app)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 3, 200)


def test_a_failed_attempt_records_the_answer_and_waits_with_backoff(app, admin, key):
    with running_receiver(default=500) as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            before = utcnow()
            assert webhooks.deliver_due(webhooks.DeliverySettings(key=key, retry_base=60)) == 1
            # Not due again yet: the next pass sends nothing.
            assert webhooks.deliver_due(webhooks.DeliverySettings(key=key, retry_base=60)) == 0
            due = db.session.execute(sa.select(WebhookDelivery.next_attempt_at)).scalar()
    [row] = deliveries(app)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_status"] == 500
    assert row["last_error"] == "HTTP 500: receiver says no"
    # The first retry waits between half and all of the base delay (jitter).
    assert before + timedelta(seconds=29) <= due <= utcnow() + timedelta(seconds=61)


def test_backoff_doubles_up_to_the_cap_with_jitter():
    delivery = webhooks.DeliverySettings(retry_base=5, retry_cap=3600)
    for attempts, full in ((1, 5), (2, 10), (3, 20), (10, 2560), (11, 3600), (30, 3600)):
        delays = {webhooks.backoff(attempts, delivery) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered


def test_a_delivery_older_than_the_max_age_is_marked_failed_and_can_be_retried(app, admin, key):
    with running_receiver(statuses=[500, 500]) as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            webhooks.deliver_due(settings(key, max_age=timedelta(0)))
        [row] = deliveries(app)
        assert (row["status"], row["attempts"]) == ("failed", 1)
        listed = admin("webhook", "deliveries", "hook", "--failed", "--json")
        assert [d["status"] for d in json.loads(listed.stdout)] == ["failed"]
        assert "1 failed delivery of webhook 'hook' queued again." in admin("webhook", "retry",
                                                                           "hook").output
        deliver_all(app, settings(key))
    assert [r["status"] for r in deliveries(app)] == ["delivered"]
    assert receiver.answered == [500, 500, 200]


def test_a_410_disables_the_webhook(app, admin, key):
    with running_receiver(statuses=[410]) as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event(), event())
        with app.app_context():
            webhooks.deliver_due(settings(key))
            webhooks.deliver_due(settings(key))
            hook = webhooks.get_webhook(get_organization("default").id, "hook")
            assert not hook.enabled and "410" in hook.disabled_reason
        assert receiver.answered == [410]  # the second event is not sent to a gone receiver
        enqueue(app, event())  # a disabled webhook gets no new deliveries
        assert [r["status"] for r in deliveries(app)] == ["failed", "pending"]
        shown = json.loads(admin("webhook", "show", "hook", "--json").stdout)
        assert shown["state"] == "disabled" and "410 Gone" in shown["disabledReason"]
        admin("webhook", "enable", "hook")
        deliver_all(app, settings(key))
        assert receiver.answered == [410, 200]


def test_a_receiver_that_does_not_answer_in_time_is_retried(app, admin, key):
    with running_receiver(delay=1.0) as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            webhooks.deliver_due(webhooks.DeliverySettings(key=key, timeout=0.2, retry_base=60))
    [row] = deliveries(app)
    assert row["status"] == "pending" and row["last_status"] is None
    assert "timed out" in row["last_error"]


def test_a_refused_connection_is_retried(app, admin, key):
    with running_receiver() as receiver:
        url = receiver.url
    add(app, key, "hook", url)  # nothing listens there any more
    enqueue(app, event())
    with app.app_context():
        webhooks.deliver_due(webhooks.DeliverySettings(key=key, retry_base=60))
    [row] = deliveries(app)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]


def test_redirects_are_not_followed(app, admin, key):
    with running_receiver(statuses=[307]) as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            webhooks.deliver_due(webhooks.DeliverySettings(key=key, retry_base=60))
        assert receiver.answered == [307]
    [row] = deliveries(app)
    assert row["status"] == "pending" and row["last_status"] == 307


def test_a_webhook_gets_its_events_in_sequence_order(app, admin, key):
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        sent = [event() for _ in range(120)]  # more than one claim's batch
        enqueue(app, *sent)
        deliver_all(app, settings(key))
        assert [e["sequence"] for e in receiver.events()] == [e["sequence"] for e in sent]


def test_after_a_failure_the_webhooks_later_events_wait_and_then_follow_in_order(app, admin, key):
    with running_receiver(statuses=[500]) as receiver:
        add(app, key, "hook", receiver.url)
        sent = [event() for _ in range(3)]
        enqueue(app, *sent)
        deliver_all(app, settings(key))
        assert len(receiver.received) == 4
        assert [e["sequence"] for e in receiver.events()] == [e["sequence"] for e in sent]


def test_concurrent_workers_deliver_each_event_once(app, admin, key):
    with running_receiver() as receiver:
        add(app, key, "one", receiver.url)
        add(app, key, "two", receiver.url)
        sent = [event() for _ in range(60)]
        enqueue(app, *sent)
        barrier = threading.Barrier(4)
        errors = []

        def work():
            barrier.wait()
            try:
                with app.app_context():
                    for _ in range(100):
                        if not webhooks.deliver_due(settings(key, batch=5)):
                            rows = deliveries(app)
                            if not any(r["status"] == "pending" for r in rows):
                                return
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 120 and sorted(set(ids)) == sorted(e["id"] for e in sent)
    assert {r["status"] for r in deliveries(app)} == {"delivered"}


def test_a_lapsed_claim_is_taken_again(app, admin, key):
    """A worker that died after claiming: once its lease lapses, another sends the delivery."""
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        enqueue(app, event())
        with app.app_context():
            now = utcnow()
            with write_transaction() as connection:
                assert len(store.claim(connection, now, now + timedelta(seconds=30), "dead",
                                       webhooks=1, batch=10)) == 1
            assert webhooks.deliver_due(settings(key)) == 0  # claimed by the "dead" worker
            db.session.execute(sa.text("UPDATE webhook_deliveries SET claimed_until = :t"),
                               {"t": now - timedelta(seconds=1)})
            db.session.commit()
            assert webhooks.deliver_due(settings(key)) == 1
        assert len(receiver.events()) == 1


def test_the_worker_thread_is_woken_by_a_commit_that_enqueued(app, admin, key):
    with running_receiver() as receiver:
        add(app, key, "hook", receiver.url)
        # A poll so slow that only the wake-up can deliver within the wait below.
        worker = webhooks.Worker(app, webhooks.DeliverySettings(key=key, poll=600)).start()
        try:
            threading.Event().wait(0.2)  # the worker is asleep in its poll
            enqueue(app, event())
            receiver.wait_for(1, seconds=30)
        finally:
            worker.stop(timeout=10)
        assert not worker.thread.is_alive()


def test_deliveries_another_worker_holds_do_not_make_an_idle_worker_spin(app, admin, key):
    add(app, key, "hook", "https://a.example.test/hook")
    enqueue(app, event())
    delivery = settings(key, poll=0.5)
    with app.app_context():
        now = utcnow()
        with write_transaction() as connection:
            assert store.claim(connection, now, now + timedelta(seconds=60), "other",
                               webhooks=1, batch=10)
        # Due, but held by the other worker: nothing to claim, and the wait is the poll's.
        assert webhooks.deliver_due(delivery) == 0
        assert webhooks.next_due_in(delivery) == 0.5
