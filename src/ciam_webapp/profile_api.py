"""A small client for the mfa-app's profile API (`ciam_api`), the web app's way to edit in API mode.

The API validates the customer's `User.MFA` access token itself and changes the profile through Graph
on behalf of the customer, so the web app never holds a Graph token that can write. This module sends
`PATCH /profile` through the app's outbound session (timeouts, CA bundle) and turns every answer the
API's contract names into data or a typed error; the views map those errors to pages. No Flask here.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

from ciam_core.graph import claims_from_challenge

PROFILE_PATH = "/profile"


class ProfileApiError(Exception):
    """The API answered with something its contract does not name (or an error we do not map)."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(f"profile API {status} {code}: {description}".rstrip(": "))
        self.status = status
        self.code = code
        self.description = description


class ProfileApiClaimsChallenge(ProfileApiError):
    """401 `insufficient_claims`: authenticate again with these claims (decoded JSON), then retry."""

    def __init__(self, claims: str) -> None:
        super().__init__(401, "insufficient_claims")
        self.claims = claims


class ProfileApiInvalidToken(ProfileApiError):
    """401 `invalid_token` (RFC 6750): the API refused the access token; a fresh one may do."""


class ProfileApiInsufficientScope(ProfileApiError):
    """403 `insufficient_scope` (RFC 6750): the token lacks what the API requires."""


class ProfileApiBadRequest(ProfileApiError):
    """400: values the API (or Graph behind it) refused, with a message per property where it names one."""

    def __init__(self, description: str, fields: dict[str, str]) -> None:
        super().__init__(400, "invalid_request", description)
        self.fields = fields


class ProfileApiForbiddenFields(ProfileApiError):
    """403 `forbidden_fields`: the tenant does not let the customer change these properties."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(403, "forbidden_fields")
        self.fields = fields


class ProfileApiUnavailable(ProfileApiError):
    """503 from the API (the tenant or Graph behind it is unreachable or throttling), or no answer at all."""

    def __init__(self, status: int, code: str, retry_after: str | None = None) -> None:
        super().__init__(status, code)
        self.retry_after = retry_after


class ProfileApiClient:
    def __init__(self, base_url: str, http: requests.Session) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http

    def update_profile(self, access_token: str, changes: dict[str, Any]) -> None:
        """PATCH /profile with only the properties to change (Graph's names; None clears one)."""
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "client-request-id": str(uuid.uuid4()),
        }
        try:
            response = self._http.patch(self.base_url + PROFILE_PATH, json=changes, headers=headers)
        except requests.RequestException as exc:
            raise ProfileApiUnavailable(0, type(exc).__name__) from exc
        if response.status_code in (200, 204):
            return
        raise error_from(response)


def error_from(response: requests.Response) -> ProfileApiError:
    status = response.status_code
    challenge = response.headers.get("WWW-Authenticate", "")
    body = _json_object(response)
    code = str(body.get("error") or status)
    description = str(body.get("error_description") or "")
    if status == 401:
        claims = claims_from_challenge(challenge)
        if claims is not None:
            return ProfileApiClaimsChallenge(claims)
        return ProfileApiInvalidToken(401, "invalid_token")
    if status == 403:
        if code == "forbidden_fields":
            return ProfileApiForbiddenFields(_fields(body))
        if "insufficient_scope" in challenge:
            return ProfileApiInsufficientScope(403, "insufficient_scope")
        return ProfileApiError(403, code, description)
    if status == 400:
        return ProfileApiBadRequest(description, _fields(body))
    if status in (429, 502, 503, 504):
        return ProfileApiUnavailable(status, code, response.headers.get("Retry-After"))
    return ProfileApiError(status, code, description)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # not JSON (a proxy's error page): the status alone decides
        return {}
    return body if isinstance(body, dict) else {}


def _fields(body: dict[str, Any]) -> dict[str, str]:
    fields = body.get("fields")
    if not isinstance(fields, dict):
        return {}
    return {str(name): str(message) for name, message in fields.items()}
