"""Typed errors of the emulator, shaped after Entra's AADSTS errors."""

from __future__ import annotations

from typing import Any


class EmulatorError(Exception):
    """Base class of every error the emulator raises on purpose."""


class EntraProtocolError(EmulatorError):
    """An OAuth error Entra reports with an AADSTS code.

    The token endpoint renders it as Entra's JSON error body; /authorize turns it into an
    error redirect back to the client.
    """

    def __init__(
        self,
        error: str,
        code: int,
        message: str,
        *,
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.error = error
        self.code = code
        self.message = message
        self.status = status
        self.extra = dict(extra or {})


class AuthorizePageError(EmulatorError):
    """An /authorize problem that must be shown on the emulator's own page, never redirected.

    Entra never redirects to an unverified redirect URI (unknown client, unregistered URI).
    """

    def __init__(self, code: int, message: str, *, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class UnknownTenantError(EmulatorError):
    """The tenant segment of the path names no tenant of this emulator."""

    def __init__(self, segment: str) -> None:
        super().__init__(segment)
        self.segment = segment


class GraphError(EmulatorError):
    """A Microsoft Graph error response (``{"error": {"code", "message", "innerError"}}``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class TokenValidationError(EmulatorError):
    """A JWT presented to the emulator (Graph bearer, id_token_hint) failed validation."""
