"""SCIMSVC_TRUSTED_PROXIES: forwarded headers are believed only from that many proxies."""
from __future__ import annotations

import json
import logging

import pytest

from scimsvc import create_app
from scimsvc.config import ConfigError, from_environment
from tests.conftest import ScimClient

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "scim.example.com"}
PROXY_ADDR = {"REMOTE_ADDR": "127.0.0.1"}  # the proxy on the same host


def _app(tmp_path, database_url, **settings):
    # No SCIMSVC_BASE_URL: meta.location is built from the request, as the proxy shaped it.
    return create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                       "SQLALCHEMY_DATABASE_URI": database_url, "SCIMSVC_BASE_URL": None,
                       **settings})


def _through_proxy(app, key, caplog, headers):
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    caplog.clear()
    client = ScimClient(app.test_client(), key)
    client.client.environ_base.update(PROXY_ADDR)
    response = client.get("ServiceProviderConfig", headers=headers)
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    return json.loads(record.getMessage())["remote_addr"], response.get_json()["meta"]["location"]


def test_without_the_setting_forwarded_headers_are_ignored(tmp_path, database_url, api_key, caplog):
    app = _app(tmp_path, database_url)
    address, location = _through_proxy(app, api_key, caplog, FORWARDED)
    assert address == "127.0.0.1"
    assert location == "http://localhost/scim/v2/ServiceProviderConfig"


def test_one_trusted_proxy_gives_the_clients_address_scheme_and_host(tmp_path, database_url,
                                                                     api_key, caplog):
    app = _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=1)
    address, location = _through_proxy(app, api_key, caplog, FORWARDED)
    assert address == "203.0.113.7"
    assert location == "https://scim.example.com/scim/v2/ServiceProviderConfig"


def test_an_address_the_client_forged_in_front_of_the_proxys_is_ignored(tmp_path, database_url,
                                                                      api_key, caplog):
    app = _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=1)
    # The client sent "X-Forwarded-For: 10.6.6.6"; nginx appended the address it saw.
    address, _ = _through_proxy(app, api_key, caplog,
                                {**FORWARDED, "X-Forwarded-For": "10.6.6.6, 203.0.113.7"})
    assert address == "203.0.113.7"


def test_trusted_proxies_is_a_small_count():
    assert from_environment({"SCIMSVC_TRUSTED_PROXIES": "2"}) == {"SCIMSVC_TRUSTED_PROXIES": 2}
    for bad in ("-1", "many", "11"):
        with pytest.raises(ConfigError, match=r"^SCIMSVC_TRUSTED_PROXIES='.*' is not valid: "
                                              "expected a number of proxies from 0 to 10\\.$"):
            from_environment({"SCIMSVC_TRUSTED_PROXIES": bad})
