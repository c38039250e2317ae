"""scimsvc api-key create / rotate / list / revoke."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from scimsvc.models import utcnow
from tests.cli import assert_fails

KEY = re.compile(r"^scimsvc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")  # the 12 hex digits are the prefix


def _team(admin, name="idp", permitted=True):
    if permitted:
        admin("role", "create", "scim-provisioner", "--permission", "scim:provision")
        admin("team", "create", name, "--role", "scim-provisioner")
    else:
        admin("team", "create", name)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.removesuffix("Z"))


def test_create_prints_only_the_key_on_stdout(admin):
    _team(admin)
    result = admin("api-key", "create", "--team", "idp", "--name", "okta")
    assert KEY.match(result.stdout.rstrip("\n")), result.stdout
    assert result.stdout.count("\n") == 1  # `KEY=$(scimsvc api-key create ...)` gets just the key
    assert result.stderr == ("API key 'okta' for team 'idp' created; it can call the SCIM API "
                             "(/scim/v2). Copy it now: it is not stored and cannot be shown "
                             "again.\n")


def test_create_json_has_the_key_field(admin):
    _team(admin)
    data = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta", "--json").stdout)
    assert KEY.match(data["key"])
    assert data["key"].startswith(data["prefix"] + "_")
    assert {k: data[k] for k in ("name", "team", "state", "lastUsed", "expires", "revoked")} == {
        "name": "okta", "team": "idp", "state": "active", "lastUsed": None, "expires": None,
        "revoked": None,
    }


def test_each_key_is_different(admin):
    _team(admin)
    first = admin("api-key", "create", "--team", "idp", "--name", "a").stdout
    second = admin("api-key", "create", "--team", "idp", "--name", "b").stdout
    assert first != second


def test_create_with_expiry(admin):
    _team(admin)
    before = utcnow().replace(microsecond=0)
    result = admin("api-key", "create", "--team", "idp", "--name", "okta", "--expires-in", "30")
    after = utcnow()
    assert re.search(r"\(expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", result.stderr)
    (listed,) = json.loads(admin("api-key", "list", "--json").stdout)
    assert before + timedelta(days=30) <= _parse(listed["expires"]) <= after + timedelta(days=30)


def test_create_mistakes(admin):
    _team(admin)
    assert_fails(admin("api-key", "create", "--team", "nope", "--name", "okta", ok=False), "No team 'nope'.")
    for days in ("0", "-3", "36501", "99999999999"):
        assert_fails(admin("api-key", "create", "--team", "idp", "--name", "okta", "--expires-in", days,
                           ok=False), "--expires-in is a number of days from 1 to 36500.")
    assert_fails(admin("api-key", "create", "--team", "idp", "--name", " ", ok=False),
                 "An API key needs a name.")
    assert_fails(admin("api-key", "create", "--team", "idp", "--name", "k" * 201, ok=False),
                 "An API key name is at most 200 characters.")
    admin("api-key", "create", "--team", "idp", "--name", "okta")
    assert_fails(admin("api-key", "create", "--team", "idp", "--name", "okta", ok=False),
                 "API key 'okta' already exists.")
    missing = admin("api-key", "create", "--name", "x", ok=False)
    assert missing.exit_code == 2
    assert "Missing option '--team'" in missing.output


def test_create_for_a_team_without_the_permission_warns(admin):
    _team(admin, "readers", permitted=False)
    result = admin("api-key", "create", "--team", "readers", "--name", "k")
    assert KEY.match(result.stdout.strip())
    assert result.stderr.startswith(
        "Warning: team 'readers' has no role granting scim:provision, directory:read or "
        "events:read, so every API answers this key with 403 until it gets one: scim:provision "
        "opens the SCIM API (/scim/v2); directory:read opens the access API (/api/v1/users) and "
        "AuthZEN (/access/v1); events:read opens the change feed (/api/v1/events).\n")


@pytest.mark.parametrize("permissions, apis", [
    (["directory:read"], "the access API (/api/v1/users) and AuthZEN (/access/v1)"),
    (["events:read"], "the change feed (/api/v1/events)"),
    (["directory:read", "events:read"],
     "the access API (/api/v1/users), AuthZEN (/access/v1) and the change feed "
     "(/api/v1/events)"),
])
def test_a_product_key_is_not_warned_and_says_what_it_can_call(admin, permissions, apis):
    admin("role", "create", "product-role", *[a for p in permissions for a in ("--permission", p)])
    admin("team", "create", "product", "--role", "product-role")
    result = admin("api-key", "create", "--team", "product", "--name", "backend")
    assert "Warning" not in result.stderr and "403" not in result.stderr
    assert result.stderr.startswith(f"API key 'backend' for team 'product' created; it can call "
                                    f"{apis}. Copy it now"), result.stderr


def test_list_never_shows_secrets(admin):
    _team(admin)
    secret = admin("api-key", "create", "--team", "idp", "--name", "okta").stdout.strip()
    prefix, random_part = secret[:len("scimsvc_") + 12], secret[len("scimsvc_") + 13:]
    text = admin("api-key", "list").stdout
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "TEAM", "PREFIX", "STATE", "LAST", "USED", "EXPIRES"]
    assert lines[1].split() == ["okta", "idp", prefix, "active", "-", "-"]
    as_json = admin("api-key", "list", "--json").stdout
    assert secret not in text and secret not in as_json
    assert random_part not in text and random_part not in as_json
    assert "key" not in json.loads(as_json)[0]


def test_revoke_asks_for_confirmation_then_marks_the_key(admin):
    _team(admin)
    admin("api-key", "create", "--team", "idp", "--name", "okta")
    declined = admin("api-key", "revoke", "okta", input="n\n", ok=False)
    assert declined.exit_code == 1
    assert "Revoke it? [y/N]" in declined.output
    assert json.loads(admin("api-key", "list", "--json").stdout)[0]["state"] == "active"

    assert admin("api-key", "revoke", "okta", "--yes").stdout == "API key 'okta' revoked.\n"
    (listed,) = json.loads(admin("api-key", "list", "--json").stdout)
    assert listed["state"] == "revoked"
    assert listed["revoked"] is not None
    # Revoking again is harmless and keeps the first time.
    admin("api-key", "revoke", "okta", "--yes")
    assert json.loads(admin("api-key", "list", "--json").stdout)[0]["revoked"] == listed["revoked"]


def test_revoke_unknown(admin):
    assert_fails(admin("api-key", "revoke", "nope", "--yes", ok=False), "No API key 'nope'.")


def test_a_revoked_keys_name_can_be_reused_and_the_old_key_keeps_its_history(admin):
    _team(admin)
    first = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta", "--json").stdout)
    admin("api-key", "revoke", "okta", "--yes")
    second = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta", "--json").stdout)
    listed = {k["name"]: (k["prefix"], k["state"]) for k in json.loads(admin("api-key", "list", "--json").stdout)}
    old_prefix = first["prefix"].removeprefix("scimsvc_")
    assert listed == {"okta": (second["prefix"], "active"),
                      f"okta@{old_prefix}": (first["prefix"], "revoked")}


def test_rotate_prints_the_new_key_once_and_names_the_old_one(admin):
    _team(admin)
    old = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta", "--json").stdout)
    result = admin("api-key", "rotate", "okta")
    assert KEY.match(result.stdout.rstrip("\n")) and result.stdout.count("\n") == 1
    old_name = f"okta@{old['prefix'].removeprefix('scimsvc_')}"
    assert re.fullmatch(
        rf"API key 'okta' rotated\. The old key, now '{old_name}', is accepted until "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, then refused\. "
        r"Copy the new key now: it is not stored and cannot be shown again\.\n", result.stderr)
    listed = {k["name"]: k for k in json.loads(admin("api-key", "list", "--json").stdout)}
    assert listed["okta"]["prefix"] == result.stdout.strip()[:len("scimsvc_") + 12]
    assert listed["okta"]["team"] == "idp" and listed["okta"]["expires"] is None
    grace_end = _parse(listed[old_name]["expires"])
    assert timedelta(hours=23, minutes=59) < grace_end - utcnow() <= timedelta(hours=24)


def test_rotate_json_and_grace_zero_revokes_at_once(admin):
    _team(admin)
    admin("api-key", "create", "--team", "idp", "--name", "okta", "--expires-in", "30")
    data = json.loads(admin("api-key", "rotate", "okta", "--grace", "0", "--json").stdout)
    assert KEY.match(data["key"]) and data["name"] == "okta" and data["state"] == "active"
    assert data["replaced"]["state"] == "revoked" and data["replaced"]["name"].startswith("okta@")
    # The new key gets the old one's lifetime.
    assert timedelta(days=29, hours=23) < _parse(data["expires"]) - utcnow() <= timedelta(days=30)


def test_rotate_mistakes(admin):
    _team(admin)
    assert_fails(admin("api-key", "rotate", "nope", ok=False), "No API key 'nope'.")
    admin("api-key", "create", "--team", "idp", "--name", "okta")
    admin("api-key", "revoke", "okta", "--yes")
    assert_fails(admin("api-key", "rotate", "okta", ok=False),
                 "API key 'okta' is revoked: create a new one with 'api-key create'.")
    bad = admin("api-key", "rotate", "okta", "--grace", "-1", ok=False)
    assert bad.exit_code == 2 and "--grace" in bad.output
