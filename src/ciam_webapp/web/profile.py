"""The profile (Graph GET /me) and the MFA-gated edit: HTTP in, calls, HTTP out.

The edit goes to Graph's PATCH /me with the app's own token (direct mode), or, with PROFILE_API_URL
set (API mode), to the mfa-app API's PATCH /profile with the customer's MFA-scope token: the API
checks that token and edits through Graph on the customer's behalf, and the app holds only User.Read.
What may change and how a form becomes a PATCH body is ciam_core/customer_profile.py; the MFA rule and the edit
that waits for it are SignInSession's.
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ciam_core.customer_profile import LABELS, Changes, changes_between, language_name, refused_fields_message
from ciam_core.graph import (
    GraphBadRequest,
    GraphClaimsChallenge,
    GraphError,
    GraphForbidden,
    GraphUnauthorized,
    GraphUnavailable,
)

from ..claims import custom_attributes
from ..graph import Profile
from ..identity import InteractionRequired
from ..profile_api import (
    ProfileApiBadRequest,
    ProfileApiClaimsChallenge,
    ProfileApiClient,
    ProfileApiError,
    ProfileApiForbiddenFields,
    ProfileApiInvalidToken,
    ProfileApiUnavailable,
)
from ..sessions import StepUpNeeded
from .auth import login_required
from .browser_session import services, sign_in_session
from .forms import ProfileForm

log = logging.getLogger(__name__)

bp = Blueprint("profile", __name__, url_prefix="/profile")

RenderResult = str | tuple[str, int] | Response


def _graph_token() -> str:
    return sign_in_session().access_token(list(services().settings.graph_scopes))


def _reauthorize(after: str, claims_challenge: str | None) -> Response:
    return redirect(
        sign_in_session().reauthorize(
            scopes=list(services().settings.graph_scopes), claims_challenge=claims_challenge, after=after
        )
    )


# The tenant's answers that mean the customer's sign-in itself has ended, not that one more step is
# needed (entra-notes §13): AADSTS50173, the grant was revoked (TokensValidFrom, e.g. after a password
# reset), and 50133/50132, the session is invalid after a password change.
SIGN_IN_ENDED_CODES = frozenset({50173, 50133, 50132})


def _sign_in_again_page(come_back_to: str) -> tuple[str, int]:
    page = render_template(
        "error.html",
        title="Please sign in again",
        message="Your sign-in has ended, for example because your password was changed. Sign in again to continue.",
        retry_here=url_for("auth.sign_in", next=come_back_to),
        retry_label="Sign in again",
    )
    return page, 200


def _load_profile(come_back_to: str) -> Profile | RenderResult:
    """Graph's /me, or the response that deals with not getting it (re-authentication or an error page)."""
    try:
        return services().graph.get_me(_graph_token())
    except InteractionRequired as exc:
        if SIGN_IN_ENDED_CODES & set(exc.error_codes):
            log.info("sign-in ended at the tenant", extra={"tenant_error": list(exc.error_codes)})
            return _sign_in_again_page(come_back_to)
        return _reauthorize(come_back_to, exc.claims_challenge)
    except GraphClaimsChallenge as exc:
        return _reauthorize(come_back_to, exc.claims)
    except GraphError as exc:
        return _graph_failure_page(exc)


def _sign_in_email() -> str | None:
    user = sign_in_session().user()
    return user.sign_in_name if user else None


@bp.get("")
@login_required
def view() -> RenderResult:
    profile = _load_profile(url_for("profile.view"))
    if not isinstance(profile, Profile):
        return profile
    user = sign_in_session().user()
    return render_template(
        "profile.html",
        profile=profile,
        email=_sign_in_email() or profile["mail"],
        language_name=language_name,
        custom_attributes=custom_attributes(user.claims if user else {}),
    )


def _edit_page(
    form: ProfileForm, status: int = 200, *, message: str | None = None, notice: str | None = None
) -> RenderResult:
    page = render_template("edit_profile.html", form=form, email=_sign_in_email(), graph_error=message, notice=notice)
    return page, status


@bp.get("/edit")
@login_required
def edit() -> RenderResult:
    session = sign_in_session()
    need = session.step_up_needed()
    if need is not None:
        return redirect(session.start_step_up(need, after=url_for("profile.edit")))
    profile = _load_profile(url_for("profile.edit"))
    if not isinstance(profile, Profile):
        return profile
    return _edit_page(ProfileForm.for_profile(profile.values))


