"""Bearer-key authorization: 401 for every bad credential, 403 without the permission (RFC 6750)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from scimsvc.extensions import db
from scimsvc.models import ApiKey, utcnow
from scimsvc.services import keys
from tests.conftest import ScimClient, make_user, provision_key
from tests.databases import is_postgres
from tests.scimdata import ERROR as ERROR_SCHEMA

DISCOVERY = ("ServiceProviderConfig", "ResourceTypes", "ResourceTypes/User", "Schemas",
             "Schemas/urn:ietf:params:scim:schemas:core:2.0:User")


def _raw(app, headers: dict[str, str], path="/scim/v2/ServiceProviderConfig"):
    """A request with exactly these headers (no key added)."""
    return app.test_client().get(path, headers=headers)


def assert_401(response, error: str | None = None) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/scim+json")
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == "401"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'realm="scimsvc"' in challenge
    if error is None:
        assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no credentials
    else:
        assert f'error="{error}"' in challenge


def assert_403(response) -> None:
    assert response.status_code == 403
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == "403"
    assert body["detail"] == "This API key's team has no role granting 'Provision Users with SCIM'."
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="scimsvc", error="insufficient_scope"'


# --- 401 -----------------------------------------------------------------------

def test_missing_header_is_401(app, admin):
    response = _raw(app, {})
    assert_401(response)
    assert response.get_json(force=True)["detail"] == "Missing 'Authorization: Bearer <key>' header."


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer ",
    "Token {key}",
    "Bearer {key} extra",
    "Bearer {key},{key}",
    "Bearer\t{key}",
    "Bearer{key}",
    "{key}",
])
def test_malformed_header_is_401(app, api_key, header):
    response = _raw(app, {"Authorization": header.format(key=api_key)})
    assert_401(response, "invalid_request")
    assert response.get_json(force=True)["detail"] == (
        "Malformed Authorization header: expected 'Bearer <key>'.")


@pytest.mark.parametrize("header", ["Bearer {key}", "bearer {key}", "BEARER {key}", "Bearer   {key}",
                                    " Bearer {key} "])
def test_well_formed_variants_are_accepted(app, api_key, header):
    """RFC 6750 §2.1: ``"Bearer" 1*SP b64token``, the scheme case-insensitive (RFC 7235 §2.1)."""
    assert _raw(app, {"Authorization": header.format(key=api_key)}).status_code == 200


def test_unknown_key_is_401(app, api_key):
    forged = "scimsvc_000000000000_" + "A" * 43
    assert_401(_raw(app, {"Authorization": f"Bearer {forged}"}), "invalid_token")
    assert_401(_raw(app, {"Authorization": "Bearer not-a-scimsvc-key"}), "invalid_token")


def test_right_prefix_wrong_secret_is_401(app, api_key):
    forged = api_key[:len("scimsvc_") + 13] + ("B" if api_key[-1] != "B" else "C") * 43
    response = _raw(app, {"Authorization": f"Bearer {forged}"})
    assert_401(response, "invalid_token")
    assert response.get_json(force=True)["detail"] == "The API key is unknown, revoked or expired."
    assert forged not in response.get_data(as_text=True)


def test_revoked_key_is_401_on_the_next_request(admin, scim):
    assert scim.get("ServiceProviderConfig").status_code == 200
    admin("api-key", "revoke", "okta", "--yes")
    assert_401(scim.get("ServiceProviderConfig"), "invalid_token")
    assert_401(scim.post("Users", json={"userName": "alice@example.com"}), "invalid_token")


def test_expired_key_is_401(admin, app, monkeypatch):
    provision_key(admin, name="spare")
    data = json.loads(admin("api-key", "create", "--team", "idp", "--name", "okta",
                            "--expires-in", "1", "--json").stdout)
    scim = ScimClient(app.test_client(), data["key"])
    created = keys.utcnow()

    monkeypatch.setattr(keys, "utcnow", lambda: created + timedelta(days=1) - timedelta(minutes=1))
    assert scim.get("ServiceProviderConfig").status_code == 200

    monkeypatch.setattr(keys, "utcnow", lambda: created + timedelta(days=1, seconds=1))
    assert_401(scim.get("ServiceProviderConfig"), "invalid_token")
    expired = {k["name"]: k["state"] for k in json.loads(admin("api-key", "list", "--json").stdout)}
    assert expired == {"okta": "expired", "spare": "active"}


def test_key_deleted_with_its_team_is_401(admin, scim):
    admin("team", "delete", "idp", "--yes")
    assert_401(scim.get("ServiceProviderConfig"), "invalid_token")


# --- 403 -------------------------------------------------------------------------

def test_team_without_the_permission_is_403(admin, app):
    admin("team", "create", "readers")
    key = json.loads(admin("api-key", "create", "--team", "readers", "--name", "r", "--json").stdout)["key"]
    scim = ScimClient(app.test_client(), key)
    assert_403(scim.get("ServiceProviderConfig"))
    assert_403(scim.post("Users", json={"userName": "alice@example.com"}))
    assert_403(scim.get("Users/00000000-0000-0000-0000-000000000000"))


def test_removing_the_role_from_the_team_locks_the_key_out_at_once(admin, scim):
    user = make_user(scim)
    admin("team", "remove-role", "idp", "scim-provisioner")
    assert_403(scim.get(f"Users/{user['id']}"))
    admin("team", "add-role", "idp", "scim-provisioner")
    assert scim.get(f"Users/{user['id']}").status_code == 200


def test_deleting_the_role_locks_the_key_out_at_once(admin, scim):
    user = make_user(scim)
    admin("role", "delete", "scim-provisioner", "--yes")
    assert_403(scim.get(f"Users/{user['id']}"))


def test_a_second_role_keeps_the_key_working(admin, scim):
    admin("role", "create", "backup", "--permission", "scim:provision")
    admin("team", "add-role", "idp", "backup")
    admin("team", "remove-role", "idp", "scim-provisioner")
    assert scim.get("ServiceProviderConfig").status_code == 200


# --- discovery needs a key too -------------------------------------------------------

@pytest.mark.parametrize("path", DISCOVERY)
def test_discovery_endpoints_need_a_key(app, scim, path):
    assert_401(_raw(app, {}, f"/scim/v2/{path}"))
    assert scim.get(path).status_code == 200


# --- last use is recorded, at most about once a minute --------------------------------

@pytest.fixture
def key_updates(app):
    """Count the UPDATE statements on api_keys the app sends."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def _last_used(app, name="okta"):
    with app.app_context():
        return db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.name == name))


