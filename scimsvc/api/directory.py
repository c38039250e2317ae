"""The product's access API, /api/v1: users with their access, and the change feed.

JSON in and out, ``Authorization: Bearer <key>``; the key's team needs
``directory:read`` for /users and ``events:read`` for /events. Errors are
``{"error": {"code", "message"}}`` (api.errors).
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..permissions import DIRECTORY_READ, EVENTS_READ
from ..services import access, events
from .auth import init_product_blueprint, requires
from .http import json_response

bp = Blueprint("directory", __name__, url_prefix="/api/v1")
init_product_blueprint(bp)


def _arg(name: str) -> str | None:
    return request.args.get(name)


@bp.get("/users/<scim_id>")
@requires(DIRECTORY_READ)
def get_user(scim_id: str):
    return json_response(access.get_user(g.tenant_id, scim_id))


@bp.get("/users")
@requires(DIRECTORY_READ)
def list_users():
    query = access.UserQuery(
        user_name=_arg("userName"), email=_arg("email"), external_id=_arg("externalId"),
        status=_arg("status"), team=_arg("team"), permission=_arg("permission"),
        limit=access.parse_limit(_arg("limit")), after=_arg("after") or None)
    users, following = access.list_users(g.tenant_id, query)
    return json_response({"data": users, "next": following})


@bp.get("/events")
@requires(EVENTS_READ)
def list_events():
    limit = access.parse_limit(_arg("limit"), events.DEFAULT_LIMIT, events.MAX_LIMIT)
    found, following = events.feed(
        g.tenant_id, _arg("after") or None, limit, events.parse_wait(_arg("wait")),
        retention_days=current_app.config["SCIMSVC_EVENT_RETENTION_DAYS"])
    return json_response({"data": found, "next": following})
