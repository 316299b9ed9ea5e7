"""What the hosted sign-in, sign-up and MFA pages do, independent of Flask."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from ciam_emulator import passwords, user_flows
from ciam_emulator.context import Emulator
from ciam_emulator.store import AuthRequest, OneTimeCodeResult, SsoSession, User

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_DISPLAY_NAME_LENGTH = 256
PURPOSE_SIGNUP = "signup"
PURPOSE_MFA = "mfa"
PURPOSE_RESET = "password_reset"
PURPOSE_SIGN_IN = "signin"
PURPOSE_MFA_SMS = "mfa_sms"
# A phone number in E.164 form (+, country code, up to 15 digits): Graph's phoneAuthenticationMethod
# stores "+{country code} {number}". UNSURE: the exact forms the hosted registration page accepts.
PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")

_CODE_MESSAGES = {
    OneTimeCodeResult.WRONG: "That code is incorrect. Try again.",
    OneTimeCodeResult.EXPIRED: "That code has expired. Request a new code.",
    OneTimeCodeResult.TOO_MANY_ATTEMPTS: "Too many incorrect codes. Request a new code.",
    OneTimeCodeResult.MISSING: "There is no active code. Request a new code.",
}
# The smart lockout doc's message; AADSTS50053 is IdsLocked (error-codes reference). Used for a
# password lockout and, UNSURE (no page covers wrong codes), for the MFA code lockout alike.
LOCKED_OUT_MESSAGE = "Your account is temporarily locked to prevent unauthorized use. Try again later."
LOCKED_OUT_CODE = 50053


@dataclass(frozen=True)
class SignedIn:
    """A new SSO session, and the cookie value the browser must keep for it."""

    session: SsoSession
    cookie_value: str


class FlowError(Exception):
    """A problem to show inline on the hosted page (the user can correct it), with the AADSTS code
    Entra reports for it when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class FormErrors(Exception):
    """Every problem of a submitted form at once: a message per field name (the page shows each next
    to its field and keeps what was typed)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def locked_out() -> FlowError:
    return FlowError(LOCKED_OUT_MESSAGE, LOCKED_OUT_CODE)


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_PATTERN.match(email)) and len(email) <= 254


def sign_in(emulator: Emulator, auth_request: AuthRequest, email: str, password: str) -> SignedIn:
    email = email.strip()
    if flow_settings(emulator, auth_request).sign_in_method != "email_password":
        raise FlowError("This application signs you in with a code sent to your email address.")
    if not email or not password:
        raise FlowError("Enter your email address and password.")
    now = emulator.now()
    user = emulator.store.find_user_by_email(auth_request.tenant_id, email)
    if user is None:
        raise FlowError("We couldn't find an account with that email address.")
    if user.locked_until > now:
        raise locked_out()
    if not passwords.verify_password(password, user.password_salt, user.password_hash):
        emulator.store.record_failed_sign_in(user.id, now)
        raise FlowError("Your password is incorrect.")
    emulator.store.record_successful_sign_in(user.id)
    return _start_session(emulator, auth_request, user)


def _start_session(emulator: Emulator, auth_request: AuthRequest, user: User) -> SignedIn:
    session, cookie_value = emulator.store.create_sso_session(auth_request.tenant_id, user.id, emulator.now())
    emulator.store.mark_auth_request_signed_in(auth_request.id, session.id)
    return SignedIn(session, cookie_value)


def mfa_locked_out(emulator: Emulator, user: User) -> bool:
    current = emulator.store.get_user(user.id)
    return current is not None and current.mfa_locked_until > emulator.now()


def send_mfa_code(emulator: Emulator, auth_request: AuthRequest, user: User) -> None:
    """Email an MFA code, unless the user is locked out: no new code then (a new code would not
    help, and resending never resets the count of wrong codes)."""
    if mfa_locked_out(emulator, user):
        raise locked_out()
    send_code(emulator, auth_request, PURPOSE_MFA, user.email)


def send_code(emulator: Emulator, auth_request: AuthRequest, purpose: str, email: str) -> None:
    """'Email' a one-time code: it lands in the outbox."""
    tenant = emulator.store.get_tenant(auth_request.tenant_id)
    code = emulator.store.issue_one_time_code(auth_request.id, purpose, email, emulator.now())
    subject = f"{tenant.display_name} account email verification code"
    emulator.store.add_outbox_message(tenant.id, email, purpose, code, subject, emulator.now())


SIGN_UP_NOT_ALLOWED = "Sign-up isn't available for this application. Sign in with an existing account."


def start_sign_up(emulator: Emulator, auth_request: AuthRequest, email: str) -> str:
    # The flow's onInteractiveAuthFlowStart.isSignUpAllowed (Graph's externalUsersSelfServiceSignUpEventsFlow).
    if not flow_settings(emulator, auth_request).sign_up_allowed:
        raise FlowError(SIGN_UP_NOT_ALLOWED)
    email = email.strip()
    if not is_valid_email(email):
        raise FlowError("Enter a valid email address.")
    if emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None:
        raise FlowError("An account with this email address already exists. Sign in instead.")
    emulator.store.set_auth_request_signup_email(auth_request.id, email)
    send_code(emulator, auth_request, PURPOSE_SIGNUP, email)
    return email


def flow_settings(emulator: Emulator, auth_request: AuthRequest) -> user_flows.FlowSettings:
    """The user flow linked to the requesting app: sign-in method and sign-up fields."""
    return user_flows.flow_for_app(emulator.store, auth_request.tenant_id, auth_request.client_id)


def _code_problem(code: str) -> str | None:
    return None if code.strip() else "Enter the code we sent to your email address."


def _new_password_problems(password: str, password_confirmation: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    problem = passwords.password_policy_problem(password)
    if problem:
        problems["password"] = problem
    elif password != password_confirmation:
        problems["password_confirmation"] = "The passwords don't match."  # noqa: S105 - a message
    return problems


def finish_sign_up(emulator: Emulator, auth_request: AuthRequest, form: dict[str, str]) -> SignedIn:
    """Check the code, the password (email + password flows) and the flow's attributes, all at once."""
    email = auth_request.signup_email
    if not email:
        raise FlowError("Start again: enter your email address first.")
    settings = flow_settings(emulator, auth_request)
    if not settings.sign_up_allowed:
        raise FlowError(SIGN_UP_NOT_ALLOWED)
    code = form.get("code", "")
    problems: dict[str, str] = {}
    if _code_problem(code):
        problems["code"] = _code_problem(code) or ""
    values, attribute_problems = user_flows.check_sign_up_values(settings.fields, form)
    problems.update(attribute_problems)
    password = form.get("password", "")
    if settings.sign_in_method == "email_password":
        problems.update(_new_password_problems(password, form.get("password_confirmation", "")))
    else:
        # One-time-passcode customers have no password (the flow's method); the directory still
        # needs one, which nobody knows.
        password = secrets.token_urlsafe(32) + "-Aa1"
    if problems:
        raise FormErrors(problems)
    # Check the code last so a typo elsewhere does not burn an attempt.
    result = emulator.store.check_one_time_code(auth_request.id, PURPOSE_SIGNUP, email, code, emulator.now())
    if result != OneTimeCodeResult.OK:
        raise FormErrors({"code": _CODE_MESSAGES[result]})
    if emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None:
        raise FlowError("An account with this email address already exists. Sign in instead.")
    built_in, custom = user_flows.split_values(values)
    # UNSURE: the display name Entra gives a customer whose flow does not collect one; the emulator
    # uses the given name and surname, else the email address.
    display_name = built_in.pop("displayName", None) or (
        " ".join(v for v in (built_in.get("givenName"), built_in.get("surname")) if v) or email
    )
    if len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise FormErrors({"display_name": f"Enter a display name of 1 to {MAX_DISPLAY_NAME_LENGTH} characters."})
    built_in.pop("mail", None)  # the email is the verified address, never a typed one
    user = emulator.store.create_user(auth_request.tenant_id, email, password, display_name)
    emulator.store.update_user_profile(user.id, built_in)
    emulator.store.set_extension_values(user.id, custom)
    return _start_session(emulator, auth_request, user)


