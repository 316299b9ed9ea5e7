"""Microsoft Graph's `/me`, for the web app and the API alike: read the profile, apply a change.

Retries for 429/503 live in the HTTP session (`ciam_core.outbound.graph_retry`, bounded); this
module turns the final answer into data or a typed error. Graph's error envelope is
`{"error": {"code", "message", "innerError": {"request-id", ...}}}` (entra-notes §6). A 401 carrying
a claims challenge becomes `GraphClaimsChallenge` with the decoded claims JSON, ready to hand to
MSAL as `claims_challenge`.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

import requests

_PROPERTY_IN_MESSAGE = re.compile(r"property '([A-Za-z]+)'")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
# The profile's properties both apps read (the API's `GET /profile` answers them in this order).
# Without `$select` Graph returns only its default set, which lacks the address fields.
PROFILE_FIELDS = (
    "id",
    "mail",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "preferredLanguage",
)
# Seconds a caller is told to wait when Graph's 429/503 named no Retry-After.
DEFAULT_RETRY_AFTER = 5


class GraphError(Exception):
    """Graph answered with an error; `code` and `message` come from Graph's error body."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"Graph {status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class GraphUnavailable(GraphError):
    """Graph kept answering 429/5xx (or could not be reached) after the bounded retries."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        retry_after: int = DEFAULT_RETRY_AFTER,
    ) -> None:
        super().__init__(status, code, message, request_id)
        self.retry_after = retry_after


class GraphForbidden(GraphError):
    """403, e.g. Authorization_RequestDenied: the user may not change (one of) these properties."""


class GraphUnauthorized(GraphError):
    """401: Graph refused the token. `claims` is None here; see GraphClaimsChallenge."""

    claims: str | None = None


class GraphClaimsChallenge(GraphUnauthorized):
    """401 with `error="insufficient_claims"`: get a new token with these claims and try again."""

    def __init__(self, status: int, code: str, message: str, claims: str, request_id: str | None = None) -> None:
        super().__init__(status, code, message, request_id)
        self.claims = claims


class GraphBadRequest(GraphError):
    """400: Graph refused a value."""

    @property
    def property_name(self) -> str | None:
        """The property Graph's message names ("Invalid value specified for property 'city' ..."), if any."""
        match = _PROPERTY_IN_MESSAGE.search(self.message)
        return match.group(1) if match else None


class GraphClient:
    """`/me` through `http` (an OutboundSession: timeouts, TLS and retries are its business)."""

    def __init__(self, endpoint: str, http: requests.Session) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = http

    def read_me(self, access_token: str) -> dict[str, Any]:
        """The signed-in user's PROFILE_FIELDS (None for a property Graph does not return)."""
        response = self._send("GET", "/me", access_token, params={"$select": ",".join(PROFILE_FIELDS)})
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphUnavailable(response.status_code, "not_json", "Graph answered with no JSON") from exc
        if not isinstance(body, dict):
            raise GraphUnavailable(response.status_code, "not_object", "Graph answered with no JSON object")
        return {name: body.get(name) for name in PROFILE_FIELDS}

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
        raise error_from(response)


def error_from(response: requests.Response) -> GraphError:
    """The typed error for Graph's answer `response` (status 400 or more)."""
    status = response.status_code
    try:
        error = response.json().get("error", {})
        code = str(error.get("code") or status)
        message = str(error.get("message") or "")
        request_id = (error.get("innerError") or {}).get("request-id")
    except (ValueError, AttributeError):
        code, message, request_id = str(status), response.text[:200], None
    request_id = request_id or response.headers.get("request-id")
    if status == 429 or status >= 500:
        return GraphUnavailable(status, code, message, request_id, retry_after_seconds(response))
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


def retry_after_seconds(response: requests.Response) -> int:
    """Graph's Retry-After in whole seconds, kept within 1 s to an hour; DEFAULT_RETRY_AFTER without one."""
    value = response.headers.get("Retry-After", "")
    return min(max(int(value), 1), 3600) if value.isdigit() else DEFAULT_RETRY_AFTER


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
