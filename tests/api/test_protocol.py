"""Protocol edges (RFC 7644 §3.1, §3.5.1, §3.12, §3.14): media types, bad bodies, routing errors,
ETags and preconditions, PUT semantics, and a fuzz test that no input produces a 500."""
from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimsvc.errors import Mutability
from scimsvc.scim.resource import check_immutable
from scimsvc.scim.schema import Attribute, Schema
from tests.conftest import make_user
from tests.scimdata import CORE_USER as USER, ENTERPRISE, PATCH_OP, ERROR


def assert_scim_error(response, status: int, scim_type: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/scim+json")
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body["scimType"] == scim_type
    return body


# --- Media types and bodies ---------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "application/scim+json",
    "application/scim+json; charset=utf-8",
    "application/json",
    "application/json; charset=UTF-8",
])
def test_request_media_types_are_accepted_and_answered_in_scim_json(scim, content_type):
    body = json.dumps({"schemas": [USER], "userName": "bjensen@example.com"})
    response = scim.post("Users", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/scim+json"
    user_id = response.get_json()["id"]
    patched = scim.patch(f"Users/{user_id}", headers={"Content-Type": content_type}, data=json.dumps(
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "nickName", "value": "B"}]}))
    assert patched.status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("raw", [b'{"userName": ', b"{'userName': 'x'}", b"", b"   ", b"\xff\xfe{}",
                                 b'{"userName": "a"} trailing'],
                         ids=["truncated", "single_quotes", "empty", "blank", "not_utf8", "trailing"])
def test_malformed_json_is_400_invalid_syntax(scim, method, raw):
    user = make_user(scim)
    path = "Users" if method == "POST" else f"Users/{user['id']}"
    response = scim.request(method, path, data=raw)
    assert_scim_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("payload", [[], "user", 42, None], ids=["array", "string", "number", "null"])
def test_json_that_is_not_an_object_is_400(scim, method, payload):
    user = make_user(scim)
    path = "Users" if method == "POST" else f"Users/{user['id']}"
    response = scim.request(method, path, data=json.dumps(payload))
    assert_scim_error(response, 400)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_body_over_the_limit_is_413_scim_error(app, scim, method):
    user = make_user(scim)
    app.config["MAX_CONTENT_LENGTH"] = 2048
    path = "Users" if method == "POST" else f"Users/{user['id']}"
    big = json.dumps({"schemas": [USER], "userName": "x", "nickName": "n" * 5000})
    response = scim.request(method, path, data=big)
    assert_scim_error(response, 413)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    assert scim.get(f"Users/{user['id']}").get_json() == user


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("escape, scim_type", [("\\ud800", "invalidSyntax"), ("x\\udfffy", "invalidSyntax"),
                                               ("\\u0000", "invalidValue")],
                         ids=["lone_high_surrogate", "lone_low_surrogate", "nul"])
def test_strings_no_database_can_store_are_400_not_500(scim, method, escape, scim_type):
    user = make_user(scim)
    if method == "PATCH":
        raw = ('{"schemas": ["%s"], "Operations": [{"op": "add", "path": "nickName", "value": "%s"}]}'
               % (PATCH_OP, escape))
    else:
        raw = '{"userName": "bjensen@example.com", "nickName": "%s"}' % escape
    path = "Users" if method == "POST" else f"Users/{user['id']}"
    assert_scim_error(scim.request(method, path, data=raw), 400, scim_type)
    assert scim.get(f"Users/{user['id']}").get_json() == user


def test_escaped_surrogate_pair_is_text_and_round_trips(scim):
    response = scim.post("Users", data='{"userName": "smile\\ud83d\\ude00@example.com"}')
    assert response.status_code == 201
    assert response.get_json()["userName"] == "smile\U0001f600@example.com"


# --- Routing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/scim/v2/Groups/abc/extra", "/scim/v2/Users/abc/extra", "/scim/v2/Nope", "/nothing"])
def test_unknown_path_is_scim_404(scim, path):
    assert_scim_error(scim.get(path), 404)


@pytest.mark.parametrize("method, path", [
    ("DELETE", "Users"), ("PUT", "Users"), ("PATCH", "Users"),
    ("POST", "Users/abc"), ("POST", "ServiceProviderConfig"), ("DELETE", "Schemas"),
])
def test_wrong_method_is_scim_405_with_allow(scim, method, path):
    response = scim.request(method, path, json={})
    assert_scim_error(response, 405)
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


