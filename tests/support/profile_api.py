"""The mfa-app API (`ciam_api`) on a real port in this process, configured for the emulated tenant.

Over plain http on localhost, or over HTTPS with the tests' site certificate (tests/support/site_tls.py),
as the web app reaches it in API mode (PROFILE_API_URL).
"""

from __future__ import annotations

from typing import Any

from werkzeug.serving import make_server

import ciam_api

from .servers import AppOnThread, ServerThread, free_port
from .site_tls import SITE_HOST, SiteCertificate


def profile_api_settings(tenant: Any, **overrides: str) -> ciam_api.Settings:
    """The API's settings for the emulated tenant (what the emulator's seed writes into api.env)."""
    values = {
        "API_CLIENT_ID": tenant.mfa_app_id,
        "API_CLIENT_SECRET": tenant.api_client_secret,
        "AUTHORITY": f"{tenant.base_url}/{tenant.tenant_id}/",
        "TENANT_ID": tenant.tenant_id,
        "ALLOWED_CLIENT_APPS": tenant.client_id,
        "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
        "CA_BUNDLE": tenant.ca_bundle,
        "HTTP_TIMEOUT": "5",
    }
    values.update(overrides)
    return ciam_api.Settings.from_mapping(values)


def start_profile_api(tenant: Any, *, certificate: SiteCertificate | None = None, **overrides: str) -> AppOnThread:
    """The API on http://localhost:<port>, or https:// with `certificate`; stop it with `.server.stop()`."""
    port = free_port()
    settings = profile_api_settings(tenant, **overrides)
    app = ciam_api.create_app(settings)
    ssl_context = certificate.server_context() if certificate else None
    server = ServerThread(make_server("127.0.0.1", port, app, threaded=True, ssl_context=ssl_context))
    scheme = "https" if certificate else "http"
    return AppOnThread(base_url=f"{scheme}://{SITE_HOST}:{port}", app=app, settings=settings, server=server)
