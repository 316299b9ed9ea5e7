"""The token endpoint's answer is checked before MSAL reads it.

MSAL trusts the shape of a token response: it indexes it as a JSON object, splits `id_token` and
`scope`, base64-decodes `client_info`, does arithmetic on `expires_in`, and a body that is not JSON
at all it logs whole (at ERROR, tokens included) before raising. A hostile or broken provider could
so turn one answer into a 500 or a log line full of tokens. The HTTP client MSAL is given therefore
refuses, with a reason that never quotes the body, any token-endpoint answer below 500 that is not
what RFC 6749 §5.1/§5.2 and OpenID Connect Core §3.1.3.3 describe: a JSON object whose members
have the documented types. (A 5xx MSAL never parses: it raises, and the caller says "unavailable".)
"""

from __future__ import annotations

import base64
import json
from typing import Any

import requests

from .errors import IdentityError

# RFC 6749 §5.1/§5.2, OIDC Core §3.1.3.3, and Entra's token response (client_info, ext_expires_in,
# refresh_in, error_codes, correlation_id, suberror, claims, foci) as MSAL reads them.
STRING_MEMBERS = (
    "access_token",
    "token_type",
    "refresh_token",
    "scope",
    "id_token",
    "client_info",
    "foci",
    "error",
    "error_description",
    "error_uri",
    "suberror",
    "claims",
    "correlation_id",
    "trace_id",
    "timestamp",
)
# Seconds. MSAL calls int() on these (Entra's v1 endpoint sends digit strings, so those pass too).
SECONDS_MEMBERS = ("expires_in", "ext_expires_in", "expires_on")
# MSAL adds this one to the current time as it is: a JSON integer only.
INTEGER_SECONDS_MEMBERS = ("refresh_in",)
MAX_SECONDS = 10**10  # about 300 years: anything larger is not a lifetime


class TokenResponseRefused(IdentityError):
    """The token endpoint answered something that is not a token response (reason never quotes it)."""


class TokenEndpointGuard:
    """The HTTP client handed to MSAL: GETs (discovery) pass through; every POST is a token request
    (the only thing MSAL posts for this app), and its answer is checked before MSAL sees it."""

    def __init__(self, http: requests.Session) -> None:
        self._http = http

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._http.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        response = self._http.post(url, **kwargs)
        if response.status_code < 500:
            check_token_response(response.status_code, response.text)  # what MSAL parses: the text
        return response

    def close(self) -> None:
        # The session is shared process-wide (outbound.py); one MSAL app going away must not close it.
        pass


def check_token_response(status: int, body: str) -> dict[str, Any]:
    """The parsed answer, or TokenResponseRefused saying what is wrong with it (never the body)."""
    where = f"token endpoint answered HTTP {status} with"
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # also NaN/Infinity, which are not JSON (RFC 8259 §6)
        raise TokenResponseRefused(f"{where} a body that is not JSON ({len(body)} characters)") from None
    if not isinstance(parsed, dict):
        raise TokenResponseRefused(f"{where} a JSON {_json_type(parsed)}, not an object")
    for name in STRING_MEMBERS:
        if name in parsed and not isinstance(parsed[name], str):
            raise TokenResponseRefused(f"{where} an {name} that is a JSON {_json_type(parsed[name])}, not a string")
    for name in SECONDS_MEMBERS + INTEGER_SECONDS_MEMBERS:
        if name in parsed and not _is_seconds(parsed[name], strings_allowed=name in SECONDS_MEMBERS):
            raise TokenResponseRefused(f"{where} an {name} that is not a number of seconds")
    codes = parsed.get("error_codes")
    if codes is not None and not (isinstance(codes, list) and all(_is_int(c) for c in codes)):
        raise TokenResponseRefused(f"{where} an error_codes that is not an array of integers")
    if "id_token" in parsed and not _is_jwt_with_object_payload(parsed["id_token"]):
        # MSAL decodes the payload (without checking it) before the app's own checks run.
        raise TokenResponseRefused(f"{where} an id_token that is not a JWT with a JSON object payload")
    if "client_info" in parsed and not isinstance(_base64url_json(parsed["client_info"]), dict):
        raise TokenResponseRefused(f"{where} a client_info that is not a base64url-encoded JSON object")
    return parsed


def decode_client_info(client_info: str) -> Any:
    """Entra's client_info: base64url (padding optional) of a JSON object; None when unreadable."""
    return _base64url_json(client_info)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), "null")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: Any, *, strings_allowed: bool) -> bool:
    if strings_allowed and isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        value = int(value)
    return _is_int(value) and -MAX_SECONDS < value < MAX_SECONDS


def _is_jwt_with_object_payload(token: str) -> bool:
    segments = token.split(".")
    return len(segments) == 3 and isinstance(_base64url_json(segments[1]), dict)


def _base64url_json(encoded: str) -> Any:
    # As MSAL decodes it (oauth2cli.oidc.decode_part): base64url, padding optional, then UTF-8 JSON.
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # binascii.Error, UnicodeDecodeError, JSONDecodeError are ValueErrors
        return None
