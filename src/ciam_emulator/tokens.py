"""Building, signing and checking the JWTs the emulated tenant issues."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ciam_emulator.errors import TokenValidationError
from ciam_emulator.keys import KeyRing, SigningKey, b64url
from ciam_emulator.scopes import ScopeRequest
from ciam_emulator.store import GRAPH_APP_ID, SsoSession, Tenant, User

TOKEN_LIFETIME_SECONDS = 3600
GRAPH_AUDIENCES = (GRAPH_APP_ID, "https://graph.microsoft.com")

# Misbehaviour cases that tamper with the next ID token (the others affect the callback).
ID_TOKEN_MISBEHAVIOURS = frozenset(
    {
        "alg_none",
        "hs256_public_key",
        "bad_signature",
        "unknown_kid",
        "wrong_iss",
        "iss_on_authority_host",
        "wrong_aud",
        "multi_aud_no_azp",
        "expired",
        "nbf_future",
        "iat_future",
        "missing_nonce",
        "wrong_nonce",
        "wrong_tid",
        "typ_at_jwt",
        "azp_other_client",
        "exp_as_string",
        "iat_as_string",
        "nbf_as_boolean",
        "exp_far_future",
        "auth_time_far_future",
        "kid_absent",
        *("kid_names_oct_key", "kid_names_ec_key", "kid_names_short_rsa_key"),
    }
)
# Cases where the ID token names a key that the next JWKS answer publishes beside the tenant's own:
# a key of another type, or an RSA key that is too short. Entra signs with RSA 2048-bit keys (its
# keys document lists kty RSA only); these exist only so tests can check a client refuses the rest.
FOREIGN_KEY_MISBEHAVIOURS = frozenset({"kid_names_oct_key", "kid_names_ec_key", "kid_names_short_rsa_key"})
# A date no token would carry (year 318857): beyond what Python's datetime can hold.
FAR_FUTURE = 10**13
# Cases that tamper with the next discovery document: an endpoint served over plain http (OpenID
# Connect Discovery 1.0 §3 requires https URLs; Entra's are all https), or an issuer naming another
# tenant than the one in the discovery URL (security-tokens doc: the issuer holds the tenant's GUID).
DISCOVERY_MISBEHAVIOURS = {
    "http_authorization_endpoint": "authorization_endpoint",
    "http_token_endpoint": "token_endpoint",
    "http_jwks_uri": "jwks_uri",
    "http_end_session_endpoint": "end_session_endpoint",
    "issuer_of_another_tenant": "issuer",
}
CALLBACK_MISBEHAVIOURS = frozenset(
    {
        "wrong_state",
        "missing_state",
        "error_access_denied",
        "error_interaction_required",
        "error_server_error",
        # A success callback that also carries error=access_denied (RFC 6749 §4.1.2 allows one or the other).
        "code_and_error",
        # An `iss` naming another issuer (RFC 9207 §2), on a success and on an access_denied callback.
        "foreign_iss",
        "error_access_denied_foreign_iss",
    }
)
# Misbehaviour cases that replace the next successful authorization_code token response with one
# that breaks RFC 6749 §5.1 (a JSON object whose tokens are strings), or whose client_info names
# another user than its ID token (MSAL docs: client_info is the signed-in user's uid and utid).
TOKEN_RESPONSE_MISBEHAVIOURS = frozenset(
    {"token_response_array", "id_token_not_a_string", "token_response_not_json", "client_info_other_user"}
)


# The host of the issuer is not the host the tenant is served on (security-tokens doc: a CIAM
# tenant's issuer is https://{tenantId}.ciamlogin.com/{tenantId}/v2.0 while the authority is
# https://{subdomain}.ciamlogin.com/). Nothing is ever fetched from it, so it never needs to resolve.
ISSUER_DOMAIN = "ciamlogin.localhost"


def v2_issuer(tenant_id: str) -> str:
    """The `iss` of ID tokens and v2 access tokens, and discovery's `issuer` (security-tokens doc)."""
    return f"https://{tenant_id}.{ISSUER_DOMAIN}/{tenant_id}/v2.0"


# What a foreign `iss` says: an issuer of the same shape as the tenant's, for another tenant.
FOREIGN_ISSUER = v2_issuer("00000000-0000-4000-8000-000000000bad")


def issuer_on_authority_host(base_url: str, tenant_id: str) -> str:
    """What an issuer derived from the authority would look like: never the tenant's real issuer."""
    return f"{base_url}/{tenant_id}/v2.0"


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def pairwise_subject(user_id: str, audience_app_id: str) -> str:
    """A stable per-application subject, like Entra's ``sub`` (43 base64url characters)."""
    return b64url(hashlib.sha256(f"{user_id}|{audience_app_id}".encode()).digest())


