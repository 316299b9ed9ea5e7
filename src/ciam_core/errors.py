"""Errors of the shared protocol code. Each caller maps them to its own answer (a page, a 401, a 503)."""

from __future__ import annotations


class ProviderUnavailable(Exception):
    """The provider's discovery document or key set could not be fetched or used; worth retrying later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenRejected(Exception):
    """A token failed one of the checks; `reason` says which (for logs: it never holds the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UntrustedKey(TokenRejected):
    """A token names a signing key the provider does not publish (or one that may not be used)."""
