"""The JWT checks every token from the provider goes through, whatever it is for.

`TokenVerifier.verify()` is the shared base of the web app's ID-token validator and the mfa-app
API's access-token validator; each adds its own claims on top (ID token: nonce, tid, azp; access
token: scp, azp list, ver, tid). Interface (kept stable):

    verifier = TokenVerifier(metadata=MetadataProvider(...), jwks=JwksCache(...), leeway=120.0)
    claims = verifier.verify(
        token,
        audience="<client id>",            # `aud` must be it, or a list that contains it
        accepted_types=ID_TOKEN_TYPES,     # what the header's `typ` may say (None: absent)
        required_claims=("sub", "tid"),    # on top of iss, aud, exp, iat
        kind="ID token",                   # starts every refusal reason
    )

Raises `TokenRejected` (its `reason` is for logs, never holds the token; `UntrustedKey` is one)
for any refusal, and `ProviderUnavailable` when discovery or the JWKS cannot be fetched (a retry
later may succeed: a 503, not a refusal).

Checks, in this order:
1. the header is a JSON object, `alg` is RS256 (never `none`, an HMAC or anything else);
2. `typ`, case-insensitive and without an `application/` prefix (RFC 7515 §4.1.9), is one of
   `accepted_types` (e.g. an access token, `at+jwt` per RFC 9068, is not an ID token);
3. `kid` is a non-empty string, or absent when the JWKS holds exactly one usable key; the key is
   an RSA public key of at least 2048 bits (`JwksCache`);
4. `exp`, `nbf`, `iat` and `auth_time`, when present, are JSON numbers (not strings, not
   booleans, finite, not negative): PyJWT would accept "1700000000" or `true`;
5. signature, `iss` equal to the discovery issuer, `aud`, `exp`/`nbf`/`iat` with `leeway` seconds
   (PyJWT), required claims present;
6. sane bounds, so no value can break code that turns them into dates: `exp` at most
   `max_lifetime` after `iat` and after now, `auth_time` not in the future (beyond the leeway).
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Collection
from typing import Any

import jwt

from .discovery import MetadataProvider
from .errors import TokenRejected
from .jwks import SIGNING_ALGORITHM, JwksCache

ALGORITHMS = (SIGNING_ALGORITHM,)
BASE_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat")
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat", "auth_time")
# Entra's longest-lived tokens: ID and access tokens last at most 1 day (token lifetime policy),
# CAE-capable access tokens up to 28 h (entra-notes §2).
MAX_TOKEN_LIFETIME = 28 * 3600.0
# `typ` values, normalized (lower case, no "application/"). None: the header has no `typ`.
ID_TOKEN_TYPES: frozenset[str | None] = frozenset({None, "jwt"})
# Entra's v2 access tokens say "JWT"; RFC 9068 access tokens say "at+jwt".
ACCESS_TOKEN_TYPES: frozenset[str | None] = frozenset({"jwt", "at+jwt"})


class TokenVerifier:
    def __init__(
        self,
        *,
        metadata: MetadataProvider,
        jwks: JwksCache,
        leeway: float = 120.0,
        max_lifetime: float = MAX_TOKEN_LIFETIME,
    ) -> None:
        self.metadata = metadata
        self.jwks = jwks
        self._leeway = leeway
        self._max_lifetime = max_lifetime

    def verify(
        self,
        token: str,
        *,
        audience: str,
        accepted_types: Collection[str | None],
        required_claims: Collection[str] = (),
        kind: str = "token",
    ) -> dict[str, Any]:
        """The token's claims once every check above passed; TokenRejected otherwise."""
        header = _segment(token, 0, kind, "header")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRejected(f"{kind} uses algorithm {alg!r}; only {', '.join(ALGORITHMS)} is accepted")
        typ = header.get("typ")
        if (typ is not None and not isinstance(typ, str)) or normalized_type(typ) not in accepted_types:
            raise TokenRejected(f"{kind} header says typ {header.get('typ')!r}, which is not a {kind}")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise TokenRejected(f"{kind} header has an unusable kid {kid!r}")
        try:
            key = self.jwks.key_for(kid)
        except TokenRejected as exc:
            raise TokenRejected(f"{kind} {exc.reason}") from exc
        _check_numeric_dates(_segment(token, 1, kind, "payload"), kind)
        issuer = self.metadata.get().issuer
        required = list(dict.fromkeys((*BASE_REQUIRED_CLAIMS, *required_claims)))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALGORITHMS),
                audience=audience,
                issuer=issuer,
                leeway=self._leeway,
                options={"require": required, "verify_iat": True, "enforce_minimum_key_length": True},
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected(f"{kind} signature does not verify") from exc
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected(f"{kind} has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRejected(f"{kind} is not valid yet: {exc}") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected(f"{kind} audience is not this app: {exc}") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected(f"{kind} issuer is not the provider's ({issuer})") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"{kind} is invalid: {exc}") from exc
        self._check_bounds(claims, kind)
        return claims

    def _check_bounds(self, claims: dict[str, Any], kind: str) -> None:
        now = time.time()
        exp = claims["exp"]
        if exp - claims["iat"] > self._max_lifetime or exp > now + self._max_lifetime + self._leeway:
            raise TokenRejected(
                f"{kind} exp {exp!r} is further away than the longest lifetime accepted ({self._max_lifetime:.0f} s)"
            )
        auth_time = claims.get("auth_time")
        if auth_time is not None and auth_time > now + self._leeway:
            raise TokenRejected(f"{kind} auth_time {auth_time!r} is in the future")


def normalized_type(typ: str | None) -> str | None:
    """RFC 7515 §4.1.9: media types compare case-insensitively and may omit `application/`."""
    return None if typ is None else typ.lower().removeprefix("application/")


def _check_numeric_dates(payload: dict[str, Any], kind: str) -> None:
    """RFC 7519 §2: a NumericDate is a JSON number. Python's json also reads NaN and Infinity."""
    for name in NUMERIC_DATE_CLAIMS:
        if name not in payload:
            continue
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TokenRejected(f"{kind} claim {name} is not a JSON number: {type(value).__name__}")
        if not math.isfinite(value) or value < 0:
            raise TokenRejected(f"{kind} claim {name} is not a usable date: {value!r}")


def _segment(token: str, index: int, kind: str, what: str) -> dict[str, Any]:
    """One JWT segment decoded as a JSON object, before anything is verified: the header picks the
    algorithm and key; the payload's date types are checked before PyJWT coerces them with int()."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected(f"{kind} is not a well-formed JWT: {len(parts)} segments")
    encoded = parts[index]
    try:
        value = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenRejected(f"{kind} is not a well-formed JWT: {exc}") from exc
    if not isinstance(value, dict):
        raise TokenRejected(f"{kind} is not a well-formed JWT: its {what} is not a JSON object")
    return value
