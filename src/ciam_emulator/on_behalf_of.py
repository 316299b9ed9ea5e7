"""Checking the ``assertion`` of an on-behalf-of request: an access token this tenant issued to the
calling API (Entra's OBO doc: "the access token that was sent to the middle-tier API").

The error codes are the ones Entra's error-code reference gives for a bad assertion (entra-notes §13):
AADSTS50027 for a token that is not a JWT, AADSTS50013 for a failed signature, issuer or audience,
AADSTS500133 for a token outside its valid time range.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt

from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.keys import KeyRing
from ciam_emulator.store import AppRegistration, Tenant
from ciam_emulator.tokens import v1_issuer, v2_issuer

# UNSURE: Entra documents no clock skew for assertions; the emulator allows the five minutes it
# allows everywhere else (Graph bearer tokens, client assertions).
ASSERTION_LEEWAY_SECONDS = 300


def _malformed() -> EntraProtocolError:
    # UNSURE: the wire `error` of 50027; captures show invalid_request for "JWT token is invalid or malformed".
    return EntraProtocolError("invalid_request", 50027, "Invalid JWT token. Token format not valid.")


def _invalid_assertion(message: str) -> EntraProtocolError:
    return EntraProtocolError("invalid_grant", 50013, message)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")


def verified_assertion(
    keys: KeyRing, tenant: Tenant, calling_app: AppRegistration, assertion: str, now: float
) -> dict[str, Any]:
    """The assertion's claims, once its format, signature, issuer, lifetime and audience pass."""
    try:
        header = jwt.get_unverified_header(assertion)
        jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as problem:
        raise _malformed() from problem
    # Signature: RS256 with a key the tenant publishes (what the token issuer signs with).
    key = keys.find_published(str(header.get("kid", ""))) if header.get("alg") == "RS256" else None
    if key is None:
        raise _invalid_assertion("Assertion failed signature validation. [Reason - The key was not found.]")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.PyJWTError as problem:
        raise _invalid_assertion(
            "Assertion failed signature validation. [Reason - Key was found, but use of the key to verify the "
            "signature failed.]"
        ) from problem
    # This tenant's issuer, v2 or v1 (access-token claims reference: `iss` differs by token version);
    # a token of another tenant is not this tenant's assertion. UNSURE: Entra's message for a foreign issuer.
    if claims.get("iss") not in (v2_issuer(tenant.id), v1_issuer(tenant.id)) or claims.get("tid") != tenant.id:
        raise _invalid_assertion("Assertion contains an invalid issuer; it was not issued by this tenant.")
    expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(expires, int | float) or now > expires + ASSERTION_LEEWAY_SECONDS:
        expiry = _iso(expires) if isinstance(expires, int | float) else "(none)"
        raise EntraProtocolError(
            "invalid_grant",
            500133,
            "Assertion is not within its valid time range. Ensure that the access token is not expired before "
            f"using it for user assertion, or request a new token. Current time: {_iso(now)}, expiry time of "
            f"assertion {expiry}.",
        )
    if isinstance(not_before, int | float) and now < not_before - ASSERTION_LEEWAY_SECONDS:
        raise EntraProtocolError(
            "invalid_grant", 500133, "Assertion is not within its valid time range. The token is not yet valid."
        )
    # The calling client must be the API the token was issued to: `aud` is its client id in a v2
    # token and its App ID URI in a v1 token (access-token claims reference).
    audience = claims.get("aud")
    if audience not in (calling_app.app_id, calling_app.identifier_uri):
        raise _invalid_assertion(
            "Assertion audience does not match the Client app presenting the assertion. The audience in the "
            f"assertion was '{audience}' and the expected audience is '{calling_app.app_id}' or one of the "
            "Application Id URIs of this web API."
        )
    # OBO works for user principals only (OBO doc, "Client limitations"): an app-only token has no
    # `scp` and no user. UNSURE: the code Entra answers an app-only assertion with.
    if not claims.get("scp") or not claims.get("oid"):
        raise _invalid_assertion("Assertion is not a delegated user token; the on-behalf-of flow needs one.")
    return claims
