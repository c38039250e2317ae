"""SCIMSVC_TRUSTED_PROXIES: forwarded headers are believed only from a trusted peer: a listed
proxy address or network, or (a number of proxies) a loopback one."""
from __future__ import annotations

import json
import logging

import pytest

from scimsvc import create_app
from scimsvc.config import ConfigError, from_environment
from tests.conftest import ScimClient, _close
from tests.services.test_audit import events

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


def test_a_counted_proxy_is_believed_only_from_a_loopback_peer(tmp_path, database_url, api_key,
                                                             caplog):
    # The port reached directly from another host: the count must not let it choose its address.
    app = _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=1)
    caplog.set_level(logging.INFO, logger="scimsvc.requests")
    client = ScimClient(app.test_client(), api_key)
    client.client.environ_base.update({"REMOTE_ADDR": "192.0.2.50"})
    response = client.get("ServiceProviderConfig", headers=FORWARDED)
    assert response.get_json()["meta"]["location"] == "http://localhost/scim/v2/ServiceProviderConfig"
    [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
    assert json.loads(record.getMessage())["remote_addr"] == "192.0.2.50"


PROXIES = "10.0.0.5, 10.1.0.0/16"


def _journaled_addresses(app, client_address: str, forwarded: list[str]) -> list:
    """Refused requests from ``client_address``, each with one X-Forwarded-For; the
    statuses and the (address, requests) the journal summarised them under."""
    client = app.test_client()
    statuses = [client.get("/api/v1/users", headers={"X-Forwarded-For": value},
                           environ_base={"REMOTE_ADDR": client_address}).status_code
                for value in forwarded]
    return statuses, sorted((e["clientAddress"], e["refusal"]["requests"])
                            for e in events(app) if e["refusal"])


def test_listed_proxies_give_the_right_most_untrusted_address(tmp_path, database_url, admin,
                                                              api_key, caplog):
    app = _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=PROXIES)
    try:
        caplog.set_level(logging.INFO, logger="scimsvc.requests")
        client = ScimClient(app.test_client(), api_key)
        seen = []
        for peer, forwarded in [
                ("10.0.0.5", "203.0.113.7"),  # one proxy
                ("10.0.0.5", "10.6.6.6, 203.0.113.7"),  # what the client sent in front is ignored
                ("10.0.0.5", "203.0.113.7, 10.1.2.3"),  # a load balancer, then the proxy
                ("10.1.9.9", "10.1.2.3, 10.0.0.5"),  # only proxies: the left-most
                ("10.0.0.5", "junk, 203.0.113.7"),
                ("10.0.0.5", "203.0.113.7, junk"),  # nothing left of junk is believed
                ("::ffff:10.0.0.5", "2001:db8::7"),
                ("192.0.2.50", "203.0.113.7"),  # not a proxy: its headers are ignored
        ]:
            caplog.clear()
            client.client.environ_base["REMOTE_ADDR"] = peer
            response = client.get("ServiceProviderConfig",
                                  headers={**FORWARDED, "X-Forwarded-For": forwarded})
            [record] = [r for r in caplog.records if r.name == "scimsvc.requests"]
            seen.append((json.loads(record.getMessage())["remote_addr"],
                         response.get_json()["meta"]["location"].split("/scim/")[0]))
        assert seen == [("203.0.113.7", "https://scim.example.com")] * 3 + [
            ("10.1.2.3", "https://scim.example.com"), ("203.0.113.7", "https://scim.example.com"),
            ("10.0.0.5", "https://scim.example.com"), ("2001:db8::7", "https://scim.example.com"),
            ("192.0.2.50", "http://localhost")]
    finally:
        _close(app)


def test_a_direct_client_rotating_x_forwarded_for_is_limited_and_journaled_as_itself(
        tmp_path, database_url, admin):
    app = _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=PROXIES,
               SCIMSVC_RATE_LIMIT_REFUSED="3 per minute")
    try:
        statuses, journaled = _journaled_addresses(
            app, "192.0.2.50", [f"198.51.100.{i}" for i in range(6)])
        assert statuses == [401] * 3 + [429] * 3
        assert journaled == [("192.0.2.50", 3), ("192.0.2.50", 3)]  # no_key, then rate_limited
        # Through the proxy each client has its own budget and is journaled under its address.
        statuses, journaled = _journaled_addresses(app, "10.0.0.5", ["198.51.100.1", "198.51.100.2"])
        assert statuses == [401, 401]
        assert ("198.51.100.1", 1) in journaled and ("198.51.100.2", 1) in journaled
    finally:
        _close(app)


def test_trusted_proxies_is_a_small_count_or_networks():
    assert from_environment({"SCIMSVC_TRUSTED_PROXIES": "2"}) == {"SCIMSVC_TRUSTED_PROXIES": 2}
    assert from_environment({"SCIMSVC_TRUSTED_PROXIES": "10.0.0.5,10.1.0.0/16, 2001:db8::/32"}) == \
        {"SCIMSVC_TRUSTED_PROXIES": ("10.0.0.5/32", "10.1.0.0/16", "2001:db8::/32")}
    for bad in ("-1", "many", "11", "10.0.0.300", "10.0.0.5,,10.0.0.6", "10.0.0.5;10.0.0.6"):
        with pytest.raises(ConfigError, match=r"^SCIMSVC_TRUSTED_PROXIES='.*' is not valid: "
                                              r"expected the proxies' addresses or networks, such "
                                              r"as 10\.0\.0\.5,10\.1\.0\.0/16, or a number of "
                                              r"proxies on this host from 0 to 10\.$"):
            from_environment({"SCIMSVC_TRUSTED_PROXIES": bad})


def test_a_bad_value_set_in_code_is_one_config_error(tmp_path, database_url):
    with pytest.raises(ConfigError, match=r"^SCIMSVC_TRUSTED_PROXIES=\['proxy'\] is not valid: "):
        _app(tmp_path, database_url, SCIMSVC_TRUSTED_PROXIES=["proxy"])
