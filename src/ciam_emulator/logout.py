"""RP-initiated sign-out, independent of Flask (v2-protocols-oidc, "Send a sign-out request").

Entra signs the hinted account out without asking when the request carries a valid `logout_hint`
(the `login_hint` optional claim sent back); without one it shows an account picker. Afterwards it
sends the browser to `post_logout_redirect_uri` when that is one of the app's redirect URIs, and
shows a generic "signed out" page otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from ciam_emulator.context import Emulator
from ciam_emulator.errors import TokenValidationError
from ciam_emulator.store import SsoSession, Tenant
from ciam_emulator.tokens import session_id_from_login_hint, v2_issuer, verify_emulator_token


@dataclass(frozen=True)
class SignOutRequest:
    """What the app asked for: where to go afterwards, and for which app."""

    tenant_id: str
    # The app the user signs out of, when the request names one (client_id, or id_token_hint's aud).
    client_id: str | None
    post_logout_redirect_uri: str
    state: str | None

    def form_fields(self) -> dict[str, str]:
        """The request, carried through the account picker's form (checked again when it comes back)."""
        fields = {"post_logout_redirect_uri": self.post_logout_redirect_uri}
        if self.client_id:
            fields["client_id"] = self.client_id
        if self.state is not None:
            fields["state"] = self.state
        return fields


@dataclass(frozen=True)
class Account:
    """One account signed in in this browser, as the picker shows it."""

    session_id: str
    display_name: str
    email: str


class AccountSelectionError(Exception):
    """The picked account is not one signed in in this browser (error-codes reference: AADSTS16001,
    UserAccountSelectionInvalid, "the user selects on a tile that the session select logic has rejected")."""

    code = 16001
    message = (
        "UserAccountSelectionInvalid: the account you picked is not signed in in this browser. "
        "Go back to the application and sign out again."
    )


def read_request(emulator: Emulator, tenant: Tenant, values: Mapping[str, str]) -> SignOutRequest:
    client_id = (values.get("client_id") or "").strip().lower() or None
    hint = values.get("id_token_hint")
    if hint:
        # UNSURE: id_token_hint and client_id are OpenID RP-initiated logout parameters that the
        # v2-protocols-oidc page does not list; the emulator uses them only to know the app.
        try:
            claims = verify_emulator_token(
                hint, emulator.keys, audiences=None, issuer=v2_issuer(tenant.id), verify_lifetime=False
            )
        except TokenValidationError:
            claims = None
        hinted_client = str(claims.get("aud", "")).lower() if claims else None
        # An invalid hint, or one naming another client, is no basis for a redirect.
        client_id = hinted_client if hinted_client and client_id in (None, hinted_client) else None
    return SignOutRequest(
        tenant_id=tenant.id,
        client_id=client_id,
        post_logout_redirect_uri=values.get("post_logout_redirect_uri", ""),
        state=values.get("state"),
    )


def hinted_session(emulator: Emulator, tenant: Tenant, logout_hint: str) -> SsoSession | None:
    """The session a `logout_hint` names, if it is a live session of this tenant."""
    session_id = session_id_from_login_hint(logout_hint) if logout_hint else None
    session = emulator.store.get_sso_session(session_id) if session_id else None
    return session if session is not None and session.tenant_id == tenant.id else None


def accounts_in_browser(emulator: Emulator, cookie_session: SsoSession | None) -> list[Account]:
    """The accounts the picker offers. The emulator's SSO cookie holds one session, so at most one."""
    if cookie_session is None:
        return []
    user = emulator.store.get_user(cookie_session.user_id)
    if user is None:
        return []
    return [Account(session_id=cookie_session.id, display_name=user.display_name, email=user.email)]


def sign_out_picked_account(emulator: Emulator, cookie_session: SsoSession | None, picked_session_id: str) -> None:
    """End the session the user picked; it must be the one this browser is signed in with."""
    if cookie_session is None:
        # Signed out meanwhile (another tab): nothing is left to end.
        return
    if picked_session_id != cookie_session.id:
        raise AccountSelectionError
    emulator.store.delete_sso_session(cookie_session.id)


def redirect_target(emulator: Emulator, request: SignOutRequest) -> str | None:
    """Where the browser goes after signing out, or None for the tenant's "signed out" page.

    v2-protocols-oidc: the post_logout_redirect_uri "must match one of the redirect URIs registered
    for your application".
    """
    uri = request.post_logout_redirect_uri
    app = emulator.store.find_app(request.tenant_id, request.client_id) if request.client_id else None
    if not uri or app is None or uri not in set(app.post_logout_redirect_uris) | set(app.redirect_uris):
        return None
    if request.state is None:
        return uri
    parts = urlsplit(uri)
    extra = urlencode({"state": request.state})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
