"""SCIM endpoints (RFC 7644 §3): parse input, call one service, serialise the result."""
from __future__ import annotations

import re
import uuid

from flask import Blueprint, current_app, g, request

from .. import dialect
from ..auth import authorize
from ..errors import NotImplementedByServer
from ..extensions import db, release_read_connection
from ..services import audit
from ..services import users as user_service
from . import discovery, listing
from .http import read_json, scim_response, scim_root, user_location
from .projection import project, selection_from_args
from .resource import dump_user, load_user

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A client's X-Request-Id is kept if it is a plain token that fits the journal's column.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=@-]{1,64}$")


@bp.before_request
def _authorize():
    presented = request.headers.get("X-Request-Id", "")
    g.request_id = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
    # /Users/.search is a POST that only reads.
    writes = request.method in WRITE_METHODS and not request.path.endswith("/.search")
    dialect.declare_write_intent(False)
    # Bound before authorizing, so that a refused request is journaled too.
    audit.bind(audit.RequestContext(
        request_id=g.request_id, method=request.method, path=request.path,
        user_agent=request.headers.get("User-Agent"),
        target_id=(request.view_args or {}).get("scim_id"),
    ))
    g.credential = authorize(request.headers.get("Authorization"))
    g.tenant_id = g.credential.key.tenant_id
    if writes:
        # The key was checked in a read transaction; end it, so that the write lock (BEGIN
        # IMMEDIATE) is taken by the service's first statement and held only while it writes,
        # not while the body is parsed (make bench: 16 writers queued on it for the whole request).
        release_read_connection()
        dialect.declare_write_intent(True)


@bp.after_app_request
def _request_id_header(response):
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


@bp.after_request
def _journal_read(response):
    audit.record_read(response.status_code)
    return response


@bp.teardown_app_request
def _reset_write_intent(_exc):
    dialect.declare_write_intent(False)
    audit.bind(None)


def _user_response(user, status: int = 200):
    location = user_location(user.scim_id)
    headers = {"ETag": user_service.etag(user)}
    if status == 201:
        headers["Location"] = location
    # RFC 7644 §3.9: attributes/excludedAttributes apply to every response with a resource.
    resource = project(dump_user(user, location), selection_from_args(request.args))
    return scim_response(resource, status, headers)


# --- Discovery (RFC 7644 §4) -------------------------------------------------

@bp.get("/ServiceProviderConfig")
def service_provider_config():
    return scim_response(discovery.service_provider_config(scim_root()))


@bp.get("/ResourceTypes")
def resource_types():
    return scim_response(discovery.list_response(discovery.resource_types(scim_root())))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str):
    return scim_response(discovery.resource_type(scim_root(), name))


@bp.get("/Schemas")
def schemas():
    return scim_response(discovery.list_response(discovery.schemas(scim_root())))


@bp.get("/Schemas/<urn>")
def schema(urn: str):
    return scim_response(discovery.schema(scim_root(), urn))


# --- Users (RFC 7644 §3.3-§3.6) ----------------------------------------------

@bp.get("/Users")
def list_users():
    query = listing.from_args(request.args, current_app.config)
    return _list_response(query)


@bp.post("/Users/.search")
@bp.post("/.search")
def search_users():
    # RFC 7644 §3.4.3; at the root it searches every resource type, and Users is the only one.
    query = listing.from_search_request(read_json(), current_app.config)
    return _list_response(query)


def _list_response(query: listing.ListQuery):
    body = listing.list_users(g.tenant_id, query, location=user_location,
                              dialect=db.engine.dialect.name)
    return scim_response(body)


@bp.post("/Users")
def create_user():
    document, password = load_user(read_json())
    user = user_service.create_user(g.tenant_id, document, password)
    return _user_response(user, 201)


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str):
    user = user_service.read_user(g.tenant_id, scim_id)
    if user_service.not_modified(user, request.headers.get("If-None-Match")):
        return scim_response(None, 304, {"ETag": user_service.etag(user)})
    return _user_response(user)


@bp.put("/Users/<scim_id>")
def replace_user(scim_id: str):
    document, password = load_user(read_json())
    user = user_service.replace_user(g.tenant_id, scim_id, document, password,
                                     request.headers.get("If-Match"))
    return _user_response(user)


@bp.patch("/Users/<scim_id>")
def patch_user(scim_id: str):
    user = user_service.patch_user(g.tenant_id, scim_id, read_json(), request.headers.get("If-Match"))
    return _user_response(user)


@bp.delete("/Users/<scim_id>")
def delete_user(scim_id: str):
    user_service.delete_user(g.tenant_id, scim_id, request.headers.get("If-Match"))
    return scim_response(None, 204)


# --- Not offered (RFC 7644 §3.7, §3.11) -----------------------------------------

@bp.route("/Bulk", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def bulk():
    raise NotImplementedByServer("Bulk operations are not supported (see /ServiceProviderConfig).")


@bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/Me/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def me(_rest: str | None = None):
    raise NotImplementedByServer("/Me is not supported: API keys do not represent a User.")
