"""Getting a Microsoft Graph token for an admin of the external tenant."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import msal
import requests

from ciam_registration.errors import AdminSignInError

# Microsoft Graph Command Line Tools: a public client Microsoft publishes in every tenant (the
# Graph PowerShell SDK and CLI sign in with it). An admin may register their own public client
# instead and pass --client-id.
GRAPH_COMMAND_LINE_TOOLS_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

# Delegated permissions the registration needs. Creating a conditional access policy needs
# Policy.Read.All as well as Policy.ReadWrite.ConditionalAccess (Graph's permission table).
ADMIN_PERMISSIONS = (
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    # User flows, their custom attributes, and email one-time passcode in the authentication methods
    # policy (each Graph reference page's least privileged delegated permission).
    "EventListener.ReadWrite.All",
    "IdentityUserFlow.ReadWrite.All",
    "Policy.ReadWrite.AuthenticationMethod",
)
ADMIN_SCOPES = tuple(f"https://graph.microsoft.com/{name}" for name in ADMIN_PERMISSIONS)


def ciam_authority(tenant_subdomain: str) -> str:
    return f"https://{tenant_subdomain}.ciamlogin.com/"


def token_from_environment(variable: str, environ: Mapping[str, str] | None = None) -> str:
    """A token the caller obtained some other way (automation, tests)."""
    token = (os.environ if environ is None else environ).get(variable, "").strip()
    if not token:
        raise AdminSignInError(
            f"The environment variable {variable} is empty or not set; put a Graph access token in it."
        )
    return token


class _VerifyingSession(requests.Session):
    """Passes ``verify`` and ``timeout`` on every request MSAL makes.

    A Session-level ``verify`` loses to REQUESTS_CA_BUNDLE in the environment; a per-request one wins.
    """

    def __init__(self, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self._verify_with = verify
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._verify_with
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def token_by_device_code(
    *,
    authority: str,
    client_id: str = GRAPH_COMMAND_LINE_TOOLS_CLIENT_ID,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    show: Callable[[str], None] = print,
    application_factory: Callable[..., Any] = msal.PublicClientApplication,
) -> str:
    """Run MSAL's device code flow; ``show`` tells the admin where to enter which code."""
    application = application_factory(
        client_id,
        authority=authority,
        http_client=_VerifyingSession(ca_bundle or True, timeout),
    )
    flow = application.initiate_device_flow(scopes=list(ADMIN_SCOPES))
    if "user_code" not in flow:
        raise AdminSignInError(
            "The tenant did not start a device code sign-in: "
            f"{flow.get('error', 'unknown error')}: {flow.get('error_description', '')}".strip()
        )
    show(flow["message"])
    result = application.acquire_token_by_device_flow(flow)
    token = result.get("access_token") if isinstance(result, dict) else None
    if not token:
        error = result.get("error", "unknown error") if isinstance(result, dict) else "no answer"
        description = result.get("error_description", "") if isinstance(result, dict) else ""
        raise AdminSignInError(f"The admin sign-in did not complete: {error}: {description}".strip())
    return token
