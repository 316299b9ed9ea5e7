"""The /authorize endpoint's protocol logic: validation, the next sign-in step, the callback.

An authorization request is validated once, stored server-side, and then advanced step by
step (sign-in, sign-up, MFA) by the hosted pages until a code can be returned.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ciam_emulator.claims_request import parse_claims
from ciam_emulator.conditional_access import mfa_demand
from ciam_emulator.consent import consented_request
from ciam_emulator.context import Emulator
from ciam_emulator.entra_errors import correlation_id_from, entra_timestamp, error_description
from ciam_emulator.errors import AuthorizePageError, EntraProtocolError
from ciam_emulator.scopes import parse_scope
from ciam_emulator.store import AppRegistration, AuthRequest, SsoSession, Tenant, User
from ciam_emulator.tokens import FOREIGN_ISSUER, client_info
from ciam_emulator.user_flows import flow_for_app

RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = ("login", "none", "consent", "select_account", "create")
# Response types Entra knows; only "code" is enabled for the emulated web app registrations.
KNOWN_RESPONSE_TYPES = {"code", "id_token", "token", "code id_token", "id_token token", "code id_token token"}
HTML_IN_ERROR_DESCRIPTION = "<script>alert(1)</script><b>x</b>"


@dataclass(frozen=True)
class Callback:
    """What goes back to the client's redirect URI, and how (query, fragment or form_post)."""

    redirect_uri: str
    response_mode: str
    params: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        """The redirect target for query and fragment modes."""
        parts = urlsplit(self.redirect_uri)
        encoded = urlencode(self.params)
        if self.response_mode == "fragment":
            return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, encoded))
        query = f"{parts.query}&{encoded}" if parts.query and encoded else (parts.query or encoded)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class Step:
    """The next thing the browser must do for an authorization request."""

    # "signin" | "signup" | "mfa_confirm" | "mfa_code" | "mfa_sms_phone" | "mfa_sms_code" | "callback"
    # | "admin_approval_needed"
    kind: str
    callback: Callback | None = None
    # For "admin_approval_needed": the AADSTS code and message shown on the tenant's own page.
    page_error: AuthorizePageError | None = None


def check_client(emulator: Emulator, tenant: Tenant, args: dict[str, str]) -> tuple[AppRegistration, str]:
    """Identify the client and its redirect URI; failures are shown on our page, not redirected."""
    client_id = args.get("client_id", "").strip()
    if not client_id:
        raise AuthorizePageError(900144, "The request body must contain the following parameter: 'client_id'.")
    app = _find_client(emulator, tenant, client_id)
    if app is None:
        raise AuthorizePageError(
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.",
        )
    redirect_uri = args.get("redirect_uri", "")
    if not app.redirect_uris:
        raise AuthorizePageError(500113, "No reply address is registered for the application.")
    if redirect_uri not in app.redirect_uris:
        raise AuthorizePageError(
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
            f"configured for the application '{app.app_id}'. Make sure the redirect URI sent in the request "
            "matches one added to your application in the Azure portal.",
        )
    return app, redirect_uri


def _find_client(emulator: Emulator, tenant: Tenant, client_id: str) -> AppRegistration | None:
    try:
        uuid.UUID(client_id)
    except ValueError:
        return None
    return emulator.store.find_app(tenant.id, client_id)


def response_mode_of(args: dict[str, str]) -> str:
    mode = args.get("response_mode") or "query"
    return mode if mode in RESPONSE_MODES else "query"


