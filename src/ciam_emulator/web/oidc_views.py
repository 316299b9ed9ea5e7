"""OpenID Connect endpoints under ``/{tenant}/``: discovery, keys, authorize, token, logout."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from ciam_emulator import authorize as authz
from ciam_emulator import logout as sign_out
from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.store import sha256_hex
from ciam_emulator.token_endpoint import JWT_BEARER_GRANT, handle_token_request
from ciam_emulator.tokens import DISCOVERY_MISBEHAVIOURS, misbehaving_token_response, v2_issuer
from ciam_emulator.web.common import (
    BROWSER_COOKIE_NAME,
    SSO_COOKIE_NAME,
    emulator,
    entra_json_error,
    html_page,
    resolve_tenant,
)
from ciam_emulator.web.hosted_views import browser_sso_session, deliver_callback, finish_sign_out, respond_to_step

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
        "issuer": v2_issuer(found.id),
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
    case = emulator().controls.take_discovery_misbehaviour()  # test-only, see DISCOVERY_MISBEHAVIOURS
    if case == "issuer_of_another_tenant":
        document["issuer"] = v2_issuer(str(uuid.uuid4()))
    elif case is not None:
        field = DISCOVERY_MISBEHAVIOURS[case]
        document[field] = document[field].replace("https://", "http://", 1)
    return jsonify(document)


@blueprint.get("/<tenant>/discovery/v2.0/keys")
def jwks(tenant: str) -> Response:
    emulator().controls.count("jwks")
    found = resolve_tenant(tenant)
    keys = emulator().keys.jwks()
    for key in keys["keys"]:
        key["issuer"] = v2_issuer(found.id)
    keys["keys"].extend(emulator().controls.take_jwks_extras())  # test-only, see FOREIGN_KEY_MISBEHAVIOURS
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
    elif grant_type == JWT_BEARER_GRANT:
        emu.controls.count("token:on_behalf_of")
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
    case = emu.controls.take_token_response_misbehaviour() if grant_type == "authorization_code" else None
    if case is not None:
        text, content_type = misbehaving_token_response(body, case, tenant_id=found.id)
        response = Response(text, status=200, content_type=content_type)
    else:
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
    sign_out_request = sign_out.read_request(emu, found, request.values)
    cookie_session = browser_sso_session(found)
    # v2-protocols-oidc: a valid logout_hint "enables sign-out to occur without prompting the user
    # to select an account", cookie or not.
    hinted = sign_out.hinted_session(emu, found, request.values.get("logout_hint", ""))
    if hinted is not None:
        emu.store.delete_sso_session(hinted.id)
        # This browser's cookie stays only when it belongs to another account's session.
        clear_cookie = cookie_session is None or cookie_session.id == hinted.id
        return finish_sign_out(found, sign_out_request, clear_cookie=clear_cookie)
    accounts = sign_out.accounts_in_browser(emu, cookie_session)
    if not accounts:
        # UNSURE: with nobody signed in there is nothing to pick; the sign-out completes at once.
        return finish_sign_out(found, sign_out_request, clear_cookie=True)
    # Without a hint Entra asks which account to sign out (v2-protocols-oidc, logout_hint).
    return html_page("sign_out_picker.html", tenant=found, accounts=accounts, fields=sign_out_request.form_fields())
