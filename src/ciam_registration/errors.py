"""Typed errors of the registration tool; every message says what went wrong and what to do."""

from __future__ import annotations


class RegistrationError(Exception):
    """Base class: registration stopped; the message is meant for the person running the tool."""


class AdminSignInError(RegistrationError):
    """No usable admin token: the device code sign-in failed, or the token variable is empty."""


class EnvFileError(RegistrationError):
    """The .env file could not be read or written."""


class RegistrationConflictError(RegistrationError):
    """The tenant holds something the tool will not guess about (two apps with one name, a policy
    with our name that targets another app). Fixing it is left to a person on purpose."""


class GraphRequestError(RegistrationError):
    """Microsoft Graph answered with an error (or did not answer)."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: str | None = None,
        graph_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.graph_message = graph_message
        self.request_id = request_id


class GraphAuthenticationError(GraphRequestError):
    """401: the token is missing, expired or not for Microsoft Graph."""


class GraphPermissionError(GraphRequestError):
    """403: the signed-in admin (or the token's scopes) lack a permission."""


class GraphNotFoundError(GraphRequestError):
    """404: the object does not exist (yet: Graph replicates new objects with a delay)."""


class GraphConflictError(GraphRequestError):
    """409: an object with the same key exists already."""


class GraphThrottledError(GraphRequestError):
    """429 after the retries: Graph is throttling this tenant or client."""


class GraphUnavailableError(GraphRequestError):
    """5xx after the retries, a timeout, or no connection."""