@pytest.mark.parametrize("method, path", [("GET", "Me"), ("PATCH", "Me"), ("POST", "Bulk"), ("GET", "Me/x")])
def test_me_and_bulk_are_501(scim, method, path):
    assert_scim_error(scim.request(method, path, json={}), 501)


def test_service_provider_config_tells_the_truth_about_patch_and_etag(scim):
    config = scim.get("ServiceProviderConfig").get_json()
    assert config["patch"] == {"supported": True}
    assert config["etag"] == {"supported": True}
    assert config["bulk"]["supported"] is False


# --- ETags and preconditions (RFC 7644 §3.14) -------------------------------------------------------

def test_every_single_resource_response_carries_the_weak_etag(scim):
    created = scim.post("Users", json={"schemas": [USER], "userName": "e@example.com"})
    user = created.get_json()
    assert created.headers["ETag"] == user["meta"]["version"] == 'W/"1"'
    got = scim.get(f"Users/{user['id']}")
    assert got.headers["ETag"] == 'W/"1"'
    put = scim.put(f"Users/{user['id']}", json={"schemas": [USER], "userName": "e@example.com", "title": "T"})
    assert put.headers["ETag"] == put.get_json()["meta"]["version"] == 'W/"2"'
    patched = scim.patch(f"Users/{user['id']}", json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "U"}]})
    assert patched.headers["ETag"] == patched.get_json()["meta"]["version"] == 'W/"3"'


