"""Sign-in, sign-up, the redirect URI callback and sign-out: HTTP in, identity calls, HTTP out."""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any

import msal
from flask import Blueprint, Flask, redirect, request, url_for
from werkzeug.wrappers import Response

from ..identity import SignInError
from ..token_cache import merge_caches
from . import user_session
from .security import safe_return_path

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Entra External ID's hosted pages open on the sign-up screen with prompt=create.
PROMPT_SIGN_UP = "create"


def login_required(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if user_session.current_user() is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def begin_authorization(
    *,
    scopes: list[str],
    after_sign_in: str | None,
    prompt: str | None = None,
    claims_challenge: str | None = None,
) -> Response:
    """Start an auth code flow (PKCE, state, nonce by MSAL), keep it in the session, go to the tenant."""
    services = user_session.services()
    login_hint = (user_session.current_user() or {}).get("preferred_username")
    flow = services.entra.start_sign_in(scopes, prompt=prompt, claims_challenge=claims_challenge, login_hint=login_hint)
    user_session.start_auth_flow(flow, safe_return_path(after_sign_in))
    return redirect(flow["auth_uri"])


@bp.get("/sign-in")
def sign_in() -> Response:
    return begin_authorization(
        scopes=list(user_session.services().settings.sign_in_scopes), after_sign_in=request.args.get("next")
    )


@bp.get("/sign-up")
def sign_up() -> Response:
    return begin_authorization(
        scopes=list(user_session.services().settings.sign_in_scopes),
        after_sign_in=request.args.get("next"),
        prompt=PROMPT_SIGN_UP,
    )


def redirect_callback() -> Response:
    """The redirect URI: redeem the code, validate the ID token, then (only then) sign the user in."""
    services = user_session.services()
    flow = user_session.pop_auth_flow()
    auth_response = {key: value for key, value in request.args.items()}
    if auth_response.get("error") == "access_denied" and flow and auth_response.get("state") == flow["state"]:
        log.info("sign-in cancelled at the tenant", extra={"tenant_error": "access_denied"})
        return redirect(url_for("main.sign_in_cancelled"))
    # Redeem into an empty cache: if anything fails, nothing of it is kept.
    cache = msal.SerializableTokenCache()
    try:
        signed_in = services.entra.complete_sign_in(flow, auth_response, cache)
    except SignInError as exc:
        _log_refusal(exc)
        raise
    if user_session.home_account_id() == signed_in.home_account_id:
        # Step-up of the same customer: keep the tokens already held (Graph) beside the new ones.
        cache = merge_caches(user_session.load_token_cache(), cache)
    after_sign_in = user_session.sign_in(signed_in.claims, signed_in.home_account_id, cache)
    if services.settings.mfa_scope in (flow.get("scope") or ()):
        user_session.record_step_up()
    log.info("signed in", extra={"oid": signed_in.claims.get("oid")})
    return redirect(after_sign_in or url_for("main.index"), code=303)


@bp.post("/sign-out")
def sign_out() -> Response:
    claims = user_session.sign_out(farewell="You have been signed out.")
    return redirect(user_session.services().entra.sign_out_url(claims), code=303)


def register_redirect_route(app: Flask, path: str) -> None:
    """The callback lives wherever REDIRECT_URI says (the sample: /redirect; our default: /auth/redirect)."""
    app.add_url_rule(path, endpoint="auth.redirect", view_func=redirect_callback, methods=["GET"])


def _log_refusal(exc: SignInError) -> None:
    log.warning(
        "sign-in refused: %s",
        exc.reason,
        extra={"correlation_id": exc.correlation_id, "tenant_error": exc.tenant_error},
    )