def validate_request(emulator: Emulator, tenant: Tenant, app: AppRegistration, args: dict[str, str]) -> dict[str, Any]:
    """Check the remaining parameters; raises EntraProtocolError, which is redirected to the client."""
    if args.get("response_mode") and args["response_mode"] not in RESPONSE_MODES:
        raise EntraProtocolError(
            "invalid_request", 90100, f"The response_mode '{args['response_mode']}' is not supported."
        )
    response_type = " ".join(sorted(args.get("response_type", "").split()))
    if not response_type:
        raise EntraProtocolError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'response_type'."
        )
    if response_type != "code":
        if response_type in {" ".join(sorted(t.split())) for t in KNOWN_RESPONSE_TYPES}:
            raise EntraProtocolError(
                "unsupported_response_type",
                700054,
                f"response_type '{args['response_type']}' is not enabled for the application.",
            )
        raise EntraProtocolError(
            "unsupported_response_type", 90100, f"The response_type '{args['response_type']}' is not supported."
        )
    scope = args.get("scope", "")
    parse_scope(emulator.store, tenant.id, scope)  # raises 70011 / 28000 / 500011
    challenge = args.get("code_challenge") or None
    method = args.get("code_challenge_method") or None
    if challenge is None and method is not None:
        raise EntraProtocolError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'code_challenge'."
        )
    if challenge is not None:
        method = method or "plain"
        if method not in ("S256", "plain"):
            raise EntraProtocolError(
                "invalid_request", 501491, f"Invalid code_challenge_method '{method}'; use S256 or plain."
            )
        if not 43 <= len(challenge) <= 128:
            raise EntraProtocolError("invalid_request", 501491, "Invalid size of code_challenge parameter.")
    prompt = args.get("prompt") or None
    if prompt is not None and prompt not in PROMPTS:
        raise EntraProtocolError("invalid_request", 90023, f"Unsupported 'prompt' value '{prompt}'.")
    max_age: int | None = None
    if args.get("max_age"):
        try:
            max_age = int(args["max_age"])
        except ValueError:
            max_age = -1
        if max_age < 0:
            raise EntraProtocolError("invalid_request", 90100, "max_age parameter is empty or not valid.")
    claims = args.get("claims") or None
    if claims is not None:
        try:
            parsed_claims = json.loads(claims)
        except ValueError:
            parsed_claims = None
        if not isinstance(parsed_claims, dict):
            raise EntraProtocolError("invalid_request", 90100, "claims parameter is empty or not valid.")
    return {
        "client_id": app.app_id,
        "redirect_uri": args["redirect_uri"],
        "response_mode": response_mode_of(args),
        "scope": scope,
        "state": args.get("state"),
        "nonce": args.get("nonce") or None,
        "code_challenge": challenge,
        "code_challenge_method": method,
        "prompt": prompt,
        "max_age": max_age,
        "login_hint": args.get("login_hint") or None,
        "claims": claims,
        "client_info": args.get("client_info") or None,
    }


def error_callback(
    redirect_uri: str,
    response_mode: str,
    state: str | None,
    error: EntraProtocolError,
    *,
    correlation_id: str | None = None,
) -> Callback:
    trace_id = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    params = {
        "error": error.error,
        "error_description": error_description(error, trace_id, correlation, entra_timestamp()),
        "error_uri": f"https://login.microsoftonline.com/error?code={error.code}",
    }
    if state is not None:
        params["state"] = state
    return Callback(redirect_uri, response_mode, params)


def request_error_callback(auth_request: AuthRequest, error: EntraProtocolError) -> Callback:
    params = auth_request.params
    return error_callback(params["redirect_uri"], params["response_mode"], params.get("state"), error)


def user_cancelled(auth_request: AuthRequest) -> Callback:
    return request_error_callback(
        auth_request,
        EntraProtocolError("access_denied", 65004, "User declined to consent to access the app."),
    )


def session_for_request(emulator: Emulator, auth_request: AuthRequest) -> tuple[SsoSession, User] | None:
    if not auth_request.session_id:
        return None
    session = emulator.store.get_sso_session(auth_request.session_id)
    if session is None or session.tenant_id != auth_request.tenant_id:
        return None
    user = emulator.store.get_user(session.user_id)
    return (session, user) if user is not None else None


def mfa_required(emulator: Emulator, tenant_id: str, scope: str, claims: str | None) -> bool:
    """Does conditional access demand MFA for this resource, or for what the claims request asks
    (a policy by ``capolids``, an authentication context by ``acrs``)?"""
    scopes = parse_scope(emulator.store, tenant_id, scope)
    return mfa_demand(emulator, tenant_id, scopes, parse_claims(claims)) is not None


def next_step(emulator: Emulator, auth_request: AuthRequest) -> Step:
    """Decide what the user must do next; when nothing is left, issue the code."""
    params = auth_request.params
    now = emulator.now()
    prompt = params.get("prompt")
    if prompt == "create" and not auth_request.login_done:
        return Step("signup")
    current = session_for_request(emulator, auth_request)
    if not auth_request.login_done:
        max_age = params.get("max_age")
        hint = (params.get("login_hint") or "").lower()
        must_sign_in = (
            current is None
            or prompt == "login"
            or (max_age is not None and now - current[0].auth_time > max_age)
            or (hint and current[1].email.lower() != hint)
        )
        if must_sign_in:
            if prompt == "none":
                return Step(
                    "callback",
                    request_error_callback(
                        auth_request,
                        EntraProtocolError(
                            "login_required", 50058, "A silent sign-in request was sent but no user is signed in."
                        ),
                    ),
                )
            return Step("signin")
    assert current is not None
    session, user = current
    refused = consent_refusal(emulator, auth_request, user)
    if refused is not None:
        return refused
    if session.mfa_time is None and mfa_required(
        emulator, auth_request.tenant_id, params["scope"], params.get("claims")
    ):
        if prompt == "none":
            return Step(
                "callback",
                request_error_callback(
                    auth_request,
                    EntraProtocolError(
                        "interaction_required",
                        50076,
                        "Due to a configuration change made by your administrator, or because you moved to a new "
                        "location, you must use multi-factor authentication to access the resource.",
                    ),
                ),
            )
        if flow_for_app(emulator.store, auth_request.tenant_id, auth_request.client_id).sign_in_method == "email_otp":
            # Email OTP cannot be both the first factor and the MFA method (Entra's MFA for customers
            # doc): with one-time-code sign-in, the MFA method is SMS.
            return Step("mfa_sms_code" if user.mfa_phone else "mfa_sms_phone")
        return Step("mfa_code" if user.mfa_email_confirmed else "mfa_confirm")
    return Step("callback", issue_code(emulator, auth_request, session, user))