def client_info(user_id: str, tenant_id: str) -> str:
    payload = json.dumps({"uid": user_id, "utid": tenant_id}, separators=(",", ":")).encode()
    return b64url(payload)


def login_hint_for(session_id: str, user_id: str) -> str:
    """The `login_hint` optional claim: opaque to apps, it names the sign-in session to end when an
    app sends it back as `logout_hint`."""
    return b64url(json.dumps({"sid": session_id, "oid": user_id}, separators=(",", ":")).encode())


def session_id_from_login_hint(hint: str) -> str | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(hint + "=" * (-len(hint) % 4)))
    except (ValueError, TypeError):
        return None
    return data.get("sid") if isinstance(data, dict) and isinstance(data.get("sid"), str) else None


def _opaque(length: int = 24) -> str:
    return secrets.token_urlsafe(length)


def sign(claims: dict[str, Any], key: SigningKey) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"typ": "JWT", "kid": key.kid})


@dataclass(frozen=True)
class TokenContext:
    """Everything needed to mint tokens for one grant."""

    tenant: Tenant
    client_id: str
    user: User
    session: SsoSession | None
    session_id: str
    auth_time: float
    now: int


def id_token_claims(
    ctx: TokenContext,
    nonce: str | None,
    scopes: ScopeRequest,
    *,
    optional_claims: frozenset[str] = frozenset(),
    max_age_requested: bool = False,
) -> dict[str, Any]:
    """The v2.0 ID token's claims (id-token-claims reference).

    ``optional_claims`` are the names in the app registration's ``optionalClaims.idToken``;
    ``max_age_requested`` says whether the authorize request that led here carried ``max_age``.
    """
    claims: dict[str, Any] = {
        "aud": ctx.client_id,
        "iss": v2_issuer(ctx.tenant.id),
        "iat": ctx.now,
        "nbf": ctx.now,
        "exp": ctx.now + TOKEN_LIFETIME_SECONDS,
        "aio": _opaque(),
        "name": ctx.user.display_name,
        "oid": ctx.user.id,
        "preferred_username": ctx.user.email,
        "rh": f"1.{_opaque(30)}.",
        "sid": ctx.session_id,
        "sub": pairwise_subject(ctx.user.id, ctx.client_id),
        "tid": ctx.tenant.id,
        "uti": _opaque(16),
        "ver": "2.0",
    }
    if "profile" not in scopes.oidc_scopes:
        # name and preferred_username come with the profile scope.
        del claims["name"], claims["preferred_username"]
    if "email" in scopes.oidc_scopes and (ctx.user.mail or ctx.user.email):
        claims["email"] = ctx.user.mail or ctx.user.email
    if nonce is not None:
        claims["nonce"] = nonce
    # login_hint and auth_time are optional claims: only when the registration asks for them
    # (optional-claims reference; neither is in the id-token-claims reference's default set).
    # given_name and family_name: optional ID-token claims (optional-claims reference), from the user's
    # givenName and surname, which a user flow may collect at sign-up.
    if "given_name" in optional_claims and ctx.user.given_name:
        claims["given_name"] = ctx.user.given_name
    if "family_name" in optional_claims and ctx.user.surname:
        claims["family_name"] = ctx.user.surname
    if "login_hint" in optional_claims:
        claims["login_hint"] = login_hint_for(ctx.session_id, ctx.user.id)
    # UNSURE: Microsoft's pages do not document max_age. OpenID Connect Core 3.1.2.1 requires
    # auth_time when max_age was sent, MSAL Python refuses the sign-in without it, and MSAL Python
    # issue #455 shows a real Entra ID token carrying auth_time after a max_age request.
    if "auth_time" in optional_claims or max_age_requested:
        claims["auth_time"] = int(ctx.auth_time)
    return claims


def mapped_extension_claims(extension_values: dict[str, Any], optional_claims: frozenset[str]) -> dict[str, Any]:
    """Custom attributes reach the ID token only when the app's registration maps them (user
    attributes doc: Attributes & Claims, source "Directory schema extension"). The emulator reads that
    mapping from optionalClaims.idToken, as Entra's optional-claims doc configures directory
    extensions. UNSURE: the claim's name in an external tenant's token (notes §13); the emulator uses
    the extension name."""
    wanted = {name.lower(): name for name in optional_claims if name.lower().startswith("extension_")}
    return {wanted[name.lower()]: value for name, value in extension_values.items() if name.lower() in wanted}


