"""Typed errors of the identity layer. Views map each to a page; none carries a token or secret."""

from __future__ import annotations


class IdentityError(Exception):
    """Base class: `reason` is for logs, `user_message` is safe to show."""

    user_message = "Something went wrong while talking to the sign-in service."

    def __init__(self, reason: str, *, correlation_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.correlation_id = correlation_id


class SignInError(IdentityError):
    """The sign-in response was refused: bad state, a tenant error, or an ID token that failed checks."""

    user_message = "We could not sign you in."

    def __init__(
        self,
        reason: str,
        *,
        correlation_id: str | None = None,
        tenant_error: str | None = None,
        tenant_description: str | None = None,
    ) -> None:
        super().__init__(reason, correlation_id=correlation_id)
        self.tenant_error = tenant_error
        self.tenant_description = tenant_description


class SignInCancelled(SignInError):
    """The customer cancelled at the tenant (`error=access_denied` in a callback that passed the checks)."""


class IdTokenError(SignInError):
    """The ID token failed one of our checks (alg, typ, key, signature, iss, aud, dates, azp, tid, nonce)."""


class InteractionRequired(IdentityError):
    """The tenant needs the user in the browser (MFA, consent, expired session); carries any claims."""

    user_message = "Please confirm it's you to continue."

    def __init__(
        self,
        reason: str,
        *,
        claims_challenge: str | None = None,
        correlation_id: str | None = None,
        error_codes: tuple[int, ...] = (),
    ) -> None:
        super().__init__(reason, correlation_id=correlation_id)
        self.claims_challenge = claims_challenge
        self.error_codes = error_codes


class TenantUnavailable(IdentityError):
    """The tenant could not be reached or answered with a server error; worth retrying later."""

    user_message = "The sign-in service is not reachable right now. Please try again in a moment."
