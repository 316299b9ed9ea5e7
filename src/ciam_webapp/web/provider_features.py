"""What the app offers depends on the sign-in provider: with a generic OpenID Provider (OIDC_ISSUER)
the Graph profile and the MFA-gated edit do not exist, and sign-up only if the provider says so.

Templates read `offers.profile` and `offers.sign_up` to hide links; the routes behind them answer a
page that says why, instead of failing halfway through a flow that needs Entra.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, render_template, request

from ..identity import EntraClient, TenantUnavailable
from .browser_session import services

# The profile blueprint reads and edits the user through Microsoft Graph, behind Entra's MFA policy.
ENTRA_ONLY_BLUEPRINTS = frozenset({"profile"})
SIGN_UP_ENDPOINT = "auth.sign_up"
NOT_OFFERED_STATUS = 404

PROFILE_NOT_OFFERED = (
    "Your profile is kept by your sign-in provider. This app reads and edits profiles through Microsoft "
    "Graph, behind a one-time code, which only Microsoft Entra External ID offers; here you can see the "
    "claims your provider sent."
)
SIGN_UP_NOT_OFFERED = (
    "This sign-in provider does not offer to open its sign-up page for apps. If you have no account yet, "
    "create one with the provider itself, then sign in here."
)


class ProviderFeatures:
    """Computed per request and only when a template asks (sign-up may need the discovery document)."""

    def __init__(self, entra: EntraClient) -> None:
        self._entra = entra

    @property
    def entra(self) -> bool:
        return self._entra.is_entra

    @property
    def profile(self) -> bool:
        return self._entra.is_entra

    @cached_property
    def sign_up(self) -> bool:
        try:
            return self._entra.offers_sign_up()
        except TenantUnavailable:
            return False  # the provider is unreachable: sign-in shows the outage page anyway

    @property
    def provider_name(self) -> str:
        if self._entra.is_entra:
            return "Microsoft Entra External ID"
        return f"OpenID Connect ({urlsplit(self._entra.oidc_issuer or '').hostname})"


def install(app: Flask) -> None:
    @app.before_request
    def answer_what_this_provider_does_not_offer() -> tuple[str, int] | None:
        entra: EntraClient = services().entra
        if entra.is_entra:
            return None
        if request.blueprint in ENTRA_ONLY_BLUEPRINTS:
            return _not_offered("Profile not available", PROFILE_NOT_OFFERED)
        if request.endpoint == SIGN_UP_ENDPOINT and not entra.offers_sign_up():
            return _not_offered("Sign-up not available", SIGN_UP_NOT_OFFERED)
        return None

    @app.context_processor
    def provider_features() -> dict[str, Any]:
        return {"offers": ProviderFeatures(services().entra)}


def _not_offered(title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", title=title, message=message), NOT_OFFERED_STATUS
