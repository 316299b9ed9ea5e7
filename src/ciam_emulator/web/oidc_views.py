"""OpenID Connect endpoints under ``/{tenant}/``: discovery, keys, authorize, token, logout."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, jsonify, redirect, request

from ciam_emulator import authorize as authz
from ciam_emulator.errors import EntraProtocolError, TokenValidationError
from ciam_emulator.store import sha256_hex
from ciam_emulator.token_endpoint import handle_token_request
from ciam_emulator.tokens import session_id_from_login_hint, v2_issuer, verify_emulator_token
from ciam_emulator.web.common import (
    BROWSER_COOKIE_NAME,
    SSO_COOKIE_NAME,
    emulator,
    entra_json_error,
    html_page,
    resolve_tenant,
)
from ciam_emulator.web.hosted_views import clear_sso_cookie, deliver_callback, respond_to_step

blueprint = Blueprint("oidc", __name__)


@blueprint.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str) -> Response:
    emulator().controls.count("discovery")
    found = resolve_tenant(tenant)
    base = emulator().base_url
    tenant_base = f"{base}/{found.id}"
    document: dict[str, Any] = {
        "token_endpoint": f"{tenant_base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{tenant_base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": v2_issuer(base, found.id),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{tenant_base}/oauth2/v2.0/authorize",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{tenant_base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "ciamlogin.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlsplit(base).netloc,
        "rbac_url": "https://pas.windows.net",
    }
    return jsonify(document)


@blueprint.get("/<tenant>/discovery/v2.0/keys")
def jwks(tenant: str) -> Response:
    emulator().controls.count("jwks")
    found = resolve_tenant(tenant)
    keys = emulator().keys.jwks()
    for key in keys["keys"]:
        key["issuer"] = v2_issuer(emulator().base_url, found.id)
    return jsonify(keys)


@blueprint.get("/<tenant>/oauth2/v2.0/authorize")
def authorize(tenant: str) -> Response:
    emu = emulator()
    emu.controls.count("authorize")
    found = resolve_tenant(tenant)
    args = request.args.to_dict()
    app, redirect_uri = authz.check_client(emu, found, args)  # AuthorizePageError -> error page
    try:
        params = authz.validate_request(emu, found, app, args)
    except EntraProtocolError as error:
        callback = authz.error_callback(redirect_uri, authz.response_mode_of(args), args.get("state"), error)
        return deliver_callback(callback)
    session_id = None
    cookie_value = request.cookies.get(SSO_COOKIE_NAME)
    if cookie_value:
        session = emu.store.find_sso_session_by_cookie(cookie_value)
        if session is not None and session.tenant_id == found.id:
            session_id = session.id
    # Bind the request to this browser, so a hosted-page POST from elsewhere (login CSRF) fails.
    browser_id = request.cookies.get(BROWSER_COOKIE_NAME) or secrets.token_urlsafe(32)
    params["browser_binding"] = sha256_hex(browser_id)
    auth_request = emu.store.create_auth_request(found.id, app.app_id, params, session_id, emu.now())
    response = respond_to_step(auth_request, authz.next_step(emu, auth_request))
    if request.cookies.get(BROWSER_COOKIE_NAME) != browser_id:
        response.set_cookie(
            BROWSER_COOKIE_NAME,
            browser_id,
            httponly=True,
            secure=emu.base_url.startswith("https://"),
            samesite="Lax",
            path="/",
        )
    return response


@blueprint.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str) -> Response:
    emu = emulator()
    grant_type = request.form.get("grant_type", "")
    if grant_type in ("authorization_code", "refresh_token"):
        emu.controls.count(f"token:{grant_type}")
    found = resolve_tenant(tenant)
    fault = emu.controls.next_token_fault()
    if fault is not None:
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.status is not None:
            return _injected_token_fault(fault.status, fault.retry_after, fault.error, fault.error_description)
    try:
        body = handle_token_request(emu, found, request.form.to_dict(), request.headers.get("Authorization"))
    except EntraProtocolError as error:
        response = entra_json_error(error)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="token"'
        return response
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@blueprint.get("/<tenant>/oauth2/v2.0/token")
def token_get(tenant: str) -> Response:
    resolve_tenant(tenant)
    return entra_json_error(
        EntraProtocolError(
            "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a GET request."
        )
    )


def _injected_token_fault(status: int, retry_after: int | None, error: str | None, description: str | None) -> Response:
    if status >= 500:
        default_error, code, message = (
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
    elif status == 429:
        default_error, code, message = "temporarily_unavailable", 90033, "Too many requests. Please try again later."
    else:
        default_error, code, message = "invalid_request", 90000, "Injected test failure."
    response = entra_json_error(EntraProtocolError(error or default_error, code, description or message, status=status))
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@blueprint.route("/<tenant>/oauth2/v2.0/logout", methods=["GET", "POST"])
def logout(tenant: str) -> Response:
    emu = emulator()
    emu.controls.count("logout")
    found = resolve_tenant(tenant)
    values = request.values
    post_logout_redirect_uri = values.get("post_logout_redirect_uri", "")
    state = values.get("state")
    client_id = values.get("client_id", "").strip().lower() or None
    hint = values.get("id_token_hint")
    if hint:
        try:
            claims = verify_emulator_token(
                hint, emu.keys, audiences=None, issuer=v2_issuer(emu.base_url, found.id), verify_lifetime=False
            )
        except TokenValidationError:
            claims = None
        hinted_client = str(claims.get("aud", "")).lower() if claims else None
        # An invalid hint, or one naming another client, is no basis for a redirect.
        client_id = hinted_client if hinted_client and client_id in (None, hinted_client) else None

    cookie_value = request.cookies.get(SSO_COOKIE_NAME)
    if cookie_value:
        session = emu.store.find_sso_session_by_cookie(cookie_value)
        if session is not None:
            emu.store.delete_sso_session(session.id)
    # logout_hint (the login_hint claim sent back) names the session to end, cookie or not.
    hinted_session = session_id_from_login_hint(values.get("logout_hint", ""))
    if hinted_session:
        emu.store.delete_sso_session(hinted_session)

    app = emu.store.find_app(found.id, client_id) if client_id else None
    allowed = set(app.post_logout_redirect_uris) | set(app.redirect_uris) if app else set()
    if post_logout_redirect_uri and post_logout_redirect_uri in allowed:
        target = post_logout_redirect_uri
        if state is not None:
            parts = urlsplit(target)
            extra = urlencode({"state": state})
            query = f"{parts.query}&{extra}" if parts.query else extra
            target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        response = redirect(target, code=302)
    else:
        response = html_page("signed_out.html", tenant=found)
    clear_sso_cookie(response)
    return response
