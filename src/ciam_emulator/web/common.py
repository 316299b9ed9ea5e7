"""Small helpers shared by the emulator's Flask views."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, render_template, request

from ciam_emulator.context import Emulator
from ciam_emulator.entra_errors import correlation_id_from, error_body
from ciam_emulator.errors import EntraProtocolError, UnknownTenantError
from ciam_emulator.store import Tenant

SSO_COOKIE_NAME = "ciam_emulator_sso"
# Identifies the browser that started an authorization request (not a session; no user data).
BROWSER_COOKIE_NAME = "ciam_emulator_browser"
EXTENSION_KEY = "ciam_emulator"

# Hosted pages load nothing but our own stylesheet and script. form-action is deliberately
# absent: a sign-in POST ends in a redirect (or form_post) to the client's redirect URI.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def emulator() -> Emulator:
    return current_app.extensions[EXTENSION_KEY]


def resolve_tenant(segment: str) -> Tenant:
    tenant = emulator().store.find_tenant(segment)
    if tenant is None:
        raise UnknownTenantError(segment)
    return tenant


def correlation_id() -> str:
    return correlation_id_from(request.headers.get("client-request-id"))


def entra_json_error(error: EntraProtocolError) -> Response:
    response = jsonify(error_body(error, correlation_id()))
    response.status_code = error.status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def unknown_tenant_error(segment: str) -> EntraProtocolError:
    return EntraProtocolError(
        "invalid_tenant",
        90002,
        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def html_page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def tenant_in_path() -> Tenant | None:
    """The tenant the request's path names (``/{tenant}/...``), if it is one the emulator knows."""
    segment = (request.view_args or {}).get("tenant")
    return emulator().store.find_tenant(segment) if isinstance(segment, str) else None


def error_page(
    title: str, message: str, status: int = 400, code: int | None = None, tenant: Tenant | None = None
) -> Response:
    # Error pages wear the tenant's branding, as its sign-in pages do (External ID "Customize the
    # neutral branding"; UNSURE: no page says so of error pages in so many words).
    return html_page(
        "error.html",
        status=status,
        title=title,
        message=message,
        code=code,
        correlation_id=correlation_id(),
        tenant=tenant or tenant_in_path(),
    )


def apply_security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", HTML_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
