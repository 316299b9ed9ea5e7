"""A small Microsoft Graph client for `/me`: read the profile, update what a customer may change.

Retries for 429/503 live in the HTTP session (see `outbound.graph_retry`); this module turns the
final answer into data or a typed error. A 401 carrying a claims challenge becomes
`GraphClaimsChallenge` with the decoded claims JSON, ready to hand to MSAL as `claims_challenge`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any

import requests

# What the profile pages show. `GET /me` without `$select` returns only Graph's default set, which
# lacks the address fields, so the client asks for exactly these.
PROFILE_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "jobTitle",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "preferredLanguage",
)


class GraphError(Exception):
    """Graph answered with an error; `code` and `message` come from Graph's error body."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class GraphUnavailable(GraphError):
    """Graph kept answering 429/503 (or could not be reached) after the bounded retries."""


class GraphForbidden(GraphError):
    """403: the token lacks the permission (or the tenant denies the operation)."""


class GraphUnauthorized(GraphError):
    """401 without a claims challenge: the token was refused."""


class GraphClaimsChallenge(GraphUnauthorized):
    """401 with `error="insufficient_claims"`: get a new token with these claims and try again."""

    def __init__(self, status: int, code: str, message: str, claims: str, request_id: str | None = None) -> None:
        super().__init__(status, code, message, request_id)
        self.claims = claims


class GraphBadRequest(GraphError):
    """400: Graph refused a value we sent."""

    @property
    def property_name(self) -> str | None:
        """The property Graph's message names ("Invalid value specified for property 'city' ..."), if any."""
        match = _PROPERTY_IN_MESSAGE.search(self.message)
        return match.group(1) if match else None


@dataclass(frozen=True)
class Profile:
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)


class GraphClient:
    def __init__(self, endpoint: str, http: requests.Session) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = http

    def get_me(self, access_token: str) -> Profile:
        response = self._send("GET", "/me", access_token, params={"$select": ",".join(PROFILE_FIELDS)})
        body = response.json()
        return Profile({name: body.get(name) for name in PROFILE_FIELDS})

    def update_me(self, access_token: str, changes: dict[str, Any]) -> None:
        self._send("PATCH", "/me", access_token, json=changes)

    def _send(self, method: str, path: str, access_token: str, **kwargs: Any) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "client-request-id": str(uuid.uuid4()),
            "Accept": "application/json",
        }
        try:
            response = self._http.request(method, self.endpoint + path, headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise GraphUnavailable(0, type(exc).__name__, "Microsoft Graph could not be reached") from exc
        if response.status_code < 400:
            return response
        raise _error_from(response)


def _error_from(response: requests.Response) -> GraphError:
    status = response.status_code
    try:
        error = response.json().get("error", {})
        code = str(error.get("code") or status)
        message = str(error.get("message") or "")
        request_id = (error.get("innerError") or {}).get("request-id")
    except (ValueError, AttributeError):
        code, message, request_id = str(status), response.text[:200], None
    request_id = request_id or response.headers.get("request-id")
    if status in (429, 503) or status >= 500:
        return GraphUnavailable(status, code, message, request_id)
    if status == 401:
        claims = claims_from_challenge(response.headers.get("WWW-Authenticate", ""))
        if claims is not None:
            return GraphClaimsChallenge(status, code, message, claims, request_id)
        return GraphUnauthorized(status, code, message, request_id)
    if status == 403:
        return GraphForbidden(status, code, message, request_id)
    if status == 400:
        return GraphBadRequest(status, code, message, request_id)
    return GraphError(status, code, message, request_id)


_PROPERTY_IN_MESSAGE = re.compile(r"property '([A-Za-z]+)'")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def claims_from_challenge(www_authenticate: str) -> str | None:
    """The decoded `claims` of a Bearer `insufficient_claims` challenge, or None if there is none."""
    if not www_authenticate.lower().startswith("bearer"):
        return None
    params = {k.lower(): v for k, v in _AUTH_PARAM.findall(www_authenticate)}
    if params.get("error") != "insufficient_claims" or not params.get("claims"):
        return None
    encoded = params["claims"]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_").decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