# --- one-time-passcode sign-in (a flow whose method is EmailOtpSignup-OAUTH) --------------------------


def _issue_code_quietly_for_unknown(
    emulator: Emulator, auth_request: AuthRequest, purpose: str, email: str, known: bool
) -> None:
    """Issue a code either way, and email it only to an existing account: the page, the code checks and
    their limits then behave alike for unknown addresses, so nothing shows which accounts exist."""
    if known:
        send_code(emulator, auth_request, purpose, email)
    else:
        emulator.store.issue_one_time_code(auth_request.id, purpose, email, emulator.now())


def start_otp_sign_in(emulator: Emulator, auth_request: AuthRequest, email: str) -> str:
    email = email.strip()
    if not is_valid_email(email):
        raise FormErrors({"email": "Enter a valid email address."})
    user = emulator.store.find_user_by_email(auth_request.tenant_id, email)
    emulator.store.set_auth_request_otp_email(auth_request.id, email)
    _issue_code_quietly_for_unknown(emulator, auth_request, PURPOSE_SIGN_IN, email, user is not None)
    return email


def finish_otp_sign_in(emulator: Emulator, auth_request: AuthRequest, code: str) -> SignedIn:
    email = auth_request.otp_email
    if not email:
        raise FlowError("Start again: enter your email address first.")
    if _code_problem(code):
        raise FormErrors({"code": _code_problem(code) or ""})
    # No password lockout here: smart lockout counts passwords, a code has its own limit, and a
    # "locked" answer would tell which addresses have accounts.
    user = emulator.store.find_user_by_email(auth_request.tenant_id, email)
    result = emulator.store.check_one_time_code(auth_request.id, PURPOSE_SIGN_IN, email, code, emulator.now())
    if result != OneTimeCodeResult.OK or user is None:
        raise FormErrors({"code": _CODE_MESSAGES.get(result, _CODE_MESSAGES[OneTimeCodeResult.WRONG])})
    emulator.store.record_successful_sign_in(user.id)
    return _start_session(emulator, auth_request, user)


