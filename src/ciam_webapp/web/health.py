"""Liveness and readiness for load balancers and App Service health checks: JSON, no secrets."""

from __future__ import annotations

from typing import Any

import requests
from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from . import user_session

bp = Blueprint("health", __name__)

PROBE_TIMEOUT = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"session_store": _check_session_store(), "tenant_discovery": _check_tenant_discovery()}
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _check_session_store() -> dict[str, Any]:
    store = current_app.session_interface
    try:
        client = getattr(store, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()  # redis
        else:
            cache = store.cache  # cachelib FileSystemCache: write and read a probe entry
            cache.set("readyz-probe", b"1", timeout=60)
            if cache.get("readyz-probe") != b"1":
                return {"ok": False, "error": "session store did not return what was written"}
    except Exception as exc:  # noqa: BLE001 - any failure of the store means "not ready", reported by type
        return {"ok": False, "error": f"{type(exc).__name__}"}
    return {"ok": True}


def _check_tenant_discovery() -> dict[str, Any]:
    services = user_session.services()
    url = services.entra.metadata.url
    try:
        response = services.entra.http.get(url, timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return {"ok": False, "error": f"{type(exc).__name__} reaching {url}"}
    if response.status_code != 200:
        return {"ok": False, "error": f"HTTP {response.status_code} from {url}"}
    return {"ok": True}
