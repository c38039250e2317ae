"""What the audit journal shows for a replayed Okta and Entra sequence (issue 4, "Done when").

Read through the admin's own command, ``scimsvc audit list --key NAME --json``.
"""
from __future__ import annotations

import json

from . import entra_traffic as entra_wire
from . import okta_traffic as okta_wire
from .entra_traffic import patch
from .replay import expect, expect_error, expect_list


def _journal(admin, key_name: str) -> list[dict]:
    return json.loads(admin("audit", "list", "--key", key_name, "--json").stdout)


def test_okta_sequence_is_journaled_with_diffs_and_no_secret(okta, admin):
    expect_list(okta.search(okta_wire.LOOKUP_FILTER, **okta_wire.LOOKUP_QUERY), total=0)   # read: not journaled
    created = okta.post("Users", okta_wire.create_user())
    user = expect(created, 201)
    expect_error(okta.post("Users", okta_wire.create_user(userName="TEST.user@okta.local")), 409, "uniqueness")
    put = okta.put(f"Users/{user['id']}", okta_wire.put_user(user["id"], password="n3wP4ss!"))
    expect(put, 200)
    expect(okta.patch(f"Users/{user['id']}", okta_wire.set_active(False)), 200)

    events = _journal(admin, "okta")
    assert [(e["method"], e["outcome"]["status"]) for e in events] == [
        ("POST", 201), ("POST", 409), ("PUT", 200), ("PATCH", 200)]
    assert [e["operation"] for e in events][0] == "create"
    assert events[-1]["operation"] == "disable"
    assert events[1]["outcome"]["scimType"] == "uniqueness"
    assert {e["userAgent"] for e in events} == {okta_wire.USER_AGENT}
    assert {e["apiKey"]["name"] for e in events} == {"okta"}
    assert events[0]["requestId"] == created.headers["X-Request-Id"]
    assert events[2]["requestId"] == put.headers["X-Request-Id"]
    assert events[0]["target"]["userName"] == "test.user@okta.local"
    assert events[-1]["changes"]["active"] == {"old": True, "new": False}
    assert events[2]["changes"]["name.middleName"] == {"old": None, "new": "Excited"}
    text = json.dumps(events)
    assert "1mz050nq" not in text and "n3wP4ss!" not in text and okta.key not in text


def test_entra_delete_and_the_404s_after_it_are_journaled(entra, admin):
    user = expect(entra.post("Users", entra_wire.create_user()), 201)
    expect(entra.patch(f"Users/{user['id']}", patch(*entra_wire.REPLACE_MANY_WITH_FLAG)), 200)
    assert entra.delete(f"Users/{user['id']}").status_code == 204
    expect_error(entra.patch(f"Users/{user['id']}", patch(entra_wire.DISABLE_WITH_FLAG)), 404)

    events = _journal(admin, "entra")
    assert [(e["method"], e["operation"], e["outcome"]["status"]) for e in events][:3] == [
        ("POST", "create", 201), ("PATCH", "patch", 200), ("DELETE", "remove", 204)]
    assert events[3]["outcome"]["status"] == 404 and events[3]["method"] == "PATCH"
    changes = events[1]["changes"]
    assert changes["name.givenName"] == {"old": "givenName", "new": "Kkom"}
    assert changes["displayName"] == {"old": None, "new": "Bjfe"}
    assert changes[f"{entra_wire.ENTERPRISE}:employeeNumber"] == {"old": None, "new": "Aklq"}
    assert changes["emails"]["new"] == [{"value": "TestMhvaes@test.microsoft.com", "type": "work", "primary": True}]
