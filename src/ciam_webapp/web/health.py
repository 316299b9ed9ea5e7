"""Liveness and readiness for load balancers and App Service health checks: JSON, no secrets.

`/healthz` says only that the process answers (restart me if not). `/readyz` says whether this
instance can serve a signed-in user: the session store accepts a write, and the tenant's discovery
document answers, each checked with a short timeout. Neither reads the browser's session, so both
keep answering while the session store is down.
"""

from __future__ import annotations

from typing import Any

import requests
from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from .browser_session import probe_session_store, services

bp = Blueprint("health", __name__)

PROBE_TIMEOUT = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    checks = {"session_store": probe_session_store(), "tenant_discovery": _check_tenant_discovery()}
    ready = all(check["ok"] for check in checks.values())
    body = jsonify(status="ready" if ready else "not ready", checks=checks)
    return body, 200 if ready else 503, {"Cache-Control": "no-store"}


def _check_tenant_discovery() -> dict[str, Any]:
    entra = services().entra
    url = entra.metadata.url
    try:
        response = entra.http.get(url, timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return {"ok": False, "error": f"{type(exc).__name__} reaching {url}"}
    if response.status_code != 200:
        return {"ok": False, "error": f"HTTP {response.status_code} from {url}"}
    return {"ok": True}