@bp.post("/edit")
@login_required
def submit_edit() -> RenderResult:
    form = ProfileForm.submitted()
    if not form.validate_on_submit():
        return _edit_page(form, 400, message="Some values need your attention: see the fields marked below.")
    original = form.original_values()
    if original is None:
        # A form without the values it was rendered with: compare with the profile as it is now.
        profile = _load_profile(url_for("profile.edit"))
        if not isinstance(profile, Profile):
            return profile
        original = profile.values
    changes = changes_between(original, form.values())
    if not changes:
        return _edit_page(form, notice="You did not change anything, so there was nothing to save.")
    session = sign_in_session()
    need = session.step_up_needed()
    if need is not None:
        # What the user typed waits server-side for this step-up, and is applied when it completes.
        return redirect(session.start_step_up(need, after=None, edit=changes))
    return _apply(changes, form)


@bp.get("/edit/resume")
@login_required
def resume_edit() -> RenderResult:
    """Where a completed step-up comes back to: apply the edit that waited for it, once."""
    session = sign_in_session()
    asked_claims = session.claims_of_ready_edit(request.args.get("edit"))
    changes = session.take_ready_edit(request.args.get("edit"))
    if changes is None:
        return redirect(url_for("profile.edit"))
    need = session.step_up_needed()
    if need is not None:
        return redirect(session.start_step_up(need, after=None, edit=changes))
    return _apply(changes, None, asked_claims=asked_claims)


def _apply(changes: Changes, form: ProfileForm | None, *, asked_claims: str | None = None) -> RenderResult:
    """`form`: the submitted form, None when an edit resumes after a step-up (which asked the tenant for
    `asked_claims`, if any)."""
    profile_api = services().profile_api
    if profile_api is not None:
        return _apply_through_api(profile_api, changes, form, asked_claims)
    session = sign_in_session()
    try:
        services().graph.update_me(_graph_token(), changes)
    except (InteractionRequired, GraphClaimsChallenge) as exc:
        claims = exc.claims if isinstance(exc, GraphClaimsChallenge) else exc.claims_challenge
        return redirect(session.reauthorize_with_edit(claims_challenge=claims, edit=changes, after=None))
    except GraphBadRequest as exc:
        log.info("Graph refused a profile value: %s", exc.code, extra={"property": exc.property_name})
        form = form or _form_with_typed_values(changes)
        field = getattr(form, exc.property_name, None) if exc.property_name in LABELS else None
        if field is not None:
            field.errors = [*field.errors, f"Not accepted: {exc.message}"]
            return _edit_page(form, 400, message=f"{LABELS[exc.property_name]} was not accepted, so nothing was saved.")
        return _edit_page(form, 400, message=f"Your changes were not accepted, so nothing was saved: {exc.message}")
    except GraphForbidden as exc:
        log.warning("Graph refused the profile update", extra={"status": exc.status, "request_id": exc.request_id})
        return _edit_page(form or _form_with_typed_values(changes), 403, message=refused_fields_message(changes))
    except GraphUnavailable as exc:
        log.warning(
            "Graph unavailable during profile update", extra={"status": exc.status, "request_id": exc.request_id}
        )
        return _edit_page(
            form or _form_with_typed_values(changes),
            503,
            message="Microsoft Graph is busy right now, so your changes were not saved. "
            "Your values are still here: try again in a moment.",
        )
    except GraphError as exc:
        return _graph_failure_page(exc)
    return _saved(changes)


def _saved(changes: Changes) -> Response:
    session = sign_in_session()
    user = session.user()
    log.info("profile updated", extra={"oid": user.oid if user else None, "properties": sorted(changes)})
    session.profile_saved(changes.get("displayName"))
    session.notify("success", "Your profile was saved.")
    return redirect(url_for("profile.view"), code=303)


