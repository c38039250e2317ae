"""Fixtures: one client per identity provider, each with its own API key and headers."""
from __future__ import annotations

import pytest

from tests.conftest import provision_key

from . import entra_traffic, okta_traffic, other_traffic
from .replay import IdP


def _idp(app, admin, name: str, **headers) -> IdP:
    key = provision_key(admin, name=name)
    return IdP(app.test_client(), key, **headers)


@pytest.fixture
def okta(app, admin) -> IdP:
    """Okta's SCIM client: its User-Agent, the SCIM media type with a charset, its Accept-*."""
    return _idp(app, admin, "okta", user_agent=okta_traffic.USER_AGENT,
                content_type=okta_traffic.CONTENT_TYPE, extra_headers=okta_traffic.HEADERS)


@pytest.fixture
def entra(app, admin) -> IdP:
    """Microsoft Entra ID's provisioning service."""
    return _idp(app, admin, "entra", user_agent=entra_traffic.USER_AGENT,
                content_type=entra_traffic.CONTENT_TYPE)


@pytest.fixture
def onelogin(app, admin) -> IdP:
    return _idp(app, admin, "onelogin", user_agent=other_traffic.ONELOGIN_HEADERS["User-Agent"],
                content_type=other_traffic.ONELOGIN_HEADERS["Content-Type"])


@pytest.fixture
def jumpcloud(app, admin) -> IdP:
    return _idp(app, admin, "jumpcloud", user_agent=other_traffic.JUMPCLOUD_USER_AGENT)


@pytest.fixture
def ping(app, admin) -> IdP:
    # PingFederate's SCIM provisioner sends plain JSON.
    return _idp(app, admin, "pingfederate", user_agent=other_traffic.PING_USER_AGENT,
                content_type="application/json", accept="application/json")
