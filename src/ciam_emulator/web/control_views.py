"""Test controls under /_emulator/control/ (registered only when test_controls is on)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ciam_emulator import tokens, user_flows
from ciam_emulator.controls import MISBEHAVIOUR_CASES, InjectedResponse
from ciam_emulator.errors import EmulatorError
from ciam_emulator.graph import user_properties
from ciam_emulator.hosted_flows import is_valid_email
from ciam_emulator.passwords import password_policy_problem
from ciam_emulator.scopes import ScopeRequest
from ciam_emulator.store import new_guid
from ciam_emulator.web.common import emulator

blueprint = Blueprint("control", __name__, url_prefix="/_emulator/control")


class ControlRequestError(EmulatorError):
    """A malformed test-control request (answered with 400 and a message)."""


@blueprint.errorhandler(ControlRequestError)
def _bad_control_request(error: ControlRequestError) -> tuple[Response, int]:
    return jsonify({"error": str(error)}), 400


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ControlRequestError("send a JSON object")
    return body


def _responses(body: dict[str, Any]) -> list[InjectedResponse]:
    items = body.get("responses")
    if not isinstance(items, list):
        raise ControlRequestError("'responses' must be a list")
    try:
        return [InjectedResponse.from_json(item) for item in items]
    except ValueError as problem:
        raise ControlRequestError(str(problem)) from problem


def _only_tenant_id() -> str:
    tenants = emulator().store.list_tenants()
    if not tenants:
        raise ControlRequestError("no tenant: seed the emulator first")
    tenant_segment = request.args.get("tenant")
    if tenant_segment:
        found = emulator().store.find_tenant(tenant_segment)
        if found is None:
            raise ControlRequestError("unknown tenant")
        return found.id
    return tenants[0].id


@blueprint.before_app_request
def _hang_while_paused() -> None:
    """While a test has paused the tenant, everything but the emulator's own pages hangs."""
    if not request.path.startswith("/_emulator/"):
        emulator().controls.wait_while_paused(is_graph=request.path.startswith("/v1.0/"))


@blueprint.post("/pause")
def pause() -> Response:
    """{"seconds": n, "graph": true}: the tenant (discovery, JWKS, sign-in pages, token endpoint and,
    unless "graph" is false, Graph) hangs for n seconds; 0 ends a pause."""
    body = _json_object()
    seconds, graph_too = body.get("seconds"), body.get("graph", True)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ControlRequestError("'seconds' must be a number")
    if not isinstance(graph_too, bool):
        raise ControlRequestError("'graph' must be true or false")
    try:
        emulator().controls.pause(float(seconds), graph_too=graph_too)
    except ValueError as problem:
        raise ControlRequestError(str(problem)) from problem
    return jsonify({"paused_seconds": seconds, "graph": graph_too})


@blueprint.get("/stats")
def stats() -> Response:
    return jsonify(emulator().controls.stats())


@blueprint.post("/stats/reset")
def reset_stats() -> Response:
    emulator().controls.reset_stats()
    return jsonify(emulator().controls.stats())


@blueprint.post("/policy")
def policy() -> Response:
    body = _json_object()
    enabled = body.get("require_mfa_for_mfa_app")
    if not isinstance(enabled, bool):
        raise ControlRequestError("'require_mfa_for_mfa_app' must be true or false")
    emulator().store.set_all_ca_policies_enabled(enabled)
    return jsonify({"require_mfa_for_mfa_app": enabled})


@blueprint.post("/tenant-settings")
def tenant_settings() -> Response:
    """Tenant settings Graph has no property for: {"show_keep_signed_in": bool} ("Stay signed in?")."""
    body = _json_object()
    shown = body.get("show_keep_signed_in")
    if not isinstance(shown, bool):
        raise ControlRequestError("'show_keep_signed_in' must be true or false")
    emulator().store.set_tenant_setting(_only_tenant_id(), user_flows.KEEP_SIGNED_IN_SETTING, shown)
    return jsonify({"show_keep_signed_in": shown})


@blueprint.post("/keys/rotate")
def rotate_keys() -> Response:
    key = emulator().keys.rotate()
    return jsonify({"active_kid": key.kid, "published_kids": [k.kid for k in emulator().keys.published]})


@blueprint.post("/keys/unpublished")
def sign_with_unpublished_key() -> Response:
    key = emulator().keys.sign_with_unpublished()
    return jsonify({"active_kid": key.kid, "published_kids": [k.kid for k in emulator().keys.published]})


@blueprint.post("/graph/faults")
def set_graph_faults() -> Response:
    responses = _responses(_json_object())
    emulator().controls.set_graph_faults(responses)
    return jsonify({"queued": len(responses)})


@blueprint.delete("/graph/faults")
def clear_graph_faults() -> Response:
    emulator().controls.set_graph_faults([])
    return jsonify({"queued": 0})


@blueprint.post("/token/faults")
def set_token_faults() -> Response:
    responses = _responses(_json_object())
    emulator().controls.set_token_faults(responses)
    return jsonify({"queued": len(responses)})


@blueprint.delete("/token/faults")
def clear_token_faults() -> Response:
    emulator().controls.set_token_faults([])
    return jsonify({"queued": 0})


