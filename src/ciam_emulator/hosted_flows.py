"""What the hosted sign-in, sign-up and MFA pages do, independent of Flask."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ciam_emulator import passwords
from ciam_emulator.context import Emulator
from ciam_emulator.store import AuthRequest, OneTimeCodeResult, SsoSession, User

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_DISPLAY_NAME_LENGTH = 256
PURPOSE_SIGNUP = "signup"
PURPOSE_MFA = "mfa"

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


def locked_out() -> FlowError:
    return FlowError(LOCKED_OUT_MESSAGE, LOCKED_OUT_CODE)


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_PATTERN.match(email)) and len(email) <= 254


def sign_in(emulator: Emulator, auth_request: AuthRequest, email: str, password: str) -> SignedIn:
    email = email.strip()
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


def start_sign_up(emulator: Emulator, auth_request: AuthRequest, email: str) -> str:
    email = email.strip()
    if not is_valid_email(email):
        raise FlowError("Enter a valid email address.")
    if emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None:
        raise FlowError("An account with this email address already exists. Sign in instead.")
    emulator.store.set_auth_request_signup_email(auth_request.id, email)
    send_code(emulator, auth_request, PURPOSE_SIGNUP, email)
    return email


def finish_sign_up(
    emulator: Emulator,
    auth_request: AuthRequest,
    *,
    code: str,
    display_name: str,
    password: str,
    password_confirmation: str,
) -> SignedIn:
    email = auth_request.signup_email
    if not email:
        raise FlowError("Start again: enter your email address first.")
    display_name = display_name.strip()
    if not code.strip():
        raise FlowError("Enter the code we sent to your email address.")
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise FlowError(f"Enter a display name of 1 to {MAX_DISPLAY_NAME_LENGTH} characters.")
    problem = passwords.password_policy_problem(password)
    if problem:
        raise FlowError(problem)
    if password != password_confirmation:
        raise FlowError("The passwords don't match.")
    # Check the code last so a typo elsewhere does not burn an attempt.
    result = emulator.store.check_one_time_code(auth_request.id, PURPOSE_SIGNUP, email, code, emulator.now())
    if result != OneTimeCodeResult.OK:
        raise FlowError(_CODE_MESSAGES[result])
    if emulator.store.find_user_by_email(auth_request.tenant_id, email) is not None:
        raise FlowError("An account with this email address already exists. Sign in instead.")
    user = emulator.store.create_user(auth_request.tenant_id, email, password, display_name)
    return _start_session(emulator, auth_request, user)


def verify_mfa_code(emulator: Emulator, auth_request: AuthRequest, session: SsoSession, user: User, code: str) -> None:
    if not code.strip():
        raise FlowError("Enter the code we sent to your email address.")
    result = emulator.store.check_one_time_code(
        auth_request.id, PURPOSE_MFA, user.email, code, emulator.now(), user_id=user.id
    )
    if result == OneTimeCodeResult.LOCKED_OUT:
        raise locked_out()
    if result != OneTimeCodeResult.OK:
        raise FlowError(_CODE_MESSAGES[result])
    emulator.store.set_mfa_email_confirmed(user.id)
    emulator.store.record_mfa(session.id, emulator.now())
