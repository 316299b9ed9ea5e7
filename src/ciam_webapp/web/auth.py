"""Sign-in, sign-up, the redirect URI callback and sign-out: HTTP in, SignInSession calls, HTTP out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, redirect, request, url_for
from werkzeug.wrappers import Response

from ..identity import SignInError
from ..sessions import Outcome
from .browser_session import services, sign_in_session
from .security import safe_return_path

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Entra External ID's hosted pages open on the sign-up screen with prompt=create.
PROMPT_SIGN_UP = "create"


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if sign_in_session().user() is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


@bp.get("/sign-in")
def sign_in() -> Response:
    return redirect(sign_in_session().start_sign_in(after=safe_return_path(request.args.get("next"))))


@bp.get("/sign-up")
def sign_up() -> Response:
    after = safe_return_path(request.args.get("next"))
    return redirect(sign_in_session().start_sign_in(after=after, prompt=PROMPT_SIGN_UP))


# The tenant's password reset starts from "Forgot password?" on its sign-in page (Entra's self-service
# password reset for customers); prompt=login makes the tenant show that page even to a signed-in customer.
PROMPT_SIGN_IN_PAGE = "login"


@bp.get("/password-reset")
def password_reset() -> Response:
    after = safe_return_path(request.args.get("next"))
    return redirect(sign_in_session().start_sign_in(after=after, prompt=PROMPT_SIGN_IN_PAGE))


def redirect_callback() -> Response:
    """The redirect URI: redeem the code, validate the ID token, then (only then) update the session."""
    try:
        result = sign_in_session().complete(request.args.to_dict())
    except SignInError as exc:
        log.warning(
            "sign-in refused: %s",
            exc.reason,
            extra={"correlation_id": exc.correlation_id, "tenant_error": exc.tenant_error},
        )
        raise
    if result.outcome is Outcome.CANCELLED:
        log.info("sign-in cancelled at the tenant", extra={"tenant_error": "access_denied"})
        return redirect(url_for("main.sign_in_cancelled"))
    user = sign_in_session().user()
    log.info(result.outcome.value.replace("_", " "), extra={"oid": user.oid if user else None})
    if result.ready_edit:
        return redirect(url_for("profile.resume_edit", edit=result.ready_edit), code=303)
    return redirect(result.after or url_for("main.index"), code=303)


@bp.post("/sign-out")
def sign_out() -> Response:
    session = sign_in_session()
    claims = session.sign_out()
    session.notify("info", "You have been signed out.")
    return redirect(services().entra.sign_out_url(claims), code=303)


def register_redirect_route(app: Flask, path: str) -> None:
    """The callback lives wherever REDIRECT_URI says (the sample: /redirect; our default: /auth/redirect)."""
    app.add_url_rule(path, endpoint="auth.redirect", view_func=redirect_callback, methods=["GET"])
