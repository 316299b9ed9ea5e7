"""The hosted user-flow pages: sign-in, sign-up with an emailed code, email-OTP MFA."""

from __future__ import annotations

import contextlib
import hmac

from flask import Blueprint, Response, redirect, request, url_for

from ciam_emulator import authorize as authz
from ciam_emulator import hosted_flows, user_flows
from ciam_emulator import logout as sign_out
from ciam_emulator.hosted_flows import FlowError, FormErrors, SignedIn
from ciam_emulator.store import AuthRequest, SsoSession, Tenant, sha256_hex
from ciam_emulator.web.common import (
    BROWSER_COOKIE_NAME,
    SSO_COOKIE_NAME,
    emulator,
    error_page,
    html_page,
    resolve_tenant,
)

blueprint = Blueprint("hosted", __name__)


def deliver_callback(callback: authz.Callback) -> Response:
    if callback.response_mode == "form_post":
        return html_page("form_post.html", callback=callback)
    return redirect(callback.url(), code=302)


def respond_to_step(auth_request: AuthRequest, step: authz.Step, signed_in: SignedIn | None = None) -> Response:
    """Send the browser to the page for ``step`` (or back to the client), setting the SSO cookie."""
    emu = emulator()
    tenant = auth_request.tenant_id
    if step.kind == "callback":
        assert step.callback is not None
        response = deliver_callback(step.callback)
    elif step.kind == "admin_approval_needed":
        assert step.page_error is not None
        problem = step.page_error
        response = error_page("Need admin approval", problem.message, problem.status, problem.code)
    elif step.kind == "mfa_code":
        session_user = authz.session_for_request(emu, auth_request)
        assert session_user is not None
        # A locked-out user gets no new code; the code page says why.
        with contextlib.suppress(FlowError):
            hosted_flows.send_mfa_code(emu, auth_request, session_user[1])
        response = redirect(url_for("hosted.mfa_code", tenant=tenant, req=auth_request.id), code=302)
    elif step.kind == "mfa_sms_code":
        session_user = authz.session_for_request(emu, auth_request)
        assert session_user is not None
        with contextlib.suppress(FlowError):  # locked out: the code page says so
            hosted_flows.send_sms_code(emu, auth_request, session_user[1])
        response = redirect(url_for("hosted.mfa_sms_code", tenant=tenant, req=auth_request.id), code=302)
    else:
        endpoint = {
            "signin": "hosted.sign_in",
            "signup": "hosted.sign_up",
            "mfa_confirm": "hosted.mfa_confirm",
            "mfa_sms_phone": "hosted.mfa_sms_phone",
        }
        response = redirect(url_for(endpoint[step.kind], tenant=tenant, req=auth_request.id), code=302)
    if signed_in is not None:
        set_sso_cookie(response, signed_in.cookie_value, persistent=False)
    return response


# UNSURE: how long "Stay signed in?" keeps the tenant's cookie; the emulator keeps it 90 days (the
# refresh token's lifetime) and otherwise sets a cookie that ends with the browser session.
PERSISTENT_SSO_COOKIE_SECONDS = 90 * 24 * 3600


def set_sso_cookie(response: Response, cookie_value: str, *, persistent: bool) -> None:
    response.set_cookie(
        SSO_COOKIE_NAME,
        cookie_value,
        max_age=PERSISTENT_SSO_COOKIE_SECONDS if persistent else None,
        httponly=True,
        secure=emulator().base_url.startswith("https://"),
        samesite="Lax",
        path="/",
    )


def clear_sso_cookie(response: Response) -> None:
    response.delete_cookie(
        SSO_COOKIE_NAME, path="/", httponly=True, secure=emulator().base_url.startswith("https://"), samesite="Lax"
    )


def browser_sso_session(tenant: Tenant) -> SsoSession | None:
    """The tenant's session this browser's SSO cookie refers to, if any."""
    cookie_value = request.cookies.get(SSO_COOKIE_NAME)
    session = emulator().store.find_sso_session_by_cookie(cookie_value) if cookie_value else None
    return session if session is not None and session.tenant_id == tenant.id else None