# --- self-service password reset ---------------------------------------------------------------------------

RESET_UNAVAILABLE = "Password reset isn't available for this application. Contact the organization that runs it."


def password_reset_available(emulator: Emulator, auth_request: AuthRequest) -> bool:
    """SSPR needs an email + password flow and email OTP enabled for all users (notes §13)."""
    return flow_settings(emulator, auth_request).sign_in_method == "email_password" and (
        user_flows.email_otp_for_all_users(emulator.store, auth_request.tenant_id)
    )


def start_password_reset(emulator: Emulator, auth_request: AuthRequest, email: str) -> str:
    if not password_reset_available(emulator, auth_request):
        raise FlowError(RESET_UNAVAILABLE)
    email = email.strip()
    if not is_valid_email(email):
        raise FormErrors({"email": "Enter a valid email address."})
    known = emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None
    emulator.store.set_auth_request_reset(auth_request.id, email, verified=False)
    _issue_code_quietly_for_unknown(emulator, auth_request, PURPOSE_RESET, email, known)
    return email


def resend_reset_code(emulator: Emulator, auth_request: AuthRequest) -> None:
    email = auth_request.reset_email or ""
    known = emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None
    _issue_code_quietly_for_unknown(emulator, auth_request, PURPOSE_RESET, email, known)


def verify_reset_code(emulator: Emulator, auth_request: AuthRequest, code: str) -> None:
    email = auth_request.reset_email
    if not email:
        raise FlowError("Start again: enter your email address first.")
    if _code_problem(code):
        raise FormErrors({"code": _code_problem(code) or ""})
    result = emulator.store.check_one_time_code(auth_request.id, PURPOSE_RESET, email, code, emulator.now())
    known = emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None
    if result != OneTimeCodeResult.OK or not known:
        raise FormErrors({"code": _CODE_MESSAGES.get(result, _CODE_MESSAGES[OneTimeCodeResult.WRONG])})
    emulator.store.set_auth_request_reset(auth_request.id, email, verified=True)