@pytest.mark.parametrize("header", ['W/"1"', '"1"', "*", 'W/"9", W/"1"'])
def test_if_none_match_current_version_is_304_without_body(scim, header):
    user = make_user(scim)
    response = scim.get(f"Users/{user['id']}", headers={"If-None-Match": header})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_if_none_match_old_version_is_200_with_the_resource(scim):
    user = make_user(scim)
    scim.patch(f"Users/{user['id']}", json={"schemas": [PATCH_OP],
                                            "Operations": [{"op": "add", "path": "title", "value": "x"}]})
    response = scim.get(f"Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 200
    assert response.get_json()["title"] == "x"
    assert response.headers["ETag"] == 'W/"2"'


def _write(scim, method, user_id, headers):
    if method == "PUT":
        return scim.put(f"Users/{user_id}", json={"userName": "bjensen@example.com", "title": "x"},
                        headers=headers)
    if method == "PATCH":
        return scim.patch(f"Users/{user_id}", headers=headers, json={
            "schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "x"}]})
    return scim.delete(f"Users/{user_id}", headers=headers)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_stale_is_412_and_changes_nothing(scim, method):
    user = make_user(scim)
    response = _write(scim, method, user["id"], {"If-Match": 'W/"0"'})
    assert_scim_error(response, 412)
    assert scim.get(f"Users/{user['id']}").get_json() == user


@pytest.mark.parametrize("method, status", [("PUT", 200), ("PATCH", 200), ("DELETE", 204)])
@pytest.mark.parametrize("header", ['W/"1"', "*"])
def test_if_match_current_version_succeeds(scim, method, status, header):
    user = make_user(scim)
    assert _write(scim, method, user["id"], {"If-Match": header}).status_code == status


# --- PUT (RFC 7644 §3.5.1) -----------------------------------------------------------------------

def test_put_replaces_every_writable_attribute(scim):
    user = make_user(scim, nickName="Babs", title="Tour Guide",
                     emails=[{"value": "b@example.com", "type": "work"}],
                     **{ENTERPRISE: {"department": "Tours"}, "schemas": [USER, ENTERPRISE]})
    response = scim.put(f"Users/{user['id']}", json={
        "schemas": [USER], "userName": "bjensen@example.com", "displayName": "Barbara"})
    assert response.status_code == 200
    body = response.get_json()
    for gone in ("nickName", "title", "emails", ENTERPRISE):
        assert gone not in body
    assert body["displayName"] == "Barbara"
    assert body["schemas"] == [USER]
    assert scim.get(f"Users/{user['id']}").get_json() == body


def test_put_ignores_read_only_values_and_a_different_id(scim):
    user = make_user(scim)
    response = scim.put(f"Users/{user['id']}", json={
        "schemas": [USER], "id": "someone-else", "userName": "bjensen@example.com",
        "meta": {"resourceType": "Group", "version": 'W/"99"', "created": "2001-01-01T00:00:00Z"},
        "groups": [{"value": "admins", "display": "Admins"}], "title": "x",
    })
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == user["id"]
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["created"] == user["meta"]["created"]
    assert body["meta"]["version"] == 'W/"2"'
    assert "groups" not in body
    assert scim.get("Users/someone-else").status_code == 404


def test_okta_style_full_put_round_trips(scim):
    """Okta updates a profile with GET, then PUT of the whole resource plus password."""
    user = make_user(scim, name={"givenName": "Barbara", "familyName": "Jensen"},
                     emails=[{"value": "bjensen@example.com", "type": "work", "primary": True}])
    body = scim.get(f"Users/{user['id']}").get_json()
    body["name"]["familyName"] = "Jensen-Smith"
    body["password"] = "n3w-Secret!"
    body["groups"] = []
    response = scim.put(f"Users/{user['id']}", json=body,
                        headers={"Content-Type": "application/scim+json; charset=utf-8"})
    assert response.status_code == 200
    updated = response.get_json()
    assert "password" not in updated
    assert updated["name"] == {"givenName": "Barbara", "familyName": "Jensen-Smith"}
    assert updated["emails"] == user["emails"]


def test_put_with_the_same_document_keeps_the_version(scim):
    user = make_user(scim, title="x")
    response = scim.put(f"Users/{user['id']}", json=user)
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'


def test_put_with_password_sets_the_hash(app, scim):
    from scimsvc.extensions import db
    from scimsvc.models import User

    user = make_user(scim)
    response = scim.put(f"Users/{user['id']}", json={"userName": "bjensen@example.com", "password": "pa55-Word"})
    assert response.status_code == 200 and "password" not in response.get_json()
    with app.app_context():
        stored = db.session.scalar(db.select(User.password_hash).where(User.scim_id == user["id"]))
    assert stored and stored.startswith("scrypt$") and "pa55" not in stored


def test_put_to_a_taken_username_is_409(scim):
    make_user(scim, "alice@example.com")
    bob = make_user(scim, "bob@example.com")
    response = scim.put(f"Users/{bob['id']}", json={"userName": "Alice@Example.com"})
    assert_scim_error(response, 409, "uniqueness")
    assert scim.get(f"Users/{bob['id']}").get_json() == bob


@pytest.mark.parametrize("body", [{"title": "x"}, {"userName": ""}, {"userName": 7}, {"active": "sometimes",
                                                                                     "userName": "b"}])
def test_put_with_missing_or_invalid_values_is_400_invalid_value(scim, body):
    user = make_user(scim)
    assert_scim_error(scim.put(f"Users/{user['id']}", json=body), 400, "invalidValue")


def test_put_unknown_user_is_404(scim):
    assert_scim_error(scim.put("Users/nope", json={"userName": "x"}), 404)


def test_put_enterprise_extension_is_stored_under_its_urn(scim):
    user = make_user(scim)
    response = scim.put(f"Users/{user['id']}", json={
        "schemas": [USER, ENTERPRISE], "userName": "bjensen@example.com",
        ENTERPRISE: {"employeeNumber": "42", "Manager": {"value": "boss", "displayName": "ignored"}},
    })
    body = response.get_json()
    assert body[ENTERPRISE] == {"employeeNumber": "42", "manager": {"value": "boss"}}
    assert body["schemas"] == [USER, ENTERPRISE]


IMMUTABLE = Schema(USER, "User", "test schema", (
    Attribute("userName"),
    Attribute("badge", mutability="immutable"),
    Attribute("card", "complex", sub_attributes=(Attribute("serial", mutability="immutable"),
                                                 Attribute("label"))),
))


@pytest.mark.parametrize("old, new, allowed", [
    ({"userName": "a"}, {"userName": "a", "badge": "1"}, True),          # first assignment
    ({"badge": "1"}, {"badge": "1", "userName": "b"}, True),             # unchanged
    ({"badge": "1"}, {"badge": "2"}, False),                             # changed
    ({"badge": "1"}, {}, False),                                         # removed
    ({"card": {"serial": "s", "label": "a"}}, {"card": {"serial": "s", "label": "b"}}, True),
    ({"card": {"serial": "s"}}, {"card": {"serial": "t"}}, False),
])
def test_immutable_attributes_are_enforced_generically(old, new, allowed):
    if allowed:
        check_immutable(old, new, (IMMUTABLE,))
    else:
        with pytest.raises(Mutability):
            check_immutable(old, new, (IMMUTABLE,))


# --- No input produces a 500 --------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=[]), max_size=20)  # surrogates and NUL too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                        max_size=5),
    max_leaves=20,
)
attribute_names = st.sampled_from([
    "userName", "USERNAME", "name", "name.givenName", "emails", "emails.value", "active", "id", "meta",
    "groups", "password", "addresses", "roles", "externalId", "x509Certificates", "photos", "bogus",
    f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value", ENTERPRISE, f"{USER}:nickName", "schemas",
    'emails[type eq "work"]', 'emails[type eq "work"].value', "emails[", "emails[type eq]",
    'emails[not (value pr) or primary eq "True"].display', "name..x", "", "urn:x:y",
])
users = st.fixed_dictionaries({"userName": any_text},
                              optional={k: json_values for k in ("name", "emails", "active", ENTERPRISE,
                                                                  "addresses", "roles", "externalId")})
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Replace", "remove", "frob", 3])},
    optional={"path": attribute_names | json_values,
              "value": json_values | st.dictionaries(attribute_names, json_values, max_size=3)},
)
patch_bodies = (st.fixed_dictionaries({"schemas": st.just([PATCH_OP]),
                                       "Operations": st.lists(operations, min_size=1, max_size=4)})
                | json_values)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=users | json_values)