def finish_sign_out(tenant: Tenant, sign_out_request: sign_out.SignOutRequest, *, clear_cookie: bool) -> Response:
    """Back to the app's registered post-logout URI, or the tenant's own "signed out" page."""
    target = sign_out.redirect_target(emulator(), sign_out_request)
    response = redirect(target, code=302) if target else html_page("signed_out.html", tenant=tenant)
    if clear_cookie:
        clear_sso_cookie(response)
    return response


@blueprint.post("/<tenant>/login/signout")
def sign_out_picked_account(tenant: str) -> Response:
    """The account picker's answer (see oidc_views.logout)."""
    found = resolve_tenant(tenant)
    sign_out_request = sign_out.read_request(emulator(), found, request.form)
    cookie_session = browser_sso_session(found)
    try:
        sign_out.sign_out_picked_account(emulator(), cookie_session, request.form.get("account", ""))
    except sign_out.AccountSelectionError as problem:
        return error_page("We couldn't sign you out", problem.message, code=problem.code, tenant=found)
    return finish_sign_out(found, sign_out_request, clear_cookie=True)


class _ExpiredRequest(Exception):
    """The authorization request behind a hosted page is unknown, too old, or not this browser's."""


def _load(tenant_segment: str) -> tuple[Tenant, AuthRequest]:
    tenant = resolve_tenant(tenant_segment)
    request_id = request.values.get("req", "")
    auth_request = emulator().store.get_auth_request(request_id) if request_id else None
    if auth_request is None or auth_request.tenant_id != tenant.id or auth_request.expires_at <= emulator().now():
        raise _ExpiredRequest
    browser_hash = sha256_hex(request.cookies.get(BROWSER_COOKIE_NAME, ""))
    if not hmac.compare_digest(browser_hash, str(auth_request.params.get("browser_binding", ""))):
        raise _ExpiredRequest
    return tenant, auth_request


@blueprint.errorhandler(_ExpiredRequest)
def _expired(_: _ExpiredRequest) -> Response:
    return error_page(
        "Sign-in session expired",
        "This sign-in attempt is no longer valid, or it was started in another browser. Go back to the "
        "application and sign in again.",
        code=50089,
    )


def _page(template: str, tenant: Tenant, auth_request: AuthRequest, status: int = 200, **context: object) -> Response:
    app = emulator().store.find_app(tenant.id, auth_request.client_id)
    return html_page(
        template,
        status=status,
        tenant=tenant,
        req=auth_request.id,
        app_name=app.display_name if app else "",
        **context,
    )


def _sign_in_page(tenant: Tenant, auth_request: AuthRequest, status: int = 200, **context: object) -> Response:
    """The sign-in page as the app's user flow has it: a password, or a one-time passcode."""
    settings = hosted_flows.flow_settings(emulator(), auth_request)
    context.setdefault("notice", None)
    context.setdefault("error_code", None)
    return _page(
        "signin.html",
        tenant,
        auth_request,
        status=status,
        otp=settings.sign_in_method == "email_otp",
        sign_up_allowed=settings.sign_up_allowed,
        reset_available=hosted_flows.password_reset_available(emulator(), auth_request),
        **context,
    )