def _apply_through_api(
    profile_api: ProfileApiClient, changes: Changes, form: ProfileForm | None, asked_claims: str | None
) -> RenderResult:
    """API mode: send the edit to the mfa-app API with the customer's MFA-scope token."""
    session = sign_in_session()
    mfa_scope = [services().settings.mfa_scope]
    try:
        try:
            profile_api.update_profile(session.access_token(mfa_scope), changes)
        except ProfileApiInvalidToken:
            # The API refused a token MSAL still held as valid (revoked, keys rolled): one fresh token,
            # then the customer signs in again (below).
            log.info("profile API refused the access token; trying once with a fresh one")
            profile_api.update_profile(session.access_token(mfa_scope, force_refresh=True), changes)
    except InteractionRequired as exc:
        need = StepUpNeeded(claims_challenge=exc.claims_challenge)
        return redirect(session.start_step_up(need, after=None, edit=changes))
    except ProfileApiClaimsChallenge as exc:
        if form is None and asked_claims == exc.claims:
            # The step-up just completed asked the tenant for exactly these claims and the token still
            # lacks them: another round would only redirect the browser in a circle.
            log.error("profile API asked again for the claims the tenant was just asked for")
            return _edit_page(
                _form_with_typed_values(changes),
                503,
                message="The sign-in service did not confirm what the profile service asks for, so your "
                "changes were not saved. Your values are still here: try again later.",
            )
        # The API wants claims the token lacks (an authentication context, or conditional access met in its
        # on-behalf-of exchange): the step-up the app knows, with those claims; the edit waits for it.
        log.info("profile API asked for more claims; stepping up", extra={"status": exc.status})
        return redirect(session.start_step_up(StepUpNeeded(claims_challenge=exc.claims), after=None, edit=changes))
    except ProfileApiInvalidToken:
        if form is None:
            # This save resumed right after the customer authenticated at the tenant: another sign-in would
            # only go round again (an API that refuses every token is misconfigured), so stop here.
            log.error("profile API refused the tokens of a fresh sign-in; check its ALLOWED_CLIENT_APPS and audience")
            return _edit_page(
                _form_with_typed_values(changes),
                503,
                message="The profile service did not accept your sign-in, so your changes were not saved. "
                "Your values are still here: try again later, or contact support if this keeps happening.",
            )
        log.warning("profile API refused a fresh access token too; asking the customer to sign in again")
        return redirect(session.start_step_up(StepUpNeeded(prompt="login"), after=None, edit=changes))
    except ProfileApiBadRequest as exc:
        log.info("profile API refused a value", extra={"properties": sorted(exc.fields)})
        form = form or _form_with_typed_values(changes)
        unplaced = []
        for name, message in exc.fields.items():
            field = getattr(form, name, None) if name in LABELS else None
            if field is None:
                unplaced.append(message)
            else:
                field.errors = [*field.errors, f"Not accepted: {message}"]
        if unplaced or not exc.fields:
            detail = "; ".join(unplaced) or exc.description or "a value was not accepted"
            return _edit_page(form, 400, message=f"Your changes were not accepted, so nothing was saved: {detail}")
        names = ", ".join(LABELS[name] for name in exc.fields)
        verb = "was" if len(exc.fields) == 1 else "were"
        return _edit_page(form, 400, message=f"{names} {verb} not accepted, so nothing was saved.")
    except ProfileApiForbiddenFields as exc:
        log.warning("the tenant refused the profile update", extra={"properties": sorted(exc.fields)})
        refused = {name: value for name, value in changes.items() if name in exc.fields} or changes
        return _edit_page(form or _form_with_typed_values(changes), 403, message=refused_fields_message(refused))
    except ProfileApiUnavailable as exc:
        log.warning("profile API unavailable during profile update", extra={"status": exc.status})
        return _edit_page(
            form or _form_with_typed_values(changes),
            503,
            message="The profile service is busy right now, so your changes were not saved. "
            "Your values are still here: try again in a moment.",
        )
    except ProfileApiError as exc:
        return _api_failure_page(exc)
    return _saved(changes)


def _form_with_typed_values(changes: Changes) -> ProfileForm:
    """After an MFA round trip there is no submitted form: show the current profile with the changes on top."""
    try:
        current = services().graph.get_me(_graph_token()).values
    except (GraphError, InteractionRequired):
        current = {}
    form = ProfileForm.for_profile(current)
    for name, value in changes.items():
        getattr(form, name).data = value or ""
    return form


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


def _api_failure_page(exc: ProfileApiError) -> tuple[str, int]:
    """An answer of the profile API that no form message fits (e.g. 403 insufficient_scope, a 500)."""
    log.warning("profile API error %s %s", exc.status, exc.code)
    if exc.status == 403:
        return (
            render_template(
                "error.html",
                title="Not allowed",
                message="Your account is not allowed to do this. If you think it should be, contact support.",
            ),
            403,
        )
    return (
        render_template(
            "error.html",
            title="Profile unavailable",
            message="We could not reach the profile service. Please try again in a moment.",
            retry_here=url_for("profile.view"),
        ),
        503,
    )