def test_fuzz_post_never_500(scim, body):
    response = scim.post("Users", data=json.dumps(body))
    assert response.status_code < 500, response.get_data(as_text=True)


@FUZZ
@given(body=users | json_values)
def test_fuzz_put_never_500(scim, body):
    user_id = _fuzz_user(scim)
    response = scim.put(f"Users/{user_id}", data=json.dumps(body))
    assert response.status_code < 500, response.get_data(as_text=True)


@FUZZ
@given(body=patch_bodies)
def test_fuzz_patch_never_500(scim, body):
    user_id = _fuzz_user(scim)
    response = scim.patch(f"Users/{user_id}", data=json.dumps(body))
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["schemas"] == [ERROR]


huge_integers = st.integers(min_value=-(10**40), max_value=10**40) | st.sampled_from(
    [2**63 - 1, 2**63, 2**64, -(2**63) - 1])
paging = huge_integers.map(str) | any_text | st.sampled_from(["9" * 5000, "-" + "9" * 30, " 7 "])
date_literals = st.sampled_from([
    "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "x",
])
filters = (st.builds(lambda a, op, d: f'{a} {op} "{d}"',
                     st.sampled_from(["meta.created", "meta.lastModified"]),
                     st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]), date_literals)
           | st.builds(lambda a, v: f"{a} eq {json.dumps(v)}", attribute_names, json_values)
           | any_text)
query_parameters = st.fixed_dictionaries({}, optional={
    "startIndex": paging, "count": paging, "filter": filters,
    "sortBy": attribute_names | any_text, "sortOrder": st.sampled_from(["ascending", "descending", "x"]),
})


@FUZZ
@given(params=query_parameters)
def test_fuzz_list_parameters_never_500(scim, params):
    _fuzz_user(scim)
    response = scim.get("Users?" + urlencode(params))
    assert response.status_code < 500, response.get_data(as_text=True)


@FUZZ
@given(params=query_parameters, numbers=st.fixed_dictionaries(
    {}, optional={"startIndex": huge_integers, "count": huge_integers}))
def test_fuzz_search_request_never_500(scim, params, numbers):
    _fuzz_user(scim)
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], **params, **numbers}
    response = scim.post("Users/.search", data=json.dumps(body))
    assert response.status_code < 500, response.get_data(as_text=True)


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)  # latin-1
header_values = header_text | st.sampled_from([
    "", "Bearer", "Bearer ", "bearer x y", "Basic Zm9vOmJhcg==", "*", '"*"', 'W/"1"', 'W/"', '"1", W/"2"',
    "application/scim+json; charset=ebcdic", "application/scim+json;;;", "text/html", "*/*;q=x",
    "9" * 40, "a" * 5000, "\t", "=?utf-8?q?x?=",
])
fuzzed_headers = st.fixed_dictionaries({}, optional={name: header_values for name in (
    "Authorization", "Content-Type", "Accept", "Accept-Charset", "If-Match", "If-None-Match",
    "X-Request-Id", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "Prefer")})
requests_ = st.sampled_from(["GET user", "GET list", "POST", "PUT", "PATCH", "SEARCH"])


