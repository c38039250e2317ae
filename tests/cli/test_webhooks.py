"""scimsvc webhook add / list / show / remove / disable / enable / deliveries / retry / test / worker,
and SCIM writes reaching a real receiver through the worker."""
from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from scimsvc.services import webhooks
from tests.cli import assert_fails
from tests.conftest import ScimClient, make_user, provision_key
from tests.live import free_port
from tests.receiver import running_receiver, verify

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")


def test_add_prints_only_the_secret_on_stdout_once(admin, app):
    result = admin("webhook", "add", "product", "https://product.example.test/hooks")
    secret = result.stdout.rstrip("\n")
    assert SECRET.match(secret), result.stdout
    assert result.stdout.count("\n") == 1  # `SECRET=$(scimsvc webhook add ...)` gets just it
    assert "Copy the signing secret now" in result.stderr
    # Never again: not in list, show, or the database in clear.
    for args in (("webhook", "list"), ("webhook", "list", "--json"), ("webhook", "show", "product"),
                 ("webhook", "show", "product", "--json")):
        assert secret not in admin(*args).output
        assert secret.removeprefix("whsec_") not in admin(*args).output
    # The key that encrypts it was made private, in the instance folder.
    path = os.path.join(app.instance_path, webhooks.KEY_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_add_json_has_the_secret(admin):
    data = json.loads(admin("webhook", "add", "product", "https://product.example.test/hooks",
                            "--event", "user.disabled", "--event", "user.removed", "--json").stdout)
    assert SECRET.match(data["secret"])
    assert (data["name"], data["events"], data["state"]) == (
        "product", ["user.disabled", "user.removed"], "enabled")


def test_http_is_refused_unless_loopback_or_allowed(admin):
    assert_fails(admin("webhook", "add", "p", "http://product.example.test/hooks", ok=False),
                 "'http://product.example.test/hooks' is not HTTPS: events would travel "
                 "unencrypted. Use an https:// URL, or --allow-http for a receiver on a trusted "
                 "network.")
    admin("webhook", "add", "p", "http://product.example.test/hooks", "--allow-http")
    admin("webhook", "add", "local", "http://127.0.0.1:9999/hooks")
    admin("webhook", "add", "local6", "http://[::1]:9999/hooks")
    admin("webhook", "add", "localname", "http://localhost:9999/hooks")
    assert [h["name"] for h in json.loads(admin("webhook", "list", "--json").stdout)] == [
        "local", "local6", "localname", "p"]


@pytest.mark.parametrize("url, message", [
    ("ftp://x.example.test/", "'ftp://x.example.test/' is not an http(s) URL with a host."),
    ("https://", "'https://' is not an http(s) URL with a host."),
    ("https://user:pw@x.example.test/", "A webhook URL cannot hold a user or password: the "
                                        "receiver checks the signature instead."),
    ("https://x.example.test:99999/", "'https://x.example.test:99999/' is not a URL."),
])
def test_bad_urls_are_refused_in_one_line(admin, url, message):
    assert_fails(admin("webhook", "add", "p", url, ok=False), message)


def test_unknown_event_types_and_duplicate_names_are_refused(admin):
    result = admin("webhook", "add", "p", "https://x.example.test/", "--event", "user.deleted",
                   ok=False)
    assert_fails(result, "Unknown event type 'user.deleted': choose from user.created, "
                         "user.updated, user.disabled, user.enabled, user.removed, user.restored, "
                         "user.access_changed (or user.* for all).")
    admin("webhook", "add", "p", "https://x.example.test/")
    assert_fails(admin("webhook", "add", "p", "https://y.example.test/", ok=False),
                 "Webhook 'p' already exists.")
    assert_fails(admin("webhook", "add", " ", "https://y.example.test/", ok=False),
                 "A webhook needs a name.")


def test_unknown_webhook_names_are_one_line_errors(admin):
    for command in ("show", "disable", "enable", "deliveries", "retry", "test"):
        assert_fails(admin("webhook", command, "nope", ok=False), "No webhook 'nope'.")
    assert_fails(admin("webhook", "remove", "nope", "--yes", ok=False), "No webhook 'nope'.")


def test_disable_enable_and_remove(admin):
    admin("webhook", "add", "p", "https://x.example.test/")
    assert admin("webhook", "disable", "p").output == "Webhook 'p' disabled.\n"
    shown = json.loads(admin("webhook", "show", "p", "--json").stdout)
    assert shown["state"] == "disabled" and shown["disabledReason"]
    assert admin("webhook", "enable", "p").output == "Webhook 'p' enabled.\n"
    shown = json.loads(admin("webhook", "show", "p", "--json").stdout)
    assert (shown["state"], shown["disabledReason"]) == ("enabled", None)
    assert shown["deliveries"] == {"pending": 0, "delivered": 0, "failed": 0}
    assert admin("webhook", "remove", "p", input="n\n", ok=False).exit_code == 1
    assert admin("webhook", "remove", "p", "--yes").output == "Webhook 'p' removed.\n"
    assert json.loads(admin("webhook", "list", "--json").stdout) == []


def test_test_sends_a_signed_ping_and_records_it(admin):
    with running_receiver() as receiver:
        secret = admin("webhook", "add", "p", receiver.url).stdout.strip()
        result = admin("webhook", "test", "p")
        assert result.output.startswith("Delivered: the receiver answered 200 in ")
        [received] = receiver.received
    payload = verify(secret, received)
    assert payload["type"] == "webhook.test" and payload["organization"] == "default"
    [delivery] = json.loads(admin("webhook", "deliveries", "p", "--json").stdout)
    assert (delivery["type"], delivery["status"], delivery["lastStatus"]) == (
        "webhook.test", "delivered", 200)


def test_test_reports_a_failure_in_one_line(admin):
    with running_receiver(default=500) as receiver:
        admin("webhook", "add", "p", receiver.url)
        assert_fails(admin("webhook", "test", "p", ok=False),
                     "Not delivered: HTTP 500: receiver says no")
    failed = json.loads(admin("webhook", "deliveries", "p", "--failed", "--json").stdout)
    assert [d["lastStatus"] for d in failed] == [500]


def test_scim_writes_reach_the_receiver_through_the_worker(admin, app):
    scim = ScimClient(app.test_client(), provision_key(admin))
    with running_receiver() as receiver:
        secret = admin("webhook", "add", "product", receiver.url).stdout.strip()
        user = make_user(scim, "alice@example.com")
        scim.patch(f"Users/{user['id']}", json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}]})
        assert scim.delete(f"Users/{user['id']}").status_code == 204
        assert admin("webhook", "worker", "--once").output == "3 deliveries attempted.\n"
        events = [verify(secret, r) for r in receiver.received]
    assert [e["type"] for e in events] == ["user.created", "user.disabled", "user.removed"]
    assert [e["user"]["id"] for e in events] == [user["id"]] * 3
    assert events[0]["actor"] == "okta" and events[0]["source"] == "scim"
    assert events[0]["sequence"] < events[1]["sequence"] < events[2]["sequence"]
    listed = json.loads(admin("webhook", "deliveries", "product", "--json").stdout)
    assert [d["status"] for d in listed] == ["delivered"] * 3
    assert json.loads(admin("webhook", "show", "product", "--json").stdout)["deliveries"] == {
        "pending": 0, "delivered": 3, "failed": 0}


