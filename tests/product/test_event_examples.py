"""The event examples in docs/integrate.md are what scimsvc writes: one real event of each type.

Every type of the catalogue is produced here through the real SCIM API and CLI (and the
``webhook.test`` event through ``scimsvc webhook test`` to a receiver on 127.0.0.1); each JSON
example in the catalogue section of the page must have the same fields, nested the same way,
and the same ``type``, ``source``, ``actor`` and ``changes`` as the real event it shows.

To regenerate the examples: SCIMSVC_EVENT_EXAMPLES=/tmp/events.json pytest this file, and copy.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from scimsvc.services import events as event_types
from scimsvc.services import webhooks
from tests.conftest import make_user
from tests.receiver import running_receiver

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
DOC = Path(__file__).resolve().parents[2] / "docs" / "integrate.md"


def _patch(scim, path: str, *operations) -> None:
    response = scim.patch(path, json={"schemas": [PATCH], "Operations": list(operations)})
    assert response.status_code in (200, 204), response.get_data(as_text=True)


def _real_events(admin, scim, product) -> list[dict[str, Any]]:
    """The README's organization going through one change of every kind."""
    admin("permission", "add", "chat:use", "--title", "Use the chat")
    admin("permission", "add", "models:use", "--title", "Use the models")
    admin("role", "create", "member", "--permission", "chat:use")
    admin("role", "create", "modeller", "--permission", "models:use")
    admin("team", "create", "employees", "--role", "member")
    admin("team", "create", "modellers", "--role", "modeller")
    admin("provisioning", "assign-team", "employees")
    alice = make_user(scim, "alice@example.com", externalId="00u1abcd",
                      name={"givenName": "Alice", "familyName": "Smith"},
                      emails=[{"value": "alice@example.com", "type": "work", "primary": True}])
    path = f"Users/{alice['id']}"
    _patch(scim, path, {"op": "replace", "path": "name.givenName", "value": "Ali"},
           {"op": "replace", "path": "password", "value": "N3w!secret-pw"})
    _patch(scim, path, {"op": "replace", "path": "active", "value": False})
    _patch(scim, path, {"op": "replace", "path": "active", "value": True})
    admin("team", "add-member", "modellers", "alice@example.com")
    admin("team", "remove-member", "modellers", "alice@example.com")
    group = scim.post("Groups", json={"schemas": [GROUP], "displayName": "ml-engineers"})
    assert group.status_code == 201, group.get_data(as_text=True)
    admin("team", "link-group", "modellers", "ml-engineers")
    _patch(scim, f"Groups/{group.get_json()['id']}",
           {"op": "add", "path": "members", "value": [{"value": alice["id"]}]})
    assert scim.delete(path).status_code == 204
    make_user(scim, "alice@example.com", externalId="00u1abcd")  # the account comes back
    found = product.get("/api/v1/events?limit=1000").get_json()["data"]
    with running_receiver() as receiver:
        admin("webhook", "add", "product", receiver.url)
        admin("webhook", "test", "product")
        [test_event] = receiver.wait_for(1)
    return found + [test_event]


def _shape(value: Any) -> Any:
    """The fields of ``value``, nested, without the values (a null is any scalar)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], (dict, list)) else "list"
    return "scalar"


def _documented() -> list[dict[str, Any]]:
    catalogue = DOC.read_text().split("## 5. The event catalogue", 1)[1]
    blocks = re.findall(r"```json\n(.*?)```", catalogue, re.S)
    return [json.loads(block) for block in blocks]


def test_every_event_type_has_a_full_example_as_the_code_writes_it(admin, scim, product):
    real = _real_events(admin, scim, product)
    out = os.environ.get("SCIMSVC_EVENT_EXAMPLES")
    if out:
        Path(out).write_text(json.dumps(real, indent=1))
    assert {e["type"] for e in real} == set(event_types.TYPES) | {webhooks.TEST_EVENT}
    documented = _documented()
    assert {e["type"] for e in documented} == set(event_types.TYPES) | {webhooks.TEST_EVENT}
    for example in documented:
        matches = [e for e in real if (e["type"], e["source"]) == (example["type"],
                                                                   example["source"])]
        assert matches, f"no real {example['type']} event from {example['source']}"
        assert any(_shape(e) == _shape(example) for e in matches), (example, matches[0])
        assert any((e["actor"], e["changes"]) == (example["actor"], example["changes"])
                   for e in matches), (example["changes"], [e["changes"] for e in matches])
    access = [e for e in real if e["type"] == event_types.ACCESS_CHANGED]
    # team add-member, remove-member (cli), then the linked group's new member (scim)
    assert [(e["source"], e["user"]["teams"]) for e in access] == [
        ("cli", ["employees", "modellers"]), ("cli", ["employees"]),
        ("scim", ["employees", "modellers"])]
