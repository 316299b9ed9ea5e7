"""Home, the ID token claims page, and the page for a sign-in the customer cancelled."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..claims import describe_claims
from . import user_session
from .auth import login_required

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html", user=user_session.current_user())


@bp.get("/claims")
@login_required
def claims() -> str:
    user = user_session.current_user() or {}
    return render_template("claims.html", rows=describe_claims(user))


@bp.get("/signed-in-cancelled")
def sign_in_cancelled() -> tuple[str, int]:
    return render_template("cancelled.html"), 200