@blueprint.post("/token/lifetime")
def set_token_lifetime() -> Response:
    body = _json_object()
    seconds = body.get("access_token_seconds")
    if seconds is not None and (not isinstance(seconds, int) or not 1 <= seconds <= 86400):
        raise ControlRequestError("'access_token_seconds' must be an integer from 1 to 86400, or null")
    emulator().controls.access_token_lifetime_seconds = seconds
    return jsonify({"access_token_seconds": seconds})


@blueprint.post("/refresh-tokens/revoke")
def revoke_refresh_tokens() -> Response:
    body = _json_object()
    user = emulator().store.find_user_by_email(_only_tenant_id(), str(body.get("email", "")))
    if user is None:
        raise ControlRequestError("unknown user")
    emulator().store.revoke_refresh_tokens(user.id, emulator().now())
    return jsonify({"revoked": user.email})


@blueprint.post("/mfa-lockout/end")
def end_mfa_lockout() -> Response:
    """End a user's MFA lockout now, as if its time had run out (tests of what comes after it)."""
    body = _json_object()
    user = emulator().store.find_user_by_email(_only_tenant_id(), str(body.get("email", "")))
    if user is None:
        raise ControlRequestError("unknown user")
    emulator().store.end_mfa_lockout_for_tests(user.id, emulator().now())
    return jsonify({"ended": user.email})


@blueprint.post("/auth-codes/expire")
def expire_auth_codes() -> Response:
    emulator().store.expire_auth_codes_for_tests(emulator().now())
    return jsonify({"expired": True})


@blueprint.post("/misbehave")
def misbehave() -> Response:
    case = _json_object().get("case")
    if case not in MISBEHAVIOUR_CASES:
        raise ControlRequestError(f"'case' must be one of: {', '.join(sorted(MISBEHAVIOUR_CASES))}")
    emulator().controls.set_misbehaviour(case)
    return jsonify({"case": case})


@blueprint.delete("/misbehave")
def clear_misbehaviour() -> Response:
    emulator().controls.set_misbehaviour(None)
    return jsonify({"case": None})


@blueprint.post("/users")
def create_user() -> tuple[Response, int]:
    body = _json_object()
    email, password, display_name = (str(body.get(k) or "") for k in ("email", "password", "display_name"))
    if not is_valid_email(email):
        raise ControlRequestError("'email' must be an email address")
    problem = password_policy_problem(password)
    if problem:
        raise ControlRequestError(problem)
    if not display_name.strip():
        raise ControlRequestError("'display_name' is required")
    tenant_id = _only_tenant_id()
    if emulator().store.find_user_by_email(tenant_id, email) is not None:
        raise ControlRequestError("a user with this email already exists")
    user = emulator().store.create_user(tenant_id, email, password, display_name.strip())
    return jsonify(_user_json(user)), 201


# What an admin signs in with to register apps (the device code flow's public client is Microsoft
# Graph Command Line Tools) and the delegated permissions the registration tool asks for.
ADMIN_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
ADMIN_SCOPES = (
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    # User flows, their custom attributes, and email one-time passcode in the authentication methods
    # policy (each Graph reference page's least privileged delegated permission).
    "EventListener.ReadWrite.All",
    "IdentityUserFlow.ReadWrite.All",
    "Policy.ReadWrite.AuthenticationMethod",
)


@blueprint.post("/admin-token")
def admin_token() -> Response:
    """A Graph access token for the tenant's admin (created on first use), as if they had signed in.

    Body (optional): {"scopes": [...]} to get a token with other delegated permissions.
    """
    body = request.get_json(silent=True) or {}
    scopes = body.get("scopes", list(ADMIN_SCOPES)) if isinstance(body, dict) else None
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s and " " not in s for s in scopes):
        raise ControlRequestError("'scopes' must be a list of permission names")
    emu = emulator()
    tenant = emu.store.get_tenant(_only_tenant_id())
    admin_email = f"admin@{tenant.domain}"
    admin = emu.store.find_user_by_email(tenant.id, admin_email)
    if admin is None:
        # Nobody signs in with this password: it exists because every user needs one.
        unused_password = secrets.token_urlsafe(24) + "-Aa1"
        admin = emu.store.create_user(tenant.id, admin_email, unused_password, "Tenant Administrator")
    now = emu.now()
    context = tokens.TokenContext(
        tenant=tenant,
        client_id=ADMIN_CLIENT_ID,
        user=admin,
        session=None,
        session_id=new_guid(),
        auth_time=now,
        now=int(now),
    )
    granted = ScopeRequest(
        raw=" ".join(scopes), oidc_scopes=(), api=None, resource_scopes=tuple(scopes), requested_forms=tuple(scopes)
    )
    claims = tokens.graph_access_token_claims(context, granted, app_display_name="Microsoft Graph Command Line Tools")
    return jsonify(
        {
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "expires_in": tokens.TOKEN_LIFETIME_SECONDS,
            "access_token": emu.graph_token_key.seal(claims),
        }
    )


@blueprint.get("/users/<email>")
def get_user(email: str) -> tuple[Response, int]:
    user = emulator().store.find_user_by_email(_only_tenant_id(), email)
    if user is None:
        return jsonify({"error": "unknown user"}), 404
    return jsonify(_user_json(user)), 200


def _user_json(user: Any) -> dict[str, Any]:
    resource = user_properties(emulator(), user)
    resource["email"] = user.email
    resource["mfaEmailConfirmed"] = user.mfa_email_confirmed
    return resource
