"""The /token endpoint: client authentication, the code and refresh grants, token issuance."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import uuid
from typing import Any
from urllib.parse import unquote_plus

from ciam_emulator.claims_request import ClaimsRequest, parse_claims
from ciam_emulator.client_assertions import token_endpoint_audiences, verify_client_assertion
from ciam_emulator.conditional_access import MfaDemand, mfa_demand, mfa_done, satisfied_auth_contexts
from ciam_emulator.consent import require_consent
from ciam_emulator.context import Emulator
from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.keys import b64url
from ciam_emulator.on_behalf_of import verified_assertion
from ciam_emulator.scopes import ScopeRequest, parse_scope
from ciam_emulator.store import AppRegistration, SsoSession, Tenant, User
from ciam_emulator.tokens import (
    FOREIGN_KEY_MISBEHAVIOURS,
    TOKEN_LIFETIME_SECONDS,
    TokenContext,
    api_access_token_claims,
    client_info,
    foreign_key,
    graph_access_token_claims,
    id_token_claims,
    mapped_extension_claims,
    sign,
    sign_id_token,
)

# The on-behalf-of grant (Entra's OBO doc): RFC 7523's JWT bearer grant with requested_token_use.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SUPPORTED_GRANTS = ("authorization_code", "refresh_token", JWT_BEARER_GRANT)


def _missing(name: str) -> EntraProtocolError:
    return EntraProtocolError(
        "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def _invalid_grant(code: int, message: str) -> EntraProtocolError:
    return EntraProtocolError("invalid_grant", code, message)


def mfa_required_error(resource_app_id: str, demand: MfaDemand, *, error: str = "invalid_grant") -> EntraProtocolError:
    """AADSTS50076 as the token endpoint reports it, with the claims challenge to satisfy.

    The code and refresh grants answer `invalid_grant` + suberror `basic_action` (entra-notes §3);
    the on-behalf-of grant answers `interaction_required` with `claims` (OBO doc, entra-notes §13).
    """
    return EntraProtocolError(
        error,
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        f"you must use multi-factor authentication to access '{resource_app_id}'.",
        extra={"suberror": "basic_action", "claims": demand.claims_challenge()},
    )


def authenticate_client(
    emulator: Emulator, tenant: Tenant, form: dict[str, str], authorization: str | None
) -> AppRegistration:
    """client_secret_post, client_secret_basic (id and secret URL-encoded, RFC 6749 2.3.1) or private_key_jwt."""
    basic_id = basic_secret = None
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise EntraProtocolError(
                "invalid_client", 7000216, "The Authorization header is not valid.", status=401
            ) from exc
        raw_id, separator, raw_secret = decoded.partition(":")
        if not separator:
            raise EntraProtocolError("invalid_client", 7000216, "The Authorization header is not valid.", status=401)
        basic_id, basic_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    client_id = basic_id or form.get("client_id", "")
    if basic_id and form.get("client_id") and form["client_id"] != basic_id:
        raise EntraProtocolError(
            "invalid_request", 90100, "The client_id in the body does not match the Authorization header."
        )
    if not client_id:
        raise _missing("client_id")
    app = _find_app(emulator, tenant, client_id)
    if app is None:
        raise EntraProtocolError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.",
        )
    if form.get("client_assertion") or form.get("client_assertion_type"):
        verify_client_assertion(
            emulator.store,
            app,
            form,
            audiences=token_endpoint_audiences(emulator.base_url, tenant),
            now=emulator.now(),
        )
        return app
    secret = basic_secret if basic_secret is not None else form.get("client_secret")
    if not secret:
        raise EntraProtocolError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            status=401,
        )
    if not emulator.store.client_secret_matches(app.app_id, secret):
        raise EntraProtocolError(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app.app_id}'.",
            status=401,
        )
    return app


def _find_app(emulator: Emulator, tenant: Tenant, client_id: str) -> AppRegistration | None:
    try:
        uuid.UUID(client_id)
    except ValueError:
        return None
    return emulator.store.find_app(tenant.id, client_id)


def enforce_conditional_access(
    emulator: Emulator,
    tenant: Tenant,
    scopes: ScopeRequest,
    session: SsoSession | None,
    claims: ClaimsRequest,
    *,
    error: str = "invalid_grant",
) -> None:
    """Policies on the token's resource and on the requested authentication contexts, evaluated
    against the MFA recorded for the SSO session the grant belongs to."""
    demand = mfa_demand(emulator, tenant.id, scopes, claims)
    if demand is not None and not mfa_done(session):
        raise mfa_required_error(scopes.audience, demand, error=error)


def handle_token_request(
    emulator: Emulator, tenant: Tenant, form: dict[str, str], authorization: str | None
) -> dict[str, Any]:
    """Answer a token request with the success body, or raise EntraProtocolError."""
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type not in SUPPORTED_GRANTS:
        raise EntraProtocolError(
            "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
        )
    app = authenticate_client(emulator, tenant, form, authorization)
    if grant_type == "authorization_code":
        return _redeem_code(emulator, tenant, app, form)
    if grant_type == JWT_BEARER_GRANT:
        return _redeem_assertion(emulator, tenant, app, form)
    return _redeem_refresh_token(emulator, tenant, app, form)


def _pkce_matches(verifier: str, challenge: str, method: str | None) -> bool:
    if method == "S256":
        return b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest()) == challenge
    return verifier == challenge


def _redeem_code(emulator: Emulator, tenant: Tenant, app: AppRegistration, form: dict[str, str]) -> dict[str, Any]:
    code_value = form.get("code", "")
    if not code_value:
        raise _missing("code")
    redirect_uri = form.get("redirect_uri", "")
    if not redirect_uri:
        raise _missing("redirect_uri")
    code = emulator.store.find_auth_code(code_value)
    now = emulator.now()
    if code is None:
        raise _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    if code.tenant_id != tenant.id:
        raise _invalid_grant(
            700005, "Provided Authorization Code is intended to use against other tenant, thus rejected."
        )
    if code.client_id != app.app_id:
        raise _invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid. The code was issued to a different client.",
        )
    if code.redeemed_at is not None:
        raise _invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
            "existing refresh token.",
        )
    if code.expires_at <= now:
        raise _invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new "
            "interactive authorization request for this user and resource.",
        )
    if redirect_uri != code.redirect_uri:
        raise _invalid_grant(
            50011,
            f"The reply address '{redirect_uri}' does not match the reply address '{code.redirect_uri}' provided "
            "when requesting Authorization code.",
        )
    if code.code_challenge is not None:
        verifier = form.get("code_verifier", "")
        if not verifier or not _pkce_matches(verifier, code.code_challenge, code.code_challenge_method):
            # Like Entra, a PKCE failure does not burn the code.
            raise _invalid_grant(
                501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
            )
    scopes = parse_scope(emulator.store, tenant.id, form.get("scope") or code.scope)
    # No consent, no token: AADSTS65001 (Entra's error-code reference; external-tenant tutorials: only
    # an admin consents). Checked before the code is marked used. UNSURE: whether Entra burns a code it
    # refuses for missing consent; the emulator keeps it, as for a PKCE failure.
    scopes = require_consent(emulator, tenant.id, app, code.user_id, scopes)
    session = emulator.store.get_sso_session(code.session_id)
    # What /authorize asked for stays with the code; the token request may add to it (MSAL re-sends it).
    claims = parse_claims(code.claims).merged(parse_claims(form.get("claims")))
    enforce_conditional_access(emulator, tenant, scopes, session, claims)
    user = emulator.store.get_user(code.user_id)
    if user is None:
        raise _invalid_grant(50034, "The user account does not exist in the directory.")
    if not emulator.store.redeem_auth_code(code_value, now):
        raise _invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
            "existing refresh token.",
        )
    return issue_tokens(
        emulator,
        tenant,
        app,
        user,
        session=session,
        session_id=code.session_id,
        auth_time=code.auth_time,
        scopes=scopes,
        nonce=code.nonce,
        want_client_info=form.get("client_info") == "1",
        max_age_requested=code.max_age is not None,
        claims=claims,
    )


def _redeem_refresh_token(
    emulator: Emulator, tenant: Tenant, app: AppRegistration, form: dict[str, str]
) -> dict[str, Any]:
    token_value = form.get("refresh_token", "")
    if not token_value:
        raise _missing("refresh_token")
    refresh_token = emulator.store.find_refresh_token(token_value)
    now = emulator.now()
    if refresh_token is None or refresh_token.tenant_id != tenant.id:
        raise _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    if refresh_token.client_id != app.app_id:
        raise _invalid_grant(
            70000, "Provided grant is invalid or malformed. The refresh token was issued to a different client."
        )
    if refresh_token.expires_at <= now:
        raise _invalid_grant(700082, "The refresh token has expired due to inactivity.")
    user = emulator.store.get_user(refresh_token.user_id)
    if user is None:
        raise _invalid_grant(50034, "The user account does not exist in the directory.")
    if refresh_token.created_at <= user.refresh_tokens_valid_after:
        issued = _iso(refresh_token.created_at)
        valid_from = _iso(user.refresh_tokens_valid_after)
        raise _invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
            f"have changed or reset their password. The grant was issued on '{issued}' and the TokensValidFrom "
            f"date for this user is '{valid_from}'.",
        )
    scopes = parse_scope(emulator.store, tenant.id, form.get("scope") or refresh_token.scope)
    # A refresh token carries no consent of its own: a grant removed since it was issued stops it too.
    scopes = require_consent(emulator, tenant.id, app, refresh_token.user_id, scopes)
    session = emulator.store.get_sso_session(refresh_token.session_id)
    claims = parse_claims(form.get("claims"))
    enforce_conditional_access(emulator, tenant, scopes, session, claims)
    return issue_tokens(
        emulator,
        tenant,
        app,
        user,
        session=session,
        session_id=refresh_token.session_id,
        auth_time=refresh_token.auth_time,
        scopes=scopes,
        nonce=None,
        want_client_info=form.get("client_info") == "1",
        claims=claims,
    )


def _redeem_assertion(
    emulator: Emulator, tenant: Tenant, app: AppRegistration, form: dict[str, str]
) -> dict[str, Any]:
    """The on-behalf-of grant: the calling API trades the user's access token for one to a
    downstream resource (Entra's OBO doc; MSAL's acquire_token_on_behalf_of)."""
    token_use = form.get("requested_token_use", "")
    if not token_use:
        raise _missing("requested_token_use")
    if token_use != "on_behalf_of":  # noqa: S105 - a grant parameter, not a secret
        # UNSURE: Entra's code for another requested_token_use; the JWT bearer grant has no other use here.
        raise EntraProtocolError(
            "invalid_request", 90100, f"requested_token_use '{token_use}' is not valid; use 'on_behalf_of'."
        )
    assertion = form.get("assertion", "")
    if not assertion:
        raise _missing("assertion")
    if not form.get("scope"):
        raise _missing("scope")
    now = emulator.now()
    incoming = verified_assertion(emulator.keys, tenant, app, assertion, now)
    user = emulator.store.get_user(str(incoming["oid"]))
    if user is None or user.tenant_id != tenant.id:
        raise _invalid_grant(50034, "The user account does not exist in the directory.")
    scopes = parse_scope(emulator.store, tenant.id, form["scope"])
    # The middle tier's own delegated permissions on the downstream resource, which only an admin
    # can grant in an external tenant (OBO doc "Gaining consent for the middle-tier application";
    # entra-notes §13): AADSTS65001 without them.
    scopes = require_consent(emulator, tenant.id, app, user.id, scopes)
    session_id = str(incoming.get("sid") or "")
    session = emulator.store.get_sso_session(session_id) if session_id else None
    claims = parse_claims(form.get("claims"))
    # Conditional access applies to the downstream token (OBO doc); its failure is
    # interaction_required with the claims the client must satisfy.
    enforce_conditional_access(emulator, tenant, scopes, session, claims, error="interaction_required")
    # MSAL adds openid profile offline_access to ask for a refresh token and an ID token, which Entra
    # issues on this grant too (MSAL acquire_token_on_behalf_of's comments; the OBO doc: a refresh
    # token only with offline_access). UNSURE: the ID token is not in the OBO doc's sample answer.
    return issue_tokens(
        emulator,
        tenant,
        app,
        user,
        session=session,
        session_id=session_id,
        auth_time=session.auth_time if session else float(incoming.get("iat", now)),
        scopes=scopes,
        nonce=None,
        want_client_info=form.get("client_info") == "1",
        claims=claims,
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def issue_tokens(
    emulator: Emulator,
    tenant: Tenant,
    app: AppRegistration,
    user: User,
    *,
    session: SsoSession | None,
    session_id: str,
    auth_time: float,
    scopes: ScopeRequest,
    nonce: str | None,
    want_client_info: bool,
    max_age_requested: bool = False,
    claims: ClaimsRequest = ClaimsRequest(),  # noqa: B008 - a frozen, empty value
) -> dict[str, Any]:
    now = int(emulator.now())
    ctx = TokenContext(
        tenant=tenant,
        client_id=app.app_id,
        user=user,
        session=session,
        session_id=session_id,
        auth_time=auth_time,
        now=now,
    )
    lifetime = emulator.controls.access_token_lifetime_seconds or TOKEN_LIFETIME_SECONDS
    if scopes.is_graph:
        access_claims = graph_access_token_claims(ctx, scopes, app_display_name=app.display_name)
        access_claims["exp"] = now + lifetime
        # Graph's tokens are opaque to clients (Entra's access-token docs): sealed, not JWKS-signed.
        access_token = emulator.graph_token_key.seal(access_claims)
    else:
        access_claims = api_access_token_claims(ctx, scopes)
        access_claims["exp"] = now + lifetime
        _add_conditional_claims(emulator, tenant, scopes, session, claims, access_claims)
        # An API validates its own v2 tokens against the tenant's JWKS (access-token claims reference).
        access_token = sign(access_claims, emulator.keys.active())
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scopes.response_scope(),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }
    if "offline_access" in scopes.oidc_scopes:
        body["refresh_token"] = emulator.store.create_refresh_token(
            tenant_id=tenant.id,
            client_id=app.app_id,
            user_id=user.id,
            session_id=session_id,
            scope=scopes.raw,
            auth_time=auth_time,
            now=emulator.now(),
        )
    if "openid" in scopes.oidc_scopes:
        misbehaviour = emulator.controls.take_id_token_misbehaviour()
        optional_names = emulator.directory.optional_claim_names(app.app_id, "idToken")
        claims = id_token_claims(
            ctx, nonce, scopes, optional_claims=optional_names, max_age_requested=max_age_requested
        )
        claims.update(mapped_extension_claims(emulator.store.extension_values(user.id), optional_names))
        foreign = None
        if misbehaviour in FOREIGN_KEY_MISBEHAVIOURS:
            foreign = foreign_key(misbehaviour)
            emulator.controls.publish_once(foreign.jwk)
        body["id_token"] = sign_id_token(
            claims, emulator.keys, misbehaviour, authority_base_url=emulator.base_url, foreign=foreign
        )
    if want_client_info:
        body["client_info"] = client_info(user.id, tenant.id)
    return body


def _add_conditional_claims(
    emulator: Emulator,
    tenant: Tenant,
    scopes: ScopeRequest,
    session: SsoSession | None,
    claims: ClaimsRequest,
    access_claims: dict[str, Any],
) -> None:
    """`acrs` and `xms_cc` in an API's v2 access token, when they apply (access-token claims reference)."""
    satisfied = satisfied_auth_contexts(emulator, tenant.id, claims, session)
    if satisfied:
        access_claims["acrs"] = list(satisfied)
    # xms_cc is an optional claim: only when the resource's registration asks for it in
    # optionalClaims.accessToken, and only with the capabilities the client declared (claims-challenge doc).
    assert scopes.api is not None
    if claims.client_capabilities and "xms_cc" in emulator.directory.optional_claim_names(
        scopes.api.app_id, "accessToken"
    ):
        access_claims["xms_cc"] = list(claims.client_capabilities)