def consent_refusal(emulator: Emulator, auth_request: AuthRequest, user: User) -> Step | None:
    """What the signed-in user gets when the client lacks an admin grant for the requested scopes.

    Customers of an external tenant cannot consent, so there is no consent page to show. With
    prompt=none the answer is the `consent_required` error redirect (OpenID Connect Core 3.1.2.6).
    Otherwise the tenant shows its own "Need admin approval" page with AADSTS90094, as Entra does for
    a user who may not consent ("Unexpected error when performing consent to an application",
    learn.microsoft.com/entra/identity/enterprise-apps/application-sign-in-unexpected-user-consent-error),
    and never redirects to the app. UNSURE: the external-tenant docs do not show this page.
    """
    params = auth_request.params
    client = emulator.store.find_app(auth_request.tenant_id, auth_request.client_id)
    assert client is not None  # check_client found it when the request was made
    scopes = parse_scope(emulator.store, auth_request.tenant_id, params["scope"])
    if consented_request(emulator, auth_request.tenant_id, client, user.id, scopes) is not None:
        return None
    emulator.store.delete_auth_request(auth_request.id)
    if params.get("prompt") == "none":
        return Step(
            "callback",
            request_error_callback(
                auth_request,
                EntraProtocolError(
                    "consent_required",
                    65001,
                    f"The user or administrator has not consented to use the application with ID '{client.app_id}' "
                    f"named '{client.display_name}'. Send an interactive authorization request for this user and "
                    "resource.",
                ),
            ),
        )
    return Step(
        "admin_approval_needed",
        page_error=AuthorizePageError(
            90094,
            f"{client.display_name} needs permission to access resources in your organization that only an admin "
            "can grant. Please ask an admin to grant permission to this app before you can use it.",
        ),
    )


def issue_code(emulator: Emulator, auth_request: AuthRequest, session: SsoSession, user: User) -> Callback:
    """Create the authorization code and the success callback (then forget the request)."""
    params = auth_request.params
    now = emulator.now()
    misbehaviour = emulator.controls.take_callback_misbehaviour()
    if misbehaviour and misbehaviour.startswith("error_"):
        error_name = misbehaviour.removeprefix("error_").removesuffix("_foreign_iss")
        emulator.store.delete_auth_request(auth_request.id)
        callback = request_error_callback(
            auth_request,
            EntraProtocolError(error_name, 90000, f"Injected test failure {HTML_IN_ERROR_DESCRIPTION}"),
        )
        if misbehaviour.endswith("_foreign_iss"):
            callback.params["iss"] = FOREIGN_ISSUER
        return callback
    code = emulator.store.create_auth_code(
        tenant_id=auth_request.tenant_id,
        client_id=auth_request.client_id,
        redirect_uri=params["redirect_uri"],
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method"),
        nonce=params.get("nonce"),
        scope=params["scope"],
        claims=params.get("claims"),
        session_id=session.id,
        user_id=user.id,
        auth_time=session.auth_time,
        now=now,
        max_age=params.get("max_age"),
    )
    emulator.store.delete_auth_request(auth_request.id)
    result: dict[str, str] = {"code": code}
    state = params.get("state")
    if misbehaviour == "wrong_state":
        state = f"{state or ''}tampered"
    elif misbehaviour == "missing_state":
        state = None
    if state is not None:
        result["state"] = state
    if params.get("client_info") == "1":
        result["client_info"] = client_info(user.id, auth_request.tenant_id)
    result["session_state"] = session.id
    if misbehaviour == "code_and_error":
        result["error"] = "access_denied"
    elif misbehaviour == "foreign_iss":
        result["iss"] = FOREIGN_ISSUER
    return Callback(params["redirect_uri"], params["response_mode"], result)


def correlation_for(headers: dict[str, str]) -> str:
    return correlation_id_from(headers.get("client-request-id"))
