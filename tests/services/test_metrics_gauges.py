"""The gauges the metrics listener reads from the database per scrape: API keys, the webhook
backlog and the Google syncs, from the real service queries, rendered by prometheus-client."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from scimsvc import metrics
from scimsvc.extensions import db
from scimsvc.models import ApiKey, utcnow
from scimsvc.services import webhooks
from scimsvc.services.keys import active_keys
from scimsvc.services.organizations import get_organization
from scimsvc.services.sources.google import last_runs
from tests.cli.test_google import ADMIN, fake, people, sync  # noqa: F401 (fixture)
from tests.conftest import ScimClient, make_user, provision_key
from tests.receiver import running_receiver


def scrape(app, *, workers=()) -> dict:
    def read(query):
        def inner():
            with app.app_context():
                return query()
        return inner

    registry = CollectorRegistry()
    registry.register(metrics.KeysCollector(read(active_keys), lambda: iter(workers)))
    registry.register(metrics.WebhooksCollector(read(webhooks.backlog)))
    registry.register(metrics.GoogleSyncCollector(read(last_runs)))
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(**values) -> tuple:
    return tuple(sorted(values.items()))


def test_seconds_since_last_success_starts_from_the_database_not_the_server_start(app, admin):
    key = provision_key(admin, name="okta")
    provision_key(admin, name="unused")
    assert ScimClient(app.test_client(), key).get("Users").status_code == 200
    with app.app_context():  # as if the success was two days ago, before this server started
        db.session.execute(db.update(ApiKey).where(ApiKey.name == "okta").values(
            last_used_at=utcnow() - timedelta(days=2)))
        db.session.commit()
    found = scrape(app)  # no worker has seen a success since it started
    since = found["scimsvc_api_key_seconds_since_last_success"]
    assert 2 * 86400 - 60 < since[labels(org="default", key="okta")] < 2 * 86400 + 600
    assert labels(org="default", key="unused") not in since  # never used: not stalled
    # A success the workers saw since is later than the database's: it wins.
    with app.app_context():
        tenant = str(get_organization("default").id)
    found = scrape(app, workers=[(tenant, "okta", time.time() - 5)])
    assert found["scimsvc_api_key_seconds_since_last_success"][
        labels(org="default", key="okta")] < 60
    assert found["scimsvc_api_key_last_success_timestamp_seconds"][
        labels(org="default", key="okta")] > time.time() - 60


def test_a_rotated_or_revoked_key_leaves_the_key_gauges(app, admin):
    provision_key(admin, name="gone")
    key = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta",
                           "--expires-in", "30", "--json").stdout)["key"]
    assert ScimClient(app.test_client(), key).get("Users").status_code == 200
    admin("api-key", "rotate", "okta", "--grace", "24")
    admin("api-key", "revoke", "gone", "--yes")
    with app.app_context():
        tenant = str(get_organization("default").id)
        [retired] = [k.name for k in db.session.scalars(db.select(ApiKey))
                     if k.name.startswith("okta@")]
    # The workers still hold timestamps for the old key (used during its grace) and "gone".
    found = scrape(app, workers=[(tenant, retired, 1.0), (tenant, "gone", 1.0)])
    since = {dict(k)["key"] for k in found.get("scimsvc_api_key_seconds_since_last_success", {})}
    expiring = found["scimsvc_api_key_expires_in_seconds"]
    assert retired not in since and "gone" not in since
    # Only the replacement's expiry (30 days, like the old key) shows, not the grace's end.
    assert list(expiring) == [labels(org="default", key="okta")]
    assert expiring[labels(org="default", key="okta")] > 29 * 86400


def test_webhook_backlog_pending_failed_and_oldest_age(app, admin):
    scim = ScimClient(app.test_client(), provision_key(admin))
    with app.app_context():
        key = webhooks.signing_key(app.config, app.instance_path, create=True)
    with running_receiver(statuses=[410]) as receiver:
        admin("webhook", "add", "gone", receiver.url)
        admin("webhook", "add", "later", "https://product.example.test/hooks")
        assert scrape(app)["scimsvc_webhook_deliveries_pending"] == {
            labels(org="default", webhook="gone"): 0, labels(org="default", webhook="later"): 0}
        make_user(scim, "a@example.com")
        make_user(scim, "b@example.com")
        found = scrape(app)
        assert found["scimsvc_webhook_deliveries_pending"][labels(org="default", webhook="later")] == 2
        assert 0 <= found["scimsvc_webhook_oldest_pending_seconds"][
            labels(org="default", webhook="later")] < 600
        settings = webhooks.DeliverySettings(key=key, timeout=2.0, retry_base=0.01,
                                             retry_cap=0.05)
        with app.app_context():  # the receiver answers 410: that delivery fails for good
            for _ in range(100):
                webhooks.deliver_due(settings)
                if receiver.answered == [410]:
                    break
        assert receiver.answered == [410]
    found = scrape(app)
    assert found["scimsvc_webhook_deliveries_failed"][labels(org="default", webhook="gone")] >= 1
    assert found["scimsvc_webhook_deliveries_failed"][labels(org="default", webhook="later")] == 0


def test_google_sync_last_result_per_connection(app, admin, fake, tmp_path):  # noqa: F811
    app.config["SCIMSVC_GOOGLE_API_URL"] = fake.url
    app.config["SCIMSVC_GOOGLE_TIMEOUT"] = 0.5
    admin("google", "connect", "--credentials", str(fake.key_file(tmp_path / "k.json")),
          "--admin", ADMIN)
    assert not scrape(app).get("scimsvc_google_sync_last_success")  # never ran: nothing yet
    fake.directory.users = people(3)
    sync(admin)
    found = scrape(app)
    series = labels(org="default", connection="workspace")
    assert found["scimsvc_google_sync_last_success"][series] == 1
    assert 0 <= found["scimsvc_google_sync_seconds_since_last_finished"][series] < 600
    fake.fail(1, status=403)
    sync(admin, ok=False)
    found = scrape(app)
    assert found["scimsvc_google_sync_last_success"][series] == 0
    assert found["scimsvc_google_sync_last_finished_timestamp_seconds"][series] > 0
