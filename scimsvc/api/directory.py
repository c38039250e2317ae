"""The product's access API, /api/v1: users with their access, and the change feed.

JSON in and out, ``Authorization: Bearer <key>``; the key's team needs
``directory:read`` for /users and ``events:read`` for /events. Errors are
``{"error": {"code", "message"}}`` (api.errors).
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..permissions import DIRECTORY_READ, EVENTS_READ
from ..services import access, events
from .auth import authorize_product
from .http import json_response

bp = Blueprint("directory", __name__, url_prefix="/api/v1")


def _arg(name: str) -> str | None:
    return request.args.get(name)


@bp.get("/users/<scim_id>")
def get_user(scim_id: str):
    authorize_product(DIRECTORY_READ)
    return json_response(access.get_user(g.tenant_id, scim_id))


@bp.get("/users")
def list_users():
    authorize_product(DIRECTORY_READ)
    query = access.UserQuery(
        user_name=_arg("userName"), email=_arg("email"), external_id=_arg("externalId"),
        status=_arg("status"), team=_arg("team"), permission=_arg("permission"),
        limit=access.parse_limit(_arg("limit")), after=_arg("after") or None)
    users, following = access.list_users(g.tenant_id, query)
    return json_response({"data": users, "next": following})


@bp.get("/events")
def list_events():
    authorize_product(EVENTS_READ)
    limit = access.parse_limit(_arg("limit"), events.DEFAULT_LIMIT, events.MAX_LIMIT)
    found, following = events.feed(
        g.tenant_id, _arg("after") or None, limit, events.parse_wait(_arg("wait")),
        retention_days=current_app.config["SCIMSVC_EVENT_RETENTION_DAYS"])
    return json_response({"data": found, "next": following})
