"""AuthZEN decisions (OpenID AuthZEN Authorization API 1.0): may this user do this action?

``POST /access/v1/evaluation`` answers one Access Evaluation request,
``POST /access/v1/evaluations`` a batch with its ``evaluations_semantic``
(``execute_all``, ``deny_on_first_deny``, ``permit_on_first_permit``), and
``GET /.well-known/authzen-configuration`` publishes the PDP metadata. A
subject is ``{"type": "user", "id": <userName or SCIM id>}``, an action
``{"name": ACTION}``, a resource ``{"type": "organization", "id": <the
organization's slug>}``. The key's team needs ``directory:read``; the
request's X-Request-ID is echoed.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from ..errors import InvalidValue, ScimsvcError
from ..permissions import DIRECTORY_READ
from ..services import access
from ..services.organizations import get_organization_slug
from .auth import init_product_blueprint, requires
from .http import base_url, json_response, read_json

bp = Blueprint("authzen", __name__)
init_product_blueprint(bp)

SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
MAX_EVALUATIONS = 1000
_ENTITIES = ("subject", "action", "resource", "context")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    return body


def _decide(request: dict[str, Any]) -> access.Decision:
    return access.decide(g.tenant_id, get_organization_slug(g.tenant_id), request.get("subject"),
                         request.get("action"), request.get("resource"))


@bp.post("/access/v1/evaluation")
@requires(DIRECTORY_READ)
def evaluation():
    return json_response(_decide(_object(read_json())).as_json())


@bp.post("/access/v1/evaluations")
@requires(DIRECTORY_READ)
def evaluations():
    body = _object(read_json())
    items = body.get("evaluations")
    if items is None or items == []:
        # AuthZEN §7.1: without evaluations the request is a single Access Evaluation.
        return json_response(_decide(body).as_json())
    if not isinstance(items, list):
        raise InvalidValue("'evaluations' must be an array of evaluation requests.")
    if len(items) > MAX_EVALUATIONS:
        raise InvalidValue(f"At most {MAX_EVALUATIONS} evaluations per request.")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidValue("'options' must be an object.")
    semantic = options.get("evaluations_semantic", "execute_all")
    if semantic not in SEMANTICS:
        raise InvalidValue(f"options.evaluations_semantic is one of: {', '.join(SEMANTICS)}.")
    defaults = {key: body[key] for key in _ENTITIES if key in body}
    answers = []
    for item in items:
        if not isinstance(item, dict):
            answers.append(_error("Each evaluation must be an object."))
        else:
            # §7.1.1: a value given in the evaluation replaces the request's default.
            try:
                answers.append(_decide({**defaults, **item}).as_json())
            except ScimsvcError as error:
                answers.append(_error(error.detail, error.status))
        decided = answers[-1]["decision"]
        if (semantic == "deny_on_first_deny" and not decided) or \
                (semantic == "permit_on_first_permit" and decided):
            break
    return json_response({"evaluations": answers})


def _error(message: str, status: int = 400) -> dict[str, Any]:
    """An evaluation that could not be made: denied, with the error in its context (§7.2.1)."""
    return {"decision": False, "context": {"reason": message,
                                           "error": {"status": status, "message": message}}}


@bp.get("/.well-known/authzen-configuration")
def configuration():
    """PDP metadata (AuthZEN §9); public, like other well-known metadata."""
    base = base_url()
    return json_response({
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
    })
