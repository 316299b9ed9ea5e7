"""Home, the ID token claims page, the page for a sign-in the customer cancelled, and what every page
template may ask for (the signed-in user, a one-shot notice)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, render_template, request, url_for

from ..claims import describe_claims
from ..sessions import SessionStoreError, SignedInUser
from .auth import login_required
from .browser_session import sign_in_session

log = logging.getLogger(__name__)

bp = Blueprint("main", __name__)
# Templates ask for a handful of fixed links; values a client chooses never reach url_for here,
# but the bound keeps a mistake from growing the cache without end.
MAX_REMEMBERED_URLS = 256


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

    app.jinja_env.globals["url_for"] = remembered_url_for()


def remembered_url_for() -> Callable[..., str]:
    """Flask's url_for for templates, remembering the paths it built: a page asks for the same six or
    seven links on every view (about 6% of the claims page's CPU, benchmarks/profiling-notes.md).
    A path depends only on the endpoint, its values and the app's mount point (SCRIPT_NAME); anything
    else (an external URL, an anchor, a blueprint-relative endpoint) is built by Flask every time."""
    built: dict[tuple[str, str, tuple[tuple[str, Any], ...]], str] = {}

    def cached_url_for(endpoint: str, **values: Any) -> str:
        if endpoint.startswith(".") or any(name.startswith("_") for name in values):
            return url_for(endpoint, **values)
        try:
            key = (request.script_root, endpoint, tuple(sorted(values.items())))
            hash(key)
        except TypeError:  # a value that cannot be a key
            return url_for(endpoint, **values)
        path = built.get(key)
        if path is None:
            path = url_for(endpoint, **values)
            if len(built) < MAX_REMEMBERED_URLS:
                built[key] = path
        return path

    return cached_url_for
