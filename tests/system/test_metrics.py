"""Prometheus metrics of a real ``scimsvc serve`` (two gunicorn workers), on the loopback listener."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import console_script, free_port, wait_until_answering

pytestmark = pytest.mark.system

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
INVENTED = "scimsvc_0123456789ab_" + "A" * 43


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with _opener.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _admin(env, folder: Path, *args: str) -> str:
    done = subprocess.run([console_script(), *args], env=env, cwd=folder, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("metrics")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSVC_")}
    port, metrics_port = free_port(), free_port()
    env.update(SCIMSVC_INSTANCE_PATH=str(tmp_path / "instance"),
               SCIMSVC_METRICS_LISTEN=f"127.0.0.1:{metrics_port}")
    if os.environ.get("SCIMSVC_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("the SQLite file of `make run`; the PostgreSQL servers are in test_multiserver")
    _admin(env, tmp_path, "init")
    _admin(env, tmp_path, "role", "create", "p", "--permission", "scim:provision")
    _admin(env, tmp_path, "team", "create", "idp", "--role", "p")
    key = json.loads(_admin(env, tmp_path, "api-key", "create", "--team", "idp", "--name", "okta",
                            "--expires-in", "30", "--json"))["key"]
    _admin(env, tmp_path, "webhook", "add", "product", "https://product.example.test/hooks")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen([console_script(), "serve", "--port", str(port), "--workers", "2"],
                                   env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_answering(process, lambda: _get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200
                             and _get(f"http://127.0.0.1:{port}/healthz")[0] == 200, log, 60)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", key, log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_metrics_count_requests_operations_refusals_and_key_gauges(served):
    base, metrics_url, key, _log = served
    for _ in range(3):
        assert _get(f"{base}/scim/v2/Users", key)[0] == 200
    assert _get(f"{base}/scim/v2/Users", INVENTED)[0] == 401
    assert _get(f"{base}/scim/v2/Users")[0] == 401
    assert _get(f"{base}/scim/v2/Nowhere", key)[0] == 404
    assert _get(f"{base}/scim/v2/Groups", key)[0] == 200
    status, text = _get(metrics_url)
    assert status == 200
    found = samples(text.decode())
    assert value(found, "scimsvc_http_requests_total", route="/scim/v2/Users", method="GET",
                 status="200") == 3
    assert value(found, "scimsvc_http_requests_total", route="/scim/v2/Users", method="GET",
                 status="401") == 2
    assert value(found, "scimsvc_http_requests_total", route="unmatched", method="GET",
                 status="404") == 1
    assert value(found, "scimsvc_http_request_duration_seconds_count", route="/scim/v2/Users",
                 method="GET") == 5
    assert value(found, "scimsvc_scim_operations_total", operation="list", outcome="success") == 3
    assert value(found, "scimsvc_scim_operations_total", operation="list", outcome="refused") == 2
    assert value(found, "scimsvc_scim_operations_total", operation="group_list",
                 outcome="success") == 1  # the names docs/operations.md lists
    assert value(found, "scimsvc_refusals_total", reason="unknown") == 1
    assert value(found, "scimsvc_refusals_total", reason="no_key") == 1
    expires_in = value(found, "scimsvc_api_key_expires_in_seconds", org="default", key="okta")
    assert 29 * 86400 < expires_in <= 30 * 86400
    since = value(found, "scimsvc_api_key_seconds_since_last_success", org="default", key="okta")
    assert since is not None and 0 <= since < 600
    stamp = value(found, "scimsvc_api_key_last_success_timestamp_seconds", org="default", key="okta")
    assert stamp is not None and not any(name == "scimsvc_api_key_last_success_timestamp_seconds"
                                         and "org_id" in dict(labels) for name, labels in found)
    # The listener reads the webhook backlog too (the webhook was added before serve started).
    assert value(found, "scimsvc_webhook_deliveries_pending", org="default", webhook="product") == 0
    # The key's last-use touch is a write transaction: timed, and (SQLite) its lock wait too.
    assert value(found, "scimsvc_db_write_transaction_seconds_count", database="sqlite") >= 1
    assert value(found, "scimsvc_db_write_lock_wait_seconds_count", database="sqlite") >= 1


def test_refusals_made_before_the_app_are_counted(served):
    # waitress's 400/413/431/501 never reach Flask, so no other metric counted them.
    import socket

    base, metrics_url, _key, _log = served
    port = int(base.rsplit(":", 1)[1])
    sent = [b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 300_000 + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 300_000 + b"\r\n\r\n",
            b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"]
    for raw in sent:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(raw)
            assert sock.recv(12).startswith(b"HTTP/1.")
    found = samples(_get(metrics_url)[1].decode())
    assert value(found, "scimsvc_http_front_refusals_total", status="400") == 1
    assert value(found, "scimsvc_http_front_refusals_total", status="431") == 2
    assert value(found, "scimsvc_http_front_refusals_total", status="501") == 1


def test_metrics_are_not_on_the_public_port(served):
    base, _metrics, key, _log = served
    assert _get(f"{base}/metrics")[0] == 404
    assert _get(f"{base}/metrics", key)[0] == 404


def test_the_servers_log_is_json_lines_without_filter_values(served):
    base, _metrics, key, log = served
    query = "filter=" + urllib.parse.quote('userName eq "alice@example.com"') + "&count=1"
    assert _get(f"{base}/scim/v2/Users?{query}", key)[0] == 200
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line, gunicorn's own included
    assert {"gunicorn.error", "scimsvc.requests"} <= {p["logger"] for p in parsed}
    [searched] = [p for p in parsed if p.get("query")]
    assert searched["query"] == "filter=%5Bredacted%5D&count=1" or \
        searched["query"] == "filter=[redacted]&count=1"
    assert "alice@example.com" not in log.read_text()
