"""The /scim/v2 blueprint (RFC 7644 §3): parse the request, call one service, render the result."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..errors import NotImplementedByServer
from ..scim import listing
from ..scim.groups import dump_group, load_group, project_group, wants_display, wants_members
from ..scim.projection import project, selection_from_args, shows
from ..scim.resource import Limits, dump_user, load_user
from ..scim.versions import etag, not_modified
from ..services import groups as group_service
from ..services import users as user_service
from . import discovery, journal
from .auth import check
from .http import (group_location, if_match, if_none_match, read_json, request_id, scim_response,
                   scim_root, user_location)

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")


def identify() -> None:
    """Give a SCIM request its id and audit context, and check its key without refusing yet.

    An app-level hook registered before the rate limiter, so the limiter knows whether
    the key is valid (api.limits); the refusal itself is raised by ``_authorize``.
    """
    if request.blueprint != bp.name:
        return
    g.request_id = request_id()
    journal.bind_request()
    g.access = check(request.headers.get("Authorization"))
    if g.access.refusal is not None:
        journal.note_refusal(g.access.reason)


@bp.before_request
def _authorize():
    access = g.access
    if access.refusal is not None:
        raise access.refusal
    g.credential = access.credential
    g.tenant_id = g.credential.key.tenant_id


@bp.after_app_request
def _request_id_header(response):
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-Id"] = request_id
    return response


# ``scimsvc doctor`` asks how long its key has left; only the caller's own key is described.
KEY_INFO_REQUEST = "X-Scimsvc-Key-Info"
KEY_EXPIRES = "X-Scimsvc-Key-Expires"


@bp.after_request
def _key_expiry(response):
    credential = g.get("credential")
    if credential is not None and request.headers.get(KEY_INFO_REQUEST):
        expires = credential.key.expires_at
        response.headers[KEY_EXPIRES] = (expires.isoformat(timespec="seconds") + "Z"
                                         if expires is not None else "never")
    return response


bp.after_request(journal.record_outcome)
bp.teardown_app_request(journal.unbind)


def _user_response(user, status: int = 200):
    location = user_location(user.scim_id)
    headers = {"ETag": etag(user.version)}
    if status == 201:
        headers["Location"] = location
    # RFC 7644 §3.9: attributes/excludedAttributes apply to every response with a resource.
    selection = selection_from_args(request.args)
    groups = None
    if status != 201 and shows(selection, "groups"):
        groups = group_service.groups_of_users([user.id]).get(user.id)
    resource = project(dump_user(user, location, groups, group_location("")), selection)
    return scim_response(resource, status, headers)


# --- Discovery (RFC 7644 §4) -------------------------------------------------

@bp.get("/ServiceProviderConfig")
def service_provider_config():
    return scim_response(discovery.service_provider_config(scim_root()))


@bp.get("/ResourceTypes")
@bp.get("/ResourceTypes/<name>")
def resource_types(name: str | None = None):
    if name is None:
        return scim_response(discovery.list_response(discovery.resource_types(scim_root())))
    return scim_response(discovery.resource_type(scim_root(), name))


@bp.get("/Schemas")
@bp.get("/Schemas/<urn>")
def schemas(urn: str | None = None):
    if urn is None:
        return scim_response(discovery.list_response(discovery.schemas(scim_root())))
    return scim_response(discovery.schema(scim_root(), urn))


# --- Users (RFC 7644 §3.3-§3.6) ----------------------------------------------

@bp.get("/Users")
def list_users():
    return _list_response(listing.from_args(request.args, current_app.config))


@bp.post("/Users/.search")
def search_users():
    # RFC 7644 §3.4.3
    return _list_response(listing.from_search_request(read_json(), current_app.config))


@bp.post("/.search")
def search_everything():
    # RFC 7644 §3.4.3: at the root, every resource type: users, then groups.
    query = listing.from_search_request(read_json(), current_app.config)
    prefix = user_location("")
    total, users, views = group_service.search_all(g.tenant_id, query, prefix,
                                                   with_members=wants_members(query.selection))
    groups = None
    if users and shows(query.selection, "groups"):
        groups = group_service.groups_of_users([u.id for u in users])
    listed = listing.list_response(query, total, users, prefix, groups, group_location(""))
    display = wants_display(query.selection)
    listed["Resources"] += [
        project_group(dump_group(v.group, v.members, group_location(v.group.scim_id), prefix,
                                 display=display), query.selection) for v in views]
    listed["itemsPerPage"] = len(listed["Resources"])
    return scim_response(listed)


def _list_response(query: listing.ListQuery):
    prefix = user_location("")
    total, users = user_service.list_users(g.tenant_id, query, prefix)
    groups = None
    if users and shows(query.selection, "groups"):
        groups = group_service.groups_of_users([u.id for u in users])
    return scim_response(listing.list_response(query, total, users, prefix, groups,
                                               group_location("")))


def _limits() -> Limits:
    config = current_app.config
    return Limits(int(config.get("SCIMSVC_MAX_MULTI_VALUES", 1000)),
                  int(config.get("SCIMSVC_MAX_STRING_LENGTH", 1024)))


@bp.post("/Users")
def create_user():
    document, password = load_user(read_json())
    return _user_response(user_service.create_user(g.tenant_id, document, password,
                                                   limits=_limits()), 201)


@bp.get("/Users/<scim_id>")
def get_user(scim_id: str):
    user = user_service.read_user(g.tenant_id, scim_id)
    if not_modified(if_none_match(), user.version):
        return scim_response(None, 304, {"ETag": etag(user.version)})
    return _user_response(user)


@bp.put("/Users/<scim_id>")
def replace_user(scim_id: str):
    document, password = load_user(read_json())
    return _user_response(user_service.replace_user(g.tenant_id, scim_id, document, password,
                                                    if_match(), limits=_limits()))


@bp.patch("/Users/<scim_id>")
def patch_user(scim_id: str):
    return _user_response(user_service.patch_user(g.tenant_id, scim_id, read_json(), if_match(),
                                                  limits=_limits()))


@bp.delete("/Users/<scim_id>")
def delete_user(scim_id: str):
    user_service.delete_user(g.tenant_id, scim_id, if_match())
    return scim_response(None, 204)


# --- Groups (RFC 7643 §4.2) ----------------------------------------------------

def _group_response(view, status: int = 200, selection=None):
    group = view.group
    location = group_location(group.scim_id)
    headers = {"ETag": etag(group.version)}
    if status == 201:
        headers["Location"] = location
    selection = selection if selection is not None else selection_from_args(request.args)
    resource = dump_group(group, view.members, location, user_location(""),
                          display=wants_display(selection))
    return scim_response(project_group(resource, selection), status, headers)


def _members_wanted() -> bool:
    return wants_members(selection_from_args(request.args))


@bp.get("/Groups")
def list_groups():
    return _group_list_response(listing.from_args(request.args, current_app.config))


@bp.post("/Groups/.search")
def search_groups():
    return _group_list_response(listing.from_search_request(read_json(), current_app.config))


def _group_list_response(query: listing.ListQuery):
    # excludedAttributes=members: the members are never read.
    total, views = group_service.list_groups(g.tenant_id, query,
                                             with_members=wants_members(query.selection))
    prefix = user_location("")
    display = wants_display(query.selection)
    resources = [project_group(dump_group(v.group, v.members, group_location(v.group.scim_id),
                                          prefix, display=display), query.selection)
                 for v in views]
    return scim_response(listing.resources_response(query, total, resources))


@bp.post("/Groups")
def create_group():
    document = load_group(read_json())
    return _group_response(group_service.create_group(g.tenant_id, document, limits=_limits(),
                                                      with_members=_members_wanted()), 201)


@bp.get("/Groups/<scim_id>")
def get_group(scim_id: str):
    view = group_service.read_group(g.tenant_id, scim_id, with_members=_members_wanted())
    if not_modified(if_none_match(), view.group.version):
        return scim_response(None, 304, {"ETag": etag(view.group.version)})
    return _group_response(view)


@bp.put("/Groups/<scim_id>")
def replace_group(scim_id: str):
    document = load_group(read_json())
    return _group_response(group_service.replace_group(g.tenant_id, scim_id, document, if_match(),
                                                       limits=_limits(),
                                                       with_members=_members_wanted()))


@bp.patch("/Groups/<scim_id>")
def patch_group(scim_id: str):
    return _group_response(group_service.patch_group(g.tenant_id, scim_id, read_json(), if_match(),
                                                     limits=_limits(),
                                                     with_members=_members_wanted()))


@bp.delete("/Groups/<scim_id>")
def delete_group(scim_id: str):
    group_service.delete_group(g.tenant_id, scim_id, if_match())
    return scim_response(None, 204)


# --- Not offered (RFC 7644 §3.7, §3.11) -----------------------------------------

@bp.route("/Bulk", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def bulk():
    raise NotImplementedByServer("Bulk operations are not supported (see /ServiceProviderConfig).")


@bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/Me/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def me(_rest: str | None = None):
    raise NotImplementedByServer("/Me is not supported: API keys do not represent a User.")