@blueprint.route("/<tenant>/login/signin", methods=["GET", "POST"])
def sign_in(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    email = auth_request.params.get("login_hint") or ""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            signed_in = hosted_flows.sign_in(emulator(), auth_request, email, request.form.get("password", ""))
        except FlowError as problem:
            return _sign_in_page(
                found, auth_request, status=400, email=email, error=str(problem), error_code=problem.code
            )
        return _after_sign_in(found, auth_request, signed_in)
    notice = "Your password was changed. Sign in with your new password." if request.args.get("reset") else None
    return _sign_in_page(found, auth_request, email=request.args.get("email") or email, error=None, notice=notice)


def _after_sign_in(tenant: Tenant, auth_request: AuthRequest, signed_in: SignedIn) -> Response:
    """Ask "Stay signed in?" when the tenant shows it, else carry on to the next step."""
    if user_flows.shows_keep_signed_in(emulator().store, tenant.id):
        response = redirect(url_for("hosted.keep_signed_in", tenant=tenant.id, req=auth_request.id), code=303)
        set_sso_cookie(response, signed_in.cookie_value, persistent=False)
        return response
    return _continue(auth_request.id, signed_in)


@blueprint.route("/<tenant>/login/kmsi", methods=["GET", "POST"])
def keep_signed_in(tenant: str) -> Response:
    """ "Stay signed in?": Yes keeps the tenant's cookie beyond the browser session, No does not."""
    found, auth_request = _load(tenant)
    cookie_value = request.cookies.get(SSO_COOKIE_NAME, "")
    session = browser_sso_session(found)
    if session is None or session.id != auth_request.session_id:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    if request.method == "POST":
        response = _continue(auth_request.id)
        set_sso_cookie(response, cookie_value, persistent=request.form.get("stay") == "yes")
        return response
    return _page("kmsi.html", found, auth_request)


def _continue(request_id: str, signed_in: SignedIn | None = None) -> Response:
    auth_request = emulator().store.get_auth_request(request_id)
    if auth_request is None:
        raise _ExpiredRequest
    return respond_to_step(auth_request, authz.next_step(emulator(), auth_request), signed_in)


@blueprint.route("/<tenant>/login/signup", methods=["GET", "POST"])
def sign_up(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    email = auth_request.signup_email or auth_request.params.get("login_hint") or ""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            hosted_flows.start_sign_up(emulator(), auth_request, email)
        except FlowError as problem:
            return _page("signup.html", found, auth_request, status=400, email=email, error=str(problem))
        return redirect(url_for("hosted.sign_up_verify", tenant=found.id, req=auth_request.id), code=303)
    allowed = hosted_flows.flow_settings(emulator(), auth_request).sign_up_allowed
    return _page(
        "signup.html", found, auth_request, email=email, error=None if allowed else hosted_flows.SIGN_UP_NOT_ALLOWED
    )


def _typed(names: list[str]) -> dict[str, str]:
    """What the customer typed, to show again (never passwords)."""
    return {name: request.form.get(name, "") for name in names}


@blueprint.route("/<tenant>/login/signup/verify", methods=["GET", "POST"])
def sign_up_verify(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    if not auth_request.signup_email:
        return redirect(url_for("hosted.sign_up", tenant=found.id, req=auth_request.id), code=303)
    settings = hosted_flows.flow_settings(emulator(), auth_request)
    context: dict[str, object] = {
        "email": auth_request.signup_email,
        "fields": settings.fields,
        "with_password": settings.sign_in_method == "email_password",
        "values": {},
        "problems": {},
        "error": None,
        "notice": None,
    }
    if request.method == "POST":
        context["values"] = _typed(["code", *(field.form_name for field in settings.fields)])
        if request.form.get("action") == "resend":
            hosted_flows.send_code(emulator(), auth_request, hosted_flows.PURPOSE_SIGNUP, auth_request.signup_email)
            context["notice"] = "We sent a new code to your email address."
            return _page("signup_verify.html", found, auth_request, **context)
        try:
            signed_in = hosted_flows.finish_sign_up(emulator(), auth_request, dict(request.form))
        except FormErrors as problems:
            context["problems"] = problems.problems
            context["error"] = "Check the fields marked below."
            return _page("signup_verify.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context["error"] = str(problem)
            return _page("signup_verify.html", found, auth_request, status=400, **context)
        return _after_sign_in(found, auth_request, signed_in)
    return _page("signup_verify.html", found, auth_request, **context)


@blueprint.post("/<tenant>/login/otp")
def otp_sign_in(tenant: str) -> Response:
    """A one-time-passcode flow's sign-in: the email, then the emailed code."""
    found, auth_request = _load(tenant)
    email = request.form.get("email", "")
    try:
        hosted_flows.start_otp_sign_in(emulator(), auth_request, email)
    except FormErrors as problems:
        return _sign_in_page(found, auth_request, status=400, email=email, error=None, problems=problems.problems)
    return redirect(url_for("hosted.otp_code", tenant=found.id, req=auth_request.id), code=303)


@blueprint.route("/<tenant>/login/otp/code", methods=["GET", "POST"])
def otp_code(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    if not auth_request.otp_email:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    context: dict[str, object] = {
        "email": auth_request.otp_email,
        "values": {},
        "problems": {},
        "error": None,
        "error_code": None,
        "notice": None,
        "action": "hosted.otp_code",
    }
    if request.method == "POST":
        context["values"] = _typed(["code"])
        try:
            if request.form.get("action") == "resend":
                hosted_flows.start_otp_sign_in(emulator(), auth_request, auth_request.otp_email)
                context["notice"] = "We sent a new code to your email address."
                return _page("code.html", found, auth_request, **context)
            signed_in = hosted_flows.finish_otp_sign_in(emulator(), auth_request, request.form.get("code", ""))
        except FormErrors as problems:
            context["problems"] = problems.problems
            return _page("code.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context.update(error=str(problem), error_code=problem.code)
            return _page("code.html", found, auth_request, status=400, **context)
        return _after_sign_in(found, auth_request, signed_in)
    return _page("code.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/reset", methods=["GET", "POST"])
def password_reset(tenant: str) -> Response:
    """ "Forgot password?": the email first. Known and unknown addresses get the same answer."""
    found, auth_request = _load(tenant)
    context: dict[str, object] = {"values": {"email": request.values.get("email", "")}, "problems": {}, "error": None}
    if request.method == "POST":
        try:
            hosted_flows.start_password_reset(emulator(), auth_request, request.form.get("email", ""))
        except FormErrors as problems:
            context["problems"] = problems.problems
            return _page("reset.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context["error"] = str(problem)
            return _page("reset.html", found, auth_request, status=400, **context)
        return redirect(url_for("hosted.password_reset_code", tenant=found.id, req=auth_request.id), code=303)
    if not hosted_flows.password_reset_available(emulator(), auth_request):
        context["error"] = hosted_flows.RESET_UNAVAILABLE
    return _page("reset.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/reset/code", methods=["GET", "POST"])
def password_reset_code(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    if not auth_request.reset_email:
        return redirect(url_for("hosted.password_reset", tenant=found.id, req=auth_request.id), code=303)
    context: dict[str, object] = {
        "email": auth_request.reset_email,
        "values": {},
        "problems": {},
        "error": None,
        "error_code": None,
        "notice": None,
        "action": "hosted.password_reset_code",
        "reset": True,
    }
    if request.method == "POST":
        context["values"] = _typed(["code"])
        try:
            if request.form.get("action") == "resend":
                hosted_flows.resend_reset_code(emulator(), auth_request)
                context["notice"] = "If an account uses this address, we sent it a new code."
                return _page("code.html", found, auth_request, **context)
            hosted_flows.verify_reset_code(emulator(), auth_request, request.form.get("code", ""))
        except FormErrors as problems:
            context["problems"] = problems.problems
            return _page("code.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context["error"] = str(problem)
            return _page("code.html", found, auth_request, status=400, **context)
        return redirect(url_for("hosted.password_reset_new", tenant=found.id, req=auth_request.id), code=303)
    return _page("code.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/reset/password", methods=["GET", "POST"])
def password_reset_new(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    if not auth_request.reset_verified:
        return redirect(url_for("hosted.password_reset", tenant=found.id, req=auth_request.id), code=303)
    context: dict[str, object] = {"problems": {}, "error": None}
    if request.method == "POST":
        try:
            email = hosted_flows.finish_password_reset(
                emulator(),
                auth_request,
                request.form.get("password", ""),
                request.form.get("password_confirmation", ""),
            )
        except FormErrors as problems:
            context["problems"] = problems.problems
            return _page("reset_password.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context["error"] = str(problem)
            return _page("reset_password.html", found, auth_request, status=400, **context)
        # Back to sign-in; the reset ended the tenant's session, so the old cookie goes too.
        response = redirect(
            url_for("hosted.sign_in", tenant=found.id, req=auth_request.id, email=email, reset=1), code=303
        )
        clear_sso_cookie(response)
        return response
    return _page("reset_password.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/mfa", methods=["GET", "POST"])
def mfa_confirm(tenant: str) -> Response:
    """First MFA for a user: confirm the email address that will receive MFA codes."""
    found, auth_request = _load(tenant)
    session_user = authz.session_for_request(emulator(), auth_request)
    if session_user is None:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    user = session_user[1]
    if request.method == "POST":
        with contextlib.suppress(FlowError):  # locked out: the code page says so
            hosted_flows.send_mfa_code(emulator(), auth_request, user)
        return redirect(url_for("hosted.mfa_code", tenant=found.id, req=auth_request.id), code=303)
    return _page("mfa_confirm.html", found, auth_request, email=user.email)


@blueprint.route("/<tenant>/login/mfa/code", methods=["GET", "POST"])
def mfa_code(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    session_user = authz.session_for_request(emulator(), auth_request)
    if session_user is None:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    session, user = session_user
    context: dict[str, object] = {"email": user.email, "error": None, "error_code": None, "notice": None}
    try:
        if request.method == "POST" and request.form.get("action") == "resend":
            hosted_flows.send_mfa_code(emulator(), auth_request, user)
            context["notice"] = "We sent a new code to your email address."
        elif request.method == "POST":
            hosted_flows.verify_mfa_code(emulator(), auth_request, session, user, request.form.get("code", ""))
            return _continue(auth_request.id)
        elif hosted_flows.mfa_locked_out(emulator(), user):
            raise hosted_flows.locked_out()
    except FlowError as problem:
        context.update(error=str(problem), error_code=problem.code)
        return _page("mfa_code.html", found, auth_request, status=400 if request.method == "POST" else 200, **context)
    return _page("mfa_code.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/mfa/sms", methods=["GET", "POST"])
def mfa_sms_phone(tenant: str) -> Response:
    """First SMS MFA for a user: the phone number to text codes to."""
    found, auth_request = _load(tenant)
    session_user = authz.session_for_request(emulator(), auth_request)
    if session_user is None:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    context: dict[str, object] = {"values": {}, "problems": {}, "error": None, "error_code": None}
    if request.method == "POST":
        context["values"] = _typed(["phone"])
        try:
            hosted_flows.register_mfa_phone(emulator(), auth_request, session_user[1], request.form.get("phone", ""))
        except FormErrors as problems:
            context["problems"] = problems.problems
            return _page("mfa_sms_phone.html", found, auth_request, status=400, **context)
        except FlowError as problem:
            context.update(error=str(problem), error_code=problem.code)
            return _page("mfa_sms_phone.html", found, auth_request, status=400, **context)
        return redirect(url_for("hosted.mfa_sms_code", tenant=found.id, req=auth_request.id), code=303)
    return _page("mfa_sms_phone.html", found, auth_request, **context)


@blueprint.route("/<tenant>/login/mfa/sms/code", methods=["GET", "POST"])
def mfa_sms_code(tenant: str) -> Response:
    found, auth_request = _load(tenant)
    session_user = authz.session_for_request(emulator(), auth_request)
    if session_user is None:
        return redirect(url_for("hosted.sign_in", tenant=found.id, req=auth_request.id), code=303)
    session, user = session_user
    context: dict[str, object] = {
        "phone": hosted_flows.masked_phone(user.mfa_phone),
        "values": {},
        "problems": {},
        "error": None,
        "error_code": None,
        "notice": None,
    }
    try:
        if request.method == "POST" and request.form.get("action") == "resend":
            hosted_flows.send_sms_code(emulator(), auth_request, user)
            context["notice"] = "We texted a new code to your phone."
        elif request.method == "POST":
            context["values"] = _typed(["code"])
            hosted_flows.verify_sms_code(emulator(), auth_request, session, user, request.form.get("code", ""))
            return _continue(auth_request.id)
    except FormErrors as problems:
        context["problems"] = problems.problems
        return _page("mfa_sms_code.html", found, auth_request, status=400, **context)
    except FlowError as problem:
        context.update(error=str(problem), error_code=problem.code)
        return _page("mfa_sms_code.html", found, auth_request, status=400, **context)
    return _page("mfa_sms_code.html", found, auth_request, **context)


@blueprint.post("/<tenant>/login/cancel")
def cancel(tenant: str) -> Response:
    _, auth_request = _load(tenant)
    emulator().store.delete_auth_request(auth_request.id)
    return deliver_callback(authz.user_cancelled(auth_request))
