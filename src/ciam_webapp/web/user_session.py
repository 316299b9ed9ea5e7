"""What the server-side session holds for a browser, and the only code that reads or writes it.

Keys: `user` (the validated ID token's claims), `account` (MSAL home_account_id), `token_cache`
(sealed MSAL cache), `auth_flow` (a pending sign-in), `after_sign_in` (where to go back to),
`pending_edit` (a profile edit waiting for MFA), `mfa_at` (when the last step-up completed),
`signed_in_at`, and Flask-WTF's `csrf_token`. Nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msal
from flask import current_app, flash, session

from ..token_cache import TokenCacheCodec

# What survives a re-authentication of the same customer (MFA step-up, claims challenge).
SAME_USER_KEYS = ("pending_edit", "mfa_at")


def services() -> Any:
    return current_app.extensions["ciam"]


def current_user() -> dict[str, Any] | None:
    return session.get("user")


def home_account_id() -> str | None:
    return session.get("account")


def load_token_cache() -> msal.SerializableTokenCache:
    return services().token_cache_codec.load(session.get("token_cache"))


@contextmanager
def token_cache() -> Iterator[msal.SerializableTokenCache]:
    """The user's MSAL cache; written back only if MSAL changed it (and the block did not raise)."""
    codec: TokenCacheCodec = services().token_cache_codec
    cache = codec.load(session.get("token_cache"))
    yield cache
    if cache.has_state_changed:
        session["token_cache"] = codec.seal(cache)


def start_auth_flow(flow: dict[str, Any], after_sign_in: str | None) -> None:
    session["auth_flow"] = flow
    if after_sign_in:
        session["after_sign_in"] = after_sign_in


def pop_auth_flow() -> dict[str, Any]:
    """The pending flow, removed so that a callback can be used once only."""
    return session.pop("auth_flow", None) or {}


def sign_in(claims: dict[str, Any], account: str, cache: msal.SerializableTokenCache) -> str | None:
    """Start a fresh session (new id, so a planted session id is worthless) for the signed-in user.

    A pending profile edit survives, since re-authentication for MFA goes through here too.
    Returns where the user was going.
    """
    after_sign_in = session.get("after_sign_in")
    carried_over = {key: session[key] for key in SAME_USER_KEYS if key in session}
    previous_account = session.get("account")
    session.clear()
    session["user"] = claims
    session["account"] = account
    session["signed_in_at"] = int(time.time())
    session["token_cache"] = services().token_cache_codec.seal(cache)
    if previous_account == account:
        session.update(carried_over)
    current_app.session_interface.regenerate(session)  # after filling it: regenerate skips empty sessions
    return after_sign_in


def sign_out(farewell: str | None = None) -> dict[str, Any] | None:
    """Forget everything; returns the claims, for the logout hint.

    The server-side entry is deleted: with a farewell message the browser gets a new session id
    holding only that message, otherwise the emptied session is removed by the store."""
    claims = session.get("user")
    session.clear()
    if farewell:
        flash(farewell, "info")
        current_app.session_interface.regenerate(session)
    return claims


def session_expired(max_lifetime: int) -> bool:
    signed_in_at = session.get("signed_in_at")
    return signed_in_at is not None and time.time() - signed_in_at > max_lifetime


def record_step_up() -> None:
    session["mfa_at"] = time.time()