@FUZZ
@given(headers=fuzzed_headers, kind=requests_)
def test_fuzz_headers_never_500(scim, headers, kind):
    user_id = _fuzz_user(scim)
    method, path, body = {
        "GET user": ("GET", f"Users/{user_id}", None),
        "GET list": ("GET", 'Users?filter=userName eq "fuzz@example.com"', None),
        "POST": ("POST", "Users", {"schemas": [USER], "userName": "fuzz-header@example.com"}),
        "PUT": ("PUT", f"Users/{user_id}", {"schemas": [USER], "userName": "fuzz@example.com"}),
        "PATCH": ("PATCH", f"Users/{user_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "nickName", "value": "n"}]}),
        "SEARCH": ("POST", "Users/.search", {"schemas": [
            "urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 1}),
    }[kind]
    response = scim.request(method, path, data=json.dumps(body) if body is not None else None,
                            headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.get_json()["schemas"] == [ERROR], response.get_data(as_text=True)


def _fuzz_user(scim) -> str:
    """A rich user to patch; created once, again only when an example renamed it away."""
    created = scim.post("Users", json={
        "schemas": [USER, ENTERPRISE], "userName": "fuzz@example.com",
        "name": {"givenName": "F", "familyName": "Z"},
        "emails": [{"value": "fuzz@example.com", "type": "work", "primary": True}],
        ENTERPRISE: {"manager": {"value": "m"}, "department": "d"},
    })
    if created.status_code == 201:
        scim.fuzz_id = created.get_json()["id"]
    return scim.fuzz_id


# --- 413 through a real server (gunicorn + werkzeug) ------------------------------------------------

def test_chunked_body_over_the_limit_is_413_not_a_truncated_400(app, scim):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    body = json.dumps({"schemas": [USER], "userName": "x", "nickName": "n" * 5000}).encode()
    response = scim.client.open("/scim/v2/Users", method="POST", input_stream=io.BytesIO(body),
                                headers={**scim.headers(), "Transfer-Encoding": "chunked"},
                                environ_overrides={"wsgi.input_terminated": True})
    assert_scim_error(response, 413)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """``scimsvc init`` + the admin steps + ``scimsvc serve``, as an admin runs them."""
    folder = tmp_path_factory.mktemp("live")
    script = str(Path(sys.executable).with_name("scimsvc"))
    env = {**os.environ, "SCIMSVC_INSTANCE_PATH": str(folder), "SCIMSVC_MAX_BODY_BYTES": "65536"}
    env.pop("SCIMSVC_DATABASE_URL", None)

    def run(*args):
        return subprocess.run([script, *args], env=env, capture_output=True, text=True, check=True,
                              timeout=60).stdout

    run("init")
    run("role", "create", "scim-provisioner", "--permission", "scim:provision")
    run("team", "create", "idp", "--role", "scim-provisioner")
    key = json.loads(run("api-key", "create", "--team", "idp", "--name", "live", "--json"))["key"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([script, "serve", "--port", str(port), "--workers", "1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail("scimsvc serve exited during startup")
                threading.Event().wait(0.1)
        yield port, key
    finally:
        process.terminate()
        process.wait(timeout=30)


def _post_raw(port, key, body, *, chunked=False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/scim/v2/Users", body=body, encode_chunked=chunked, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/scim+json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.mark.system
@pytest.mark.parametrize("size", [100_000, 8_000_000], ids=["small_overflow", "much_larger_than_buffers"])
def test_live_server_answers_413_without_resetting_the_connection(live_server, size):
    port, key = live_server
    body = json.dumps({"schemas": [USER], "userName": "big", "nickName": "x" * size}).encode()
    status, error = _post_raw(port, key, body)  # a reset would raise ConnectionResetError/BrokenPipe
    assert status == 413
    assert error["schemas"] == [ERROR] and error["status"] == "413"


@pytest.mark.system
def test_live_server_chunked_body_over_the_limit_is_413(live_server):
    port, key = live_server
    pieces = iter([b'{"userName": "chunked", "nickName": "'] + [b"z" * 10_000] * 100 + [b'"}'])
    status, error = _post_raw(port, key, pieces, chunked=True)
    assert status == 413


@pytest.mark.system
def test_live_server_still_serves_after_refusing_big_bodies(live_server):
    port, key = live_server
    status, user = _post_raw(port, key, json.dumps({"schemas": [USER], "userName": "after@example.com"}))
    assert status == 201 and user["userName"] == "after@example.com"

