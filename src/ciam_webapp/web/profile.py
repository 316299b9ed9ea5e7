"""The profile (Graph GET /me) and the MFA-gated edit (Graph PATCH /me)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from werkzeug.wrappers import Response

from ..graph import (
    GraphBadRequest,
    GraphClaimsChallenge,
    GraphError,
    GraphForbidden,
    GraphUnauthorized,
    GraphUnavailable,
    Profile,
)
from ..identity import InteractionRequired
from ..step_up import PendingEdit, mfa_is_fresh
from . import user_session
from .auth import begin_authorization, login_required
from .forms import ProfileForm

log = logging.getLogger(__name__)

bp = Blueprint("profile", __name__, url_prefix="/profile")

RenderResult = str | tuple[str, int] | Response


def _settings() -> Any:
    return user_session.services().settings


def _graph_token(claims_challenge: str | None = None) -> str:
    services = user_session.services()
    with user_session.token_cache() as cache:
        token = services.entra.acquire_token(
            cache,
            user_session.home_account_id() or "",
            list(services.settings.graph_scopes),
            claims_challenge=claims_challenge,
        )
    return token.token


def _reauthorize_for_graph(after: str, claims_challenge: str | None = None) -> Response:
    return begin_authorization(
        scopes=list(_settings().graph_scopes), after_sign_in=after, claims_challenge=claims_challenge
    )


def _load_profile(come_back_to: str) -> Profile | RenderResult:
    """Graph's /me, or the response that deals with not getting it (re-authentication or an error page)."""
    try:
        return user_session.services().graph.get_me(_graph_token())
    except InteractionRequired as exc:
        return _reauthorize_for_graph(come_back_to, exc.claims_challenge)
    except GraphClaimsChallenge as exc:
        return _reauthorize_for_graph(come_back_to, exc.claims)
    except GraphError as exc:
        return _graph_failure_page(exc)


@bp.get("")
@login_required
def view() -> RenderResult:
    profile = _load_profile(url_for("profile.view"))
    if not isinstance(profile, Profile):
        return profile
    return render_template("profile.html", profile=profile)


def _step_up_needed() -> tuple[bool, str | None, str | None]:
    """(needed, claims challenge, prompt) for the MFA-guarded scope."""
    settings = _settings()
    services = user_session.services()
    try:
        with user_session.token_cache() as cache:
            services.entra.acquire_token(cache, user_session.home_account_id() or "", [settings.mfa_scope])
    except InteractionRequired as exc:
        log.info("step-up required by the tenant", extra={"error_codes": list(exc.error_codes)})
        return True, exc.claims_challenge, None
    if not mfa_is_fresh(session.get("mfa_at"), settings.step_up_max_age):
        # The tenant would hand out the token silently; our own rule wants a recent MFA, so ask the
        # tenant to authenticate again (it then asks for MFA because of the policy on the scope).
        return True, None, "login"
    return False, None, None


def _begin_step_up(claims_challenge: str | None, prompt: str | None, after: str) -> Response:
    return begin_authorization(
        scopes=[_settings().mfa_scope], after_sign_in=after, claims_challenge=claims_challenge, prompt=prompt
    )


@bp.get("/edit")
@login_required
def edit() -> RenderResult:
    needed, claims_challenge, prompt = _step_up_needed()
    if needed:
        return _begin_step_up(claims_challenge, prompt, url_for("profile.edit"))
    profile = _load_profile(url_for("profile.edit"))
    if not isinstance(profile, Profile):
        return profile
    form = ProfileForm(data={"display_name": profile["displayName"], "mail": profile["mail"]})
    return render_template("edit_profile.html", form=form)


@bp.post("/edit")
@login_required
def submit_edit() -> RenderResult:
    form = ProfileForm()
    if not form.validate_on_submit():
        return render_template("edit_profile.html", form=form), 400
    needed, claims_challenge, prompt = _step_up_needed()
    if needed:
        # Keep what the user typed server-side; it is applied when they return from MFA.
        session["pending_edit"] = PendingEdit(form.changes(), time.time()).to_session()
        return _begin_step_up(claims_challenge, prompt, url_for("profile.resume_edit"))
    return _apply(form.changes(), form)


@bp.get("/edit/resume")
@login_required
def resume_edit() -> RenderResult:
    """Where the MFA round trip comes back to: apply the edit the user already submitted, once."""
    pending = PendingEdit.from_session(session.get("pending_edit"))
    if pending is None:
        session.pop("pending_edit", None)
        return redirect(url_for("profile.edit"))
    needed, claims_challenge, prompt = _step_up_needed()
    if needed:
        return _begin_step_up(claims_challenge, prompt, url_for("profile.resume_edit"))
    session.pop("pending_edit", None)
    form = ProfileForm(data={"display_name": pending.changes.get("displayName"), "mail": pending.changes.get("mail")})
    return _apply(pending.changes, form)


def _apply(changes: dict[str, str], form: ProfileForm) -> RenderResult:
    services = user_session.services()
    try:
        services.graph.update_me(_graph_token(), changes)
    except (InteractionRequired, GraphClaimsChallenge) as exc:
        claims = exc.claims if isinstance(exc, GraphClaimsChallenge) else exc.claims_challenge
        session["pending_edit"] = PendingEdit(changes, time.time()).to_session()
        return _reauthorize_for_graph(url_for("profile.resume_edit"), claims)
    except GraphBadRequest as exc:
        log.info("Graph refused the profile values: %s", exc.code)
        return render_template("edit_profile.html", form=form, graph_error=exc.message), 400
    except GraphUnavailable as exc:
        log.warning(
            "Graph unavailable during profile update",
            extra={"status": exc.status, "request_id": exc.request_id},
        )
        return (
            render_template(
                "edit_profile.html",
                form=form,
                graph_error="Microsoft Graph is busy right now, so your changes were not saved. "
                "Your values are still here: try again in a moment.",
            ),
            503,
        )
    except GraphError as exc:
        return _graph_failure_page(exc)
    log.info("profile updated", extra={"oid": (user_session.current_user() or {}).get("oid")})
    flash("Your profile was saved.", "success")
    return redirect(url_for("profile.view"), code=303)


def _graph_failure_page(exc: GraphError) -> tuple[str, int]:
    log.warning("Graph error %s %s", exc.status, exc.code, extra={"request_id": exc.request_id})
    if isinstance(exc, GraphForbidden):
        return (
            render_template(
                "error.html",
                title="Not allowed",
                message="Your account is not allowed to do this. If you think it should be, contact support.",
                correlation_id=exc.request_id,
            ),
            403,
        )
    if isinstance(exc, GraphUnauthorized):
        return (
            render_template(
                "error.html",
                title="Please sign in again",
                message="Your session with Microsoft Graph is no longer valid.",
                retry_url="auth.sign_in",
            ),
            401,
        )
    return (
        render_template(
            "error.html",
            title="Profile unavailable",
            message="We could not reach the profile service. Please try again in a moment.",
            retry_here=url_for("profile.view"),
            correlation_id=exc.request_id,
        ),
        503,
    )