def graph_access_token_claims(ctx: TokenContext, scopes: ScopeRequest, *, app_display_name: str) -> dict[str, Any]:
    """A v1.0 access token for Microsoft Graph, as Entra issues them to any client."""
    amr = ["pwd"] + (["mfa"] if ctx.session and ctx.session.mfa_time else [])
    scp = list(scopes.resource_scopes) + [s for s in ("openid", "profile", "email") if s in scopes.oidc_scopes]
    return {
        "aud": GRAPH_APP_ID,
        "iss": v1_issuer(ctx.tenant.id),
        "iat": ctx.now,
        "nbf": ctx.now,
        "exp": ctx.now + TOKEN_LIFETIME_SECONDS,
        "acct": 0,
        "acr": "1",
        "aio": _opaque(),
        "amr": amr,
        "app_displayname": app_display_name,
        "appid": ctx.client_id,
        "appidacr": "1",
        "idtyp": "user",
        "name": ctx.user.display_name,
        "oid": ctx.user.id,
        "rh": f"1.{_opaque(30)}.",
        "scp": " ".join(scp),
        "sid": ctx.session_id,
        "sub": pairwise_subject(ctx.user.id, GRAPH_APP_ID),
        "tid": ctx.tenant.id,
        "unique_name": ctx.user.email,
        "uti": _opaque(16),
        "ver": "1.0",
    }


def api_access_token_claims(ctx: TokenContext, scopes: ScopeRequest) -> dict[str, Any]:
    """A v2.0 access token for one of the tenant's own APIs (accessTokenAcceptedVersion 2)."""
    assert scopes.api is not None
    return {
        "aud": scopes.api.app_id,
        "iss": v2_issuer(ctx.tenant.id),
        "iat": ctx.now,
        "nbf": ctx.now,
        "exp": ctx.now + TOKEN_LIFETIME_SECONDS,
        "aio": _opaque(),
        "azp": ctx.client_id,
        "azpacr": "1",
        "name": ctx.user.display_name,
        "oid": ctx.user.id,
        "preferred_username": ctx.user.email,
        "rh": f"1.{_opaque(30)}.",
        "scp": " ".join(scopes.resource_scopes),
        "sid": ctx.session_id,
        "sub": pairwise_subject(ctx.user.id, scopes.api.app_id),
        "tid": ctx.tenant.id,
        "uti": _opaque(16),
        "ver": "2.0",
    }


@dataclass(frozen=True)
class ForeignKey:
    """For FOREIGN_KEY_MISBEHAVIOURS: the JWK the JWKS publishes once, and what signs the token."""

    jwk: dict[str, Any]
    signer: SigningKey


def foreign_key(case: str) -> ForeignKey:
    kid = "foreign-" + secrets.token_hex(8)
    if case == "kid_names_short_rsa_key":
        # Deliberately breakable: the client must refuse it (PyJWT alone only warns).
        weak = rsa.generate_private_key(65537, 1024)  # noqa: S505
        short = SigningKey(name="short", kid=kid, private_key=weak)
        return ForeignKey(jwk=short.public_jwk(), signer=short)
    # The token is signed RS256 by an RSA key nobody publishes; its kid names the foreign key.
    signer = SigningKey(name="foreign", kid=kid, private_key=rsa.generate_private_key(65537, 2048))
    if case == "kid_names_oct_key":
        return ForeignKey(
            jwk={"kty": "oct", "use": "sig", "kid": kid, "k": b64url(secrets.token_bytes(32))}, signer=signer
        )
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "use": "sig",
        "kid": kid,
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    return ForeignKey(jwk=jwk, signer=signer)