def test_event_filters_choose_what_a_webhook_gets(admin, app):
    scim = ScimClient(app.test_client(), provision_key(admin))
    with running_receiver() as receiver:
        admin("webhook", "add", "offboarding", receiver.url, "--event", "user.removed")
        user = make_user(scim, "alice@example.com")
        scim.delete(f"Users/{user['id']}")
        admin("webhook", "worker", "--once")
        assert [e["type"] for e in receiver.events()] == ["user.removed"]


def test_a_webhook_hears_only_its_own_organization(admin, app):
    admin("org", "create", "other")
    scim_a = ScimClient(app.test_client(), provision_key(admin))
    scim_b = ScimClient(app.test_client(), provision_key(admin, org="other"))
    with running_receiver() as for_a, running_receiver() as for_b:
        admin("webhook", "add", "product", for_a.url)
        admin("--org", "other", "webhook", "add", "product", for_b.url)
        make_user(scim_a, "a@example.com")
        make_user(scim_b, "b@example.com")
        admin("webhook", "worker", "--once")
        assert [e["user"]["userName"] for e in for_a.events()] == ["a@example.com"]
        assert [e["user"]["userName"] for e in for_b.events()] == ["b@example.com"]
    # Each organization's CLI sees its own webhook only.
    assert len(json.loads(admin("--org", "other", "webhook", "deliveries", "product",
                                "--json").stdout)) == 1


