"""Home, the ID token claims page, the page for a sign-in the customer cancelled, and what every page
template may ask for (the signed-in user, a one-shot notice)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, render_template

from ..claims import describe_claims
from ..sessions import SessionStoreError, SignedInUser
from .auth import login_required
from .browser_session import sign_in_session

log = logging.getLogger(__name__)

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/claims")
@login_required
def claims() -> str:
    user = sign_in_session().user()
    return render_template("claims.html", rows=describe_claims(user.claims if user else {}))


@bp.get("/signed-in-cancelled")
def sign_in_cancelled() -> tuple[str, int]:
    return render_template("cancelled.html"), 200


def install_page_context(app: Flask) -> None:
    """Templates call these only when they render them, so a page that does not show the user never
    reads the session store."""

    def current_user() -> SignedInUser | None:
        try:
            return sign_in_session().user()
        except SessionStoreError as exc:
            # An error page must still render while the store is down; it shows the header signed out.
            log.warning("page rendered without its session: %s", exc.reason)
            return None

    def take_notice() -> tuple[str, str] | None:
        return sign_in_session().take_notice()

    @app.context_processor
    def page_context() -> dict[str, Any]:
        return {"current_user": current_user, "take_notice": take_notice}
