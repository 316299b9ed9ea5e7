"""Validation of the access tokens callers present to the API. No Flask, no trust in the caller.

Checks, in order (entra-notes §12, §13; "Access token claims reference"): the token is a JWS signed
with RS256 (never `none` or an HMAC) by a key in the tenant's JWKS (ciam_core's hardened cache:
unknown kids refetched at most once, then remembered); `iss` equals discovery's issuer; `aud` is this
API's client id (v2 tokens; a Graph token or another API's fails here); `exp`/`nbf`/`iat` with a small
leeway; `ver` is "2.0"; `tid` is our tenant; `azp` is an allowed client app; `scp` holds the
required scope; and, when configured, `acrs` holds the required authentication context.

Every refusal raises a typed error carrying the reason for the log; callers answer with RFC 6750's
codes only.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import jwt

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, UntrustedKey
from ciam_core.jwks import JwksCache

from .errors import ClaimsChallenge, InsufficientScope, InvalidToken, TemporarilyUnavailable

ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "nbf", "tid", "ver", "azp", "oid", "sub")
# A real token is a few kilobytes; anything far larger is refused before any decoding.
MAX_TOKEN_LENGTH = 16 * 1024
# Client capability that says "I can handle a claims challenge" (xms_cc optional claim).
CLAIMS_CHALLENGE_CAPABILITY = "cp1"


@dataclass(frozen=True)
class AccessToken:
    """A validated access token: the raw token (for the on-behalf-of assertion) and its claims."""

    raw: str
    claims: dict[str, Any]

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])

    @property
    def user(self) -> str:
        """Who the token is about, for the log: tenant and object id (no name, no email)."""
        return f"{self.claims['tid']}/{self.claims['oid']}"


def auth_context_claims(context_id: str) -> str:
    """The claims request for an authentication context (Microsoft's claims-challenge guidance)."""
    return json.dumps({"access_token": {"acrs": {"essential": True, "value": context_id}}}, separators=(",", ":"))


class AccessTokenValidator:
    def __init__(
        self,
        *,
        metadata: MetadataProvider,
        jwks: JwksCache,
        client_id: str,
        tenant_id: str,
        allowed_client_apps: frozenset[str],
        required_scope: str,
        required_auth_context: str | None = None,
        leeway: float = 60.0,
    ) -> None:
        self._metadata = metadata
        self._jwks = jwks
        self._client_id = client_id
        self._tenant_id = tenant_id.lower()
        self._allowed_client_apps = frozenset(app.lower() for app in allowed_client_apps)
        self._required_scope = required_scope
        self._required_auth_context = required_auth_context
        self._leeway = leeway

    def validate(self, token: str) -> AccessToken:
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("not a compact JWS")
        header = _unverified_header(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("header has no kid")
        try:
            issuer = self._metadata.get().issuer
            key = self._jwks.key_for(kid)
        except UntrustedKey as exc:
            raise InvalidToken(exc.reason) from exc
        except ProviderUnavailable as exc:
            raise TemporarilyUnavailable(exc.reason) from exc
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._client_id,
                issuer=issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": True, "strict_aud": True},
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("signature does not verify") from exc
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken(f"not valid yet: {exc}") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(f"audience is not this API: {exc}") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("issuer is not the tenant's") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid: {exc}") from exc

        if claims["ver"] != "2.0":
            raise InvalidToken(f"token version {claims['ver']!r}, not 2.0")
        if str(claims["tid"]).lower() != self._tenant_id:
            raise InvalidToken(f"tid {claims['tid']!r} is not this tenant")
        if str(claims["azp"]).lower() not in self._allowed_client_apps:
            raise InvalidToken(f"client app (azp) {claims['azp']!r} may not call this API")
        scopes = claims.get("scp")
        if not isinstance(scopes, str) or self._required_scope not in scopes.split(" "):
            # No scp at all is an app-only token: it cannot act for a user.
            raise InsufficientScope(f"scp {scopes!r} lacks {self._required_scope}")
        if self._required_auth_context is not None:
            self._check_auth_context(claims)
        return AccessToken(raw=token, claims=claims)

    def _check_auth_context(self, claims: dict[str, Any]) -> None:
        contexts = _string_list(claims.get("acrs"))
        if self._required_auth_context in contexts:
            return
        reason = f"acrs {contexts!r} lacks the required authentication context {self._required_auth_context}"
        if CLAIMS_CHALLENGE_CAPABILITY in _string_list(claims.get("xms_cc")):
            raise ClaimsChallenge(reason, auth_context_claims(self._required_auth_context))
        # A client that did not declare cp1 cannot handle a claims challenge (it would loop), so it
        # gets the plain refusal; it must ask for the context itself.
        raise InsufficientScope(reason + " (client did not declare cp1)")


def _string_list(value: Any) -> list[str]:
    """`acrs` and `xms_cc` are arrays of strings; tolerate a single string, ignore anything else."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header alone, to pick the algorithm and key before anything is verified."""
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidToken(f"header is not base64url JSON: {type(exc).__name__}") from exc
    if not isinstance(header, dict):
        raise InvalidToken("header is not a JSON object")
    return header
