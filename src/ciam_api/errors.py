"""The API's typed errors. Protocol code raises them; the web layer maps each to one HTTP answer.

`reason` is for the log only: it never reaches the caller (RFC 6750 codes say all a client needs).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidToken(ApiError):
    """401 `invalid_token`: missing, malformed, not signed by the tenant, expired, not for this API,
    or from a client app that may not call it."""


class InsufficientScope(ApiError):
    """403 `insufficient_scope`: a valid token without the scope (or auth context) this API requires."""


class ClaimsChallenge(ApiError):
    """401 `insufficient_claims`: the client must get a new token satisfying `claims` (decoded JSON)."""

    def __init__(self, reason: str, claims: str) -> None:
        super().__init__(reason)
        self.claims = claims


class TemporarilyUnavailable(ApiError):
    """503: the tenant or Graph could not be reached, or kept throttling beyond the retry budget."""

    def __init__(self, reason: str, retry_after: int = 5) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeploymentError(ApiError):
    """500: the API is not set up right (no admin consent for its Graph permission, a refused
    credential). Retrying does not help; an administrator must act, so it is logged loudly."""


class InvalidRequest(ApiError):
    """400 `invalid_request`: the body is not a JSON object of editable properties with acceptable
    values. `fields` maps each offending property to a message for the customer."""

    def __init__(self, description: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.fields = fields or {}


class ForbiddenFields(ApiError):
    """403 `forbidden_fields`: Graph refused the change (Authorization_RequestDenied); `fields`
    names the properties that were submitted, with the message the web app shows."""

    def __init__(self, reason: str, fields: dict[str, str]) -> None:
        super().__init__(reason)
        self.fields = fields
