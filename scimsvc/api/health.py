"""``/healthz`` (the process answers) and ``/readyz`` (the database is ready) for load balancers.

No key is needed, nothing is journaled, and the request log writes these at DEBUG only,
so a probe every few seconds leaves no trace at INFO.
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..services.health import readiness

bp = Blueprint("health", __name__)

PATHS = frozenset({"/healthz", "/readyz"})


def _answer(body: dict, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers (the database is not consulted)."""
    return _answer({"status": "alive"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready: the database answers and its schema is at head; 503 with the reason otherwise."""
    reason = readiness()
    if reason is not None:
        return _answer({"status": "unavailable", "reason": reason}, 503)
    return _answer({"status": "ready"})
