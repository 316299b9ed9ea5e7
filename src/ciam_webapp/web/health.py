"""Liveness and readiness for load balancers and App Service health checks: status only, no details.

`/healthz` says only that the process answers (restart me if not); it touches nothing outside the
process, so it stays fast however the tenant, Graph or the session store behave. `/readyz` says
whether this instance can serve a signed-in user: the session store accepts a write, and the
tenant's discovery document answers, each checked with a short timeout. The answer is "ready" (200)
or "not ready" (503), cached a few seconds; what failed goes to the log (readiness.py).
Neither reads the browser's session, so both keep answering while the session store is down.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from .browser_session import services

bp = Blueprint("health", __name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    if services().readiness.current().ready:
        return jsonify(status="ready"), 200, NO_STORE
    return jsonify(status="not ready"), 503, NO_STORE