def sign_id_token(
    claims: dict[str, Any],
    keys: KeyRing,
    misbehaviour: str | None,
    *,
    authority_base_url: str = "",
    foreign: ForeignKey | None = None,
) -> str:
    """Sign the ID token, applying a one-shot test misbehaviour if one is pending.

    ``authority_base_url`` (where the tenant is served) is used only by ``iss_on_authority_host``.
    """
    key = keys.active()
    claims = dict(claims)
    if misbehaviour == "wrong_iss":
        claims["iss"] = f"https://login.example.invalid/{uuid.uuid4()}/v2.0"
    elif misbehaviour == "iss_on_authority_host":
        # An issuer a client might wrongly derive from its authority: the right path, the wrong host.
        claims["iss"] = issuer_on_authority_host(authority_base_url, claims["tid"])
    elif misbehaviour == "wrong_aud":
        claims["aud"] = str(uuid.uuid4())
    elif misbehaviour == "multi_aud_no_azp":
        claims["aud"] = [claims["aud"], str(uuid.uuid4())]
        claims.pop("azp", None)
    elif misbehaviour == "expired":
        claims.update(iat=claims["iat"] - 7200, nbf=claims["nbf"] - 7200, exp=claims["iat"] - 3600)
    elif misbehaviour == "nbf_future":
        claims["nbf"] = claims["iat"] + 3600
    elif misbehaviour == "iat_future":
        claims["iat"] = claims["iat"] + 3600
    elif misbehaviour == "missing_nonce":
        claims.pop("nonce", None)
    elif misbehaviour == "wrong_nonce":
        claims["nonce"] = hashlib.sha256(secrets.token_bytes(16)).hexdigest()
    elif misbehaviour == "wrong_tid":
        claims["tid"] = str(uuid.uuid4())
    elif misbehaviour == "azp_other_client":
        claims["azp"] = str(uuid.uuid4())  # one audience (us), issued to another client
    elif misbehaviour == "exp_as_string":
        claims["exp"] = str(claims["exp"])  # RFC 7519 §2: a NumericDate is a JSON number
    elif misbehaviour == "iat_as_string":
        claims["iat"] = str(claims["iat"])
    elif misbehaviour == "nbf_as_boolean":
        claims["nbf"] = True
    elif misbehaviour == "exp_far_future":
        claims["exp"] = FAR_FUTURE
    elif misbehaviour == "auth_time_far_future":
        claims["auth_time"] = FAR_FUTURE

    if misbehaviour == "alg_none":
        return _unsigned_jwt({"typ": "JWT", "alg": "none", "kid": key.kid}, claims)
    if misbehaviour == "hs256_public_key":
        # The classic key-confusion attack: HMAC keyed with the published RSA public key.
        header = {"typ": "JWT", "alg": "HS256", "kid": key.kid}
        signing_input = _signing_input(header, claims)
        mac = hmac.new(key.public_pem(), signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"
    if misbehaviour == "unknown_kid":
        return sign(claims, keys.unpublished)
    if misbehaviour == "typ_at_jwt":
        # An access token offered as an ID token: RFC 9068 §2.1 types access tokens "at+jwt".
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"typ": "at+jwt", "kid": key.kid})
    if misbehaviour == "kid_absent":
        # OpenID Foundation RP tests rp-id_token-kid-absent-*: no kid while the JWKS has two keys.
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"typ": "JWT"})
    if foreign is not None:
        # Signed here rather than by PyJWT, which (rightly) warns about the short key.
        signing_input = _signing_input({"typ": "JWT", "alg": "RS256", "kid": foreign.signer.kid}, claims)
        signature = foreign.signer.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"
    token = sign(claims, key)
    if misbehaviour == "bad_signature":
        head, body, signature = token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0xFF
        token = f"{head}.{body}.{b64url(bytes(raw))}"
    return token


def _signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return b64url(json.dumps(value, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}"


def _unsigned_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_signing_input(header, claims)}."


def verify_emulator_token(
    token: str,
    keys: KeyRing,
    *,
    audiences: tuple[str, ...] | None,
    issuer: str | None,
    verify_lifetime: bool = True,
    leeway_seconds: int = 300,
) -> dict[str, Any]:
    """Check a token the emulator issued: RS256, a published kid, issuer, audience, lifetime."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenValidationError("The token is malformed.") from exc
    if header.get("alg") != "RS256":
        raise TokenValidationError("The token is not signed with RS256.")
    key = keys.find_published(str(header.get("kid", "")))
    if key is None:
        raise TokenValidationError("The token is signed by an unknown key.")
    try:
        return jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            audience=list(audiences) if audiences else None,
            issuer=issuer,
            leeway=leeway_seconds,
            options={
                "verify_aud": audiences is not None,
                "verify_iss": issuer is not None,
                "verify_exp": verify_lifetime,
                "verify_nbf": verify_lifetime,
                "verify_iat": False,
                "require": ["exp", "iat"],
            },
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenValidationError("Lifetime validation failed, the token is expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise TokenValidationError("Lifetime validation failed, the token is not yet valid.") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenValidationError("Invalid audience.") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenValidationError("Invalid issuer.") from exc
    except jwt.PyJWTError as exc:
        raise TokenValidationError("Signature validation failed.") from exc


def misbehaving_token_response(body: dict[str, Any], case: str, *, tenant_id: str) -> tuple[str, str]:
    """The text and content type of a token response broken as `case` says (test controls only)."""
    if case == "token_response_array":
        return json.dumps([body]), "application/json"
    if case == "id_token_not_a_string":
        return json.dumps(dict(body, id_token=12345)), "application/json"
    if case == "token_response_not_json":
        # Cut off mid-way, as a proxy that drops the connection would leave it: tokens are in it.
        text = json.dumps(body)
        return text[: len(text) - 7], "application/json"
    if case == "client_info_other_user":
        return json.dumps(dict(body, client_info=client_info(str(uuid.uuid4()), tenant_id))), "application/json"
    raise ValueError(f"unknown token response case {case!r}")