def test_retry_requeues_failed_deliveries(admin, app):
    with running_receiver(default=500) as receiver:
        admin("webhook", "add", "p", receiver.url)
        admin("webhook", "test", "p", ok=False)
        assert admin("webhook", "disable", "p").exit_code == 0
        result = admin("webhook", "retry", "p")
        assert result.stdout == "1 failed delivery of webhook 'p' queued again.\n"
        assert "is disabled" in result.stderr
        receiver.default = 200
        admin("webhook", "enable", "p")
        assert admin("webhook", "worker", "--once").output == "1 delivery attempted.\n"
        assert receiver.answered == [500, 200]


def _documented_receiver() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    block = text.split("```python\n# receiver.py", 1)[1].split("```", 1)[0]
    return "# receiver.py" + block


def test_the_documented_flask_receiver_verifies_and_ends_sessions(admin, app, monkeypatch):
    """docs/webhooks.md's receiver, run as written, against real deliveries."""
    scim = ScimClient(app.test_client(), provision_key(admin))
    port = free_port()
    secret = admin("webhook", "add", "product",
                   f"http://127.0.0.1:{port}/scimsvc/events").stdout.strip()
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    receiver: dict = {"__name__": "receiver"}
    exec(compile(_documented_receiver(), "docs/webhooks.md", "exec"), receiver)
    server = make_server("127.0.0.1", port, receiver["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert admin("webhook", "test", "product").output.startswith("Delivered: the receiver "
                                                                     "answered 204")
        user = make_user(scim, "alice@example.com")
        scim.patch(f"Users/{user['id']}", json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}]})
        admin("webhook", "worker", "--once")
        assert receiver["ended_sessions"] == [user["id"]]
        assert len(receiver["seen_ids"]) == 3
        # A forged delivery is refused.
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/scimsvc/events", data=b'{"id":"evt_x"}', method="POST",
            headers={"webhook-id": "evt_x", "webhook-timestamp": str(int(time.time())),
                     "webhook-signature": "v1,AAAA", "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(forged, timeout=10)
        assert refused.value.code == 400
    finally:
        server.shutdown()


def test_a_webhook_key_that_is_not_a_key_is_a_one_line_error(admin, app):
    app.config["SCIMSVC_WEBHOOK_KEY"] = "not-a-key"
    assert_fails(admin("webhook", "add", "p", "https://x.example.test/", ok=False),
                 "SCIMSVC_WEBHOOK_KEY does not hold a webhook key (32 url-safe base64 bytes, as "
                 "Fernet.generate_key() makes).")


def test_webhook_settings_parse_from_the_environment():
    from scimsvc.config import ConfigError, from_environment

    assert from_environment({"SCIMSVC_WEBHOOK_WORKER": "off", "SCIMSVC_WEBHOOK_TIMEOUT": "2.5",
                             "SCIMSVC_WEBHOOK_MAX_AGE_HOURS": "48"}) == {
        "SCIMSVC_WEBHOOK_WORKER": False, "SCIMSVC_WEBHOOK_TIMEOUT": 2.5,
        "SCIMSVC_WEBHOOK_MAX_AGE_HOURS": 48.0}
    with pytest.raises(ConfigError, match="SCIMSVC_WEBHOOK_WORKER='maybe' is not valid: "
                                          "expected on or off."):
        from_environment({"SCIMSVC_WEBHOOK_WORKER": "maybe"})
    with pytest.raises(ConfigError, match="expected a positive number"):
        from_environment({"SCIMSVC_WEBHOOK_TIMEOUT": "0"})
