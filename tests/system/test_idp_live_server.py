"""Okta and Entra sequences against a live ``scimsvc serve`` over real HTTP (issue 4, "Done when").

One server per module (gunicorn, 2 workers, SQLite in a temp folder); every sequence uses its own
API key and its own userNames, so the sequences do not depend on each other's users.
"""
from __future__ import annotations

import pytest

from tests.idp import entra_traffic as entra_wire
from tests.idp import okta_traffic as okta_wire
from tests.idp.entra_traffic import ENTERPRISE, patch
from tests.idp.live import LiveServer
from tests.idp.replay import IdP, expect, expect_error, expect_list

pytestmark = pytest.mark.system  # starts real processes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("live") / "instance")
    live.start()
    yield live
    live.stop()


def test_okta_sequence_over_http(server):
    okta = IdP(server.client(), server.key("okta-live"), user_agent=okta_wire.USER_AGENT,
               content_type=okta_wire.CONTENT_TYPE, extra_headers=okta_wire.HEADERS)
    expect_list(okta.search(**okta_wire.CONNECTION_TEST_QUERY), total=0)
    response = okta.search(okta_wire.LOOKUP_FILTER, **okta_wire.LOOKUP_QUERY)
    assert expect_list(response, total=0) == []
    assert response.headers["X-Request-Id"]

    response = okta.post("Users", okta_wire.create_user())
    user = expect(response, 201)
    assert response.headers["Location"] == f"http://127.0.0.1:{server.port}/scim/v2/Users/{user['id']}"
    assert response.headers["ETag"] == user["meta"]["version"]
    assert "password" not in user and "1mz050nq" not in response.get_data(as_text=True)
    expect_error(okta.post("Users", okta_wire.create_user(userName="TEST.USER@okta.local")), 409, "uniqueness")

    current = expect(okta.get(f"Users/{user['id']}"), 200)
    updated = expect(okta.put(f"Users/{user['id']}", okta_wire.put_user(user["id"], password="n3w!")), 200)
    assert updated["name"]["middleName"] == "Excited" and updated["meta"]["version"] != current["meta"]["version"]
    assert expect(okta.patch(f"Users/{user['id']}", okta_wire.set_active(False)), 200)["active"] is False
    assert expect_list(okta.search(okta_wire.LOOKUP_FILTER), total=1)[0]["active"] is False
    assert expect(okta.patch(f"Users/{user['id']}", okta_wire.set_active(True)), 200)["active"] is True


def test_entra_sequence_over_http(server):
    entra = IdP(server.client(), server.key("entra-live"), user_agent=entra_wire.USER_AGENT)
    expect_list(entra.search(entra_wire.test_connection_filter()), total=0)
    user = expect(entra.post("Users", entra_wire.create_user()), 201)
    boss = expect(entra.post("Users", entra_wire.create_enterprise_user_pascal()), 201)
    assert boss[ENTERPRISE]["department"] == "bob"
    found = expect_list(entra.search(
        'emails[type eq "work"].value eq "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"'), total=1)
    assert found[0]["id"] == user["id"]

    url = f"Users/{user['id']}"
    expect(entra.patch(url, patch(*entra_wire.REPLACE_MANY_WITHOUT_FLAG)), 200)
    flagged = expect(entra.patch(url, patch(*entra_wire.REPLACE_MANY_WITH_FLAG)), 200)
    assert flagged["name"]["givenName"] == "Kkom" and flagged[ENTERPRISE]["employeeNumber"] == "Aklq"
    managed = expect(entra.patch(url, patch(entra_wire.set_manager_bare(boss["id"]))), 200)
    assert managed[ENTERPRISE]["manager"] == {"value": boss["id"]}
    assert expect(entra.patch(url, patch(entra_wire.DISABLE_WITHOUT_FLAG)), 200)["active"] is False
    assert expect(entra.get(url), 200)["active"] is False

    response = entra.delete(url)
    assert response.status_code == 204 and response.get_data() == b""
    expect_error(entra.get(url), 404)
    expect_error(entra.put(url, entra_wire.create_user()), 404)
    expect_error(entra.patch(url, patch(entra_wire.DISABLE_WITH_FLAG)), 404)
    expect_error(entra.delete(url), 404)
    expect_error(entra.post("Users", entra_wire.USER_JUNK), 400, "invalidSyntax")
    expect_error(entra.patch(f"Users/{boss['id']}", patch({"op": "frobnicate", "path": "active", "value": False})),
                 400, "invalidSyntax")