def finish_password_reset(emulator: Emulator, auth_request: AuthRequest, password: str, confirmation: str) -> str:
    """Set the new password; returns the email, for the sign-in page.

    A reset ends the user's sign-in sessions at the tenant (its cookies stop working). Refresh
    tokens already issued to confidential clients are kept: Entra's guidance is that they survive a
    self-service reset. UNSURE whether external tenants differ (notes §13); apps must cope with both
    (an AADSTS50173 refusal means "sign in again").
    """
    email = auth_request.reset_email
    user = emulator.store.find_user_by_email(auth_request.tenant_id, email) if email else None
    if user is None or not auth_request.reset_verified:
        raise FlowError("Start again: enter your email address first.")
    problems = _new_password_problems(password, confirmation)
    if problems:
        raise FormErrors(problems)
    emulator.store.reset_password(user.id, password)
    emulator.store.set_auth_request_reset(auth_request.id, None, verified=False)
    return user.email


def verify_mfa_code(emulator: Emulator, auth_request: AuthRequest, session: SsoSession, user: User, code: str) -> None:
    if _code_problem(code):
        raise FlowError(_code_problem(code) or "")
    result = emulator.store.check_one_time_code(
        auth_request.id, PURPOSE_MFA, user.email, code, emulator.now(), user_id=user.id
    )
    if result == OneTimeCodeResult.LOCKED_OUT:
        raise locked_out()
    if result != OneTimeCodeResult.OK:
        raise FlowError(_CODE_MESSAGES[result])
    emulator.store.set_mfa_email_confirmed(user.id)
    emulator.store.record_mfa(session.id, emulator.now())


# --- SMS as the MFA method (for one-time-code flows, where email is the first factor) -------------------


def register_mfa_phone(emulator: Emulator, auth_request: AuthRequest, user: User, phone: str) -> None:
    """Register the phone for SMS MFA and text it a code."""
    cleaned = re.sub(r"[\s().-]", "", phone)
    if not PHONE_PATTERN.match(cleaned):
        raise FormErrors({"phone": "Enter a phone number with its country code, such as +44 7700 900123."})
    emulator.store.set_mfa_phone(user.id, cleaned)
    send_sms_code(emulator, auth_request, emulator.store.get_user(user.id) or user)


def send_sms_code(emulator: Emulator, auth_request: AuthRequest, user: User) -> None:
    """'Text' an MFA code: it lands in the outbox, addressed to the phone. SMS is a paid add-on for
    external tenants; the emulator has no bill."""
    if mfa_locked_out(emulator, user):
        raise locked_out()
    phone = user.mfa_phone or ""
    tenant = emulator.store.get_tenant(auth_request.tenant_id)
    code = emulator.store.issue_one_time_code(auth_request.id, PURPOSE_MFA_SMS, phone, emulator.now())
    subject = f"{tenant.display_name} verification code (text message)"
    emulator.store.add_outbox_message(tenant.id, phone, PURPOSE_MFA_SMS, code, subject, emulator.now())


def verify_sms_code(emulator: Emulator, auth_request: AuthRequest, session: SsoSession, user: User, code: str) -> None:
    if _code_problem(code):
        raise FormErrors({"code": "Enter the code we texted to your phone."})
    result = emulator.store.check_one_time_code(
        auth_request.id, PURPOSE_MFA_SMS, user.mfa_phone or "", code, emulator.now(), user_id=user.id
    )
    if result == OneTimeCodeResult.LOCKED_OUT:
        raise locked_out()
    if result != OneTimeCodeResult.OK:
        raise FormErrors({"code": _CODE_MESSAGES[result]})
    emulator.store.record_mfa(session.id, emulator.now())


def masked_phone(phone: str | None) -> str:
    return f"{phone[:3]}{'•' * (len(phone) - 5)}{phone[-2:]}" if phone and len(phone) > 5 else ""