def test_two_requests_write_last_used_once(app, scim, key_updates):
    assert _last_used(app) is None
    scim.get("ServiceProviderConfig")
    first = _last_used(app)
    assert first is not None
    scim.get("ServiceProviderConfig")
    assert _last_used(app) == first
    assert len(key_updates) == 1


def test_a_write_request_does_not_update_the_key_twice(app, scim, key_updates):
    make_user(scim)  # the request's own commit must not repeat the last-use UPDATE
    assert len(key_updates) == 1


def test_last_used_is_refreshed_after_a_minute(app, scim, key_updates, monkeypatch):
    scim.get("ServiceProviderConfig")
    first = _last_used(app)
    monkeypatch.setattr(keys, "utcnow", lambda: first + timedelta(seconds=30))
    scim.get("ServiceProviderConfig")
    assert _last_used(app) == first
    monkeypatch.setattr(keys, "utcnow", lambda: first + timedelta(seconds=61))
    scim.get("ServiceProviderConfig")
    assert _last_used(app) == first + timedelta(seconds=61)
    assert len(key_updates) == 2


def test_last_used_shows_in_api_key_list(admin, scim):
    assert json.loads(admin("api-key", "list", "--json").stdout)[0]["lastUsed"] is None
    scim.get("ServiceProviderConfig")
    assert json.loads(admin("api-key", "list", "--json").stdout)[0]["lastUsed"].endswith("Z")


# --- the secret is never stored --------------------------------------------------------

def test_key_is_stored_only_as_a_hash(app, admin, scim):
    key = scim.key
    random_part = key[len("scimsvc_") + 13:]
    scim.get("ServiceProviderConfig")  # used once, so last_used_at was written too
    with app.app_context():
        row = db.session.execute(select(ApiKey.__table__)).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert key not in stored and random_part not in stored
    assert row["secret_hash"] == keys.hash_key(key)


@pytest.mark.skipif(is_postgres(), reason="reads the SQLite database file")
def test_database_file_contains_no_plaintext_key(app, admin, scim):
    key = scim.key
    random_part = key[len("scimsvc_") + 13:]
    make_user(scim)
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    # WAL mode: recent pages may live in the -wal file beside the database.
    files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    contents = b"".join(p.read_bytes() for p in files)
    assert keys.hash_key(key).encode() in contents  # the search looks at the right bytes
    assert key.encode() not in contents
    assert random_part.encode() not in contents


def test_rotated_key_works_during_the_grace_then_is_refused(admin, app, scim, monkeypatch):
    new_key = json.loads(admin("api-key", "rotate", "okta", "--grace", "2", "--json").stdout)["key"]
    rotated = keys.utcnow()
    new = ScimClient(app.test_client(), new_key)
    assert scim.get("ServiceProviderConfig").status_code == 200
    assert new.get("ServiceProviderConfig").status_code == 200

    monkeypatch.setattr(keys, "utcnow", lambda: rotated + timedelta(hours=2) - timedelta(minutes=1))
    assert scim.get("ServiceProviderConfig").status_code == 200
    assert new.get("ServiceProviderConfig").status_code == 200

    monkeypatch.setattr(keys, "utcnow", lambda: rotated + timedelta(hours=2, seconds=1))
    assert_401(scim.get("ServiceProviderConfig"), "invalid_token")
    assert new.get("ServiceProviderConfig").status_code == 200


def test_rotation_with_no_grace_refuses_the_old_key_at_once(admin, app, scim):
    new_key = json.loads(admin("api-key", "rotate", "okta", "--grace", "0", "--json").stdout)["key"]
    assert_401(scim.get("ServiceProviderConfig"), "invalid_token")
    assert ScimClient(app.test_client(), new_key).get("ServiceProviderConfig").status_code == 200
