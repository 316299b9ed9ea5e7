"""Wrong MFA codes are limited per code and per user (across codes), with smart lockout's message
and AADSTS50053; asking for a new code never resets the count, and the lockout ends after a while."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests

from ciam_emulator.store import MFA_LOCKOUT_SECONDS, MFA_LOCKOUT_THRESHOLD, OTP_MAX_ATTEMPTS, OneTimeCodeResult, Store

from .conftest import REDIRECT_URI, Callback, LiveEmulator, Page, ScriptedBrowser

LOCKED_OUT = "Your account is temporarily locked to prevent unauthorized use. Try again later."
WRONG = "00000000"


# --- the rules, in plain Python ---------------------------------------------------------------


@pytest.fixture
def store_and_user(tmp_path: Path) -> tuple[Store, str, str]:
    store = Store(tmp_path / "emulator.sqlite3")
    tenant = store.create_tenant("contoso", "Contoso")
    user = store.create_user(tenant.id, "mfa@contoso.example", "Str0ng-Passw0rd!", "MFA Person")
    return store, user.id, user.email


def _wrong(store: Store, request_id: str, email: str, user_id: str, now: float) -> str:
    return store.check_one_time_code(request_id, "mfa", email, WRONG, now, user_id=user_id)


def test_a_code_is_spent_after_its_wrong_tries(store_and_user) -> None:
    store, user_id, email = store_and_user
    code = store.issue_one_time_code("req", "mfa", email, 1000.0)
    results = [_wrong(store, "req", email, user_id, 1000.0) for _ in range(OTP_MAX_ATTEMPTS)]
    assert results == [OneTimeCodeResult.WRONG] * (OTP_MAX_ATTEMPTS - 1) + [OneTimeCodeResult.TOO_MANY_ATTEMPTS]
    # Even the right code is refused now: a new one must be requested.
    right = store.check_one_time_code("req", "mfa", email, code, 1000.0, user_id=user_id)
    assert right == OneTimeCodeResult.TOO_MANY_ATTEMPTS


def test_wrong_codes_count_per_user_across_new_codes_until_a_lockout(store_and_user) -> None:
    store, user_id, email = store_and_user
    now = 1000.0
    wrong_so_far = 0
    while wrong_so_far < MFA_LOCKOUT_THRESHOLD - 1:
        store.issue_one_time_code("req", "mfa", email, now)  # "Resend code": a fresh code, same count
        for _ in range(min(OTP_MAX_ATTEMPTS, MFA_LOCKOUT_THRESHOLD - 1 - wrong_so_far)):
            assert _wrong(store, "req", email, user_id, now) != OneTimeCodeResult.LOCKED_OUT
            wrong_so_far += 1
    fresh = store.issue_one_time_code("req", "mfa", email, now)
    assert _wrong(store, "req", email, user_id, now) == OneTimeCodeResult.LOCKED_OUT
    # Locked out: the right code of a new request and a new code are refused too, for the lockout's time.
    other = store.issue_one_time_code("other-req", "mfa", email, now)
    assert store.check_one_time_code("other-req", "mfa", email, other, now + 1, user_id=user_id) == "locked_out"
    assert fresh != other
    # Sign-up codes (no user yet) know nothing of it.
    signup = store.issue_one_time_code("signup-req", "signup", "new@contoso.example", now)
    assert store.check_one_time_code("signup-req", "signup", "new@contoso.example", signup, now) == "ok"


def test_the_lockout_ends_and_the_count_starts_again(store_and_user) -> None:
    store, user_id, email = store_and_user
    now = 1000.0
    for round_number in range(MFA_LOCKOUT_THRESHOLD):
        if round_number % OTP_MAX_ATTEMPTS == 0:
            store.issue_one_time_code("req", "mfa", email, now)
        result = _wrong(store, "req", email, user_id, now)
    assert result == OneTimeCodeResult.LOCKED_OUT
    later = now + MFA_LOCKOUT_SECONDS + 1
    code = store.issue_one_time_code("req", "mfa", email, later)
    assert store.check_one_time_code("req", "mfa", email, code, now + MFA_LOCKOUT_SECONDS - 1, user_id=user_id) == (
        OneTimeCodeResult.LOCKED_OUT
    )
    assert store.check_one_time_code("req", "mfa", email, code, later, user_id=user_id) == OneTimeCodeResult.OK
    # After the lockout a full set of wrong codes is allowed again before the next one.
    store.issue_one_time_code("req", "mfa", email, later)
    assert _wrong(store, "req", email, user_id, later) == OneTimeCodeResult.WRONG


def test_a_right_code_resets_the_count(store_and_user) -> None:
    store, user_id, email = store_and_user
    store.issue_one_time_code("req", "mfa", email, 1000.0)
    for _ in range(OTP_MAX_ATTEMPTS - 1):
        _wrong(store, "req", email, user_id, 1000.0)
    code = store.issue_one_time_code("req", "mfa", email, 1000.0)
    assert store.check_one_time_code("req", "mfa", email, code, 1000.0, user_id=user_id) == OneTimeCodeResult.OK
    for attempt in range(MFA_LOCKOUT_THRESHOLD - 1):
        if attempt % OTP_MAX_ATTEMPTS == 0:
            store.issue_one_time_code("req", "mfa", email, 1000.0)
        assert _wrong(store, "req", email, user_id, 1000.0) != OneTimeCodeResult.LOCKED_OUT


def test_an_instance_folder_from_before_gains_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "emulator.sqlite3"
    with sqlite3.connect(path) as conn:  # the two tables as an earlier release created them
        conn.execute("CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT, email TEXT)")
        conn.execute("CREATE TABLE auth_codes (code_hash TEXT PRIMARY KEY)")
    store = Store(path)
    columns = {row["name"] for row in store.connection().execute("PRAGMA table_info(users)")}
    assert {"failed_mfa_codes", "mfa_locked_until"} <= columns
    assert "max_age" in {row["name"] for row in store.connection().execute("PRAGMA table_info(auth_codes)")}


# --- the same over HTTP, on the hosted MFA page ----------------------------------------------------


def _mfa_code_page(emulator: LiveEmulator) -> tuple[ScriptedBrowser, str, Page]:
    email = f"mfa-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email)
    browser = ScriptedBrowser(emulator)
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": f"api://{emulator.seeded.mfa_app_id}/User.MFA openid offline_access",
        "state": "mfa",
    }
    url = requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url
    page = browser.open(url)
    assert isinstance(page, Page)
    page = browser.submit(page, "/login/signin", {"email": email, "password": password})
    assert isinstance(page, Page) and page.url.split("?")[0].endswith("/login/mfa")
    page = browser.submit(page, "/login/mfa", {})
    assert isinstance(page, Page) and "/login/mfa/code" in page.url
    return browser, email, page


def _locked_out(page: Page | Callback) -> bool:
    """Smart lockout's message, with IdsLocked's code beside it."""
    error = page.soup.find(class_="error") if isinstance(page, Page) else None
    return error is not None and error.get_text(" ", strip=True) == f"{LOCKED_OUT} (AADSTS50053)"


def _codes_sent(emulator: LiveEmulator, email: str) -> int:
    http = requests.Session()
    http.trust_env = False
    messages = http.get(
        f"{emulator.base_url}/_emulator/outbox.json", params={"to": email}, verify=str(emulator.ca_cert), timeout=10
    ).json()
    return len([m for m in messages if m["purpose"] == "mfa"])


def test_the_hosted_mfa_page_limits_codes_and_locks_out_until_the_lockout_ends(emulator: LiveEmulator) -> None:
    browser, email, page = _mfa_code_page(emulator)
    code_page_url = page.url
    for _ in range(OTP_MAX_ATTEMPTS):
        page = browser.submit(page, "/login/mfa/code", {"code": WRONG, "action": "verify"})
        assert isinstance(page, Page) and page.status == 400
    assert page.error_text() == "Too many incorrect codes. Request a new code."
    page = browser.submit(page, "/login/mfa/code", {"action": "resend"})
    assert isinstance(page, Page) and page.error_text() is None  # a new code; the count goes on
    for _ in range(MFA_LOCKOUT_THRESHOLD - OTP_MAX_ATTEMPTS):
        page = browser.submit(page, "/login/mfa/code", {"code": WRONG, "action": "verify"})
        assert isinstance(page, Page)
    assert _locked_out(page)

    # Locked out: the right code is refused, and no new code is sent.
    right = emulator.latest_code(email, "mfa")
    page = browser.submit(page, "/login/mfa/code", {"code": right, "action": "verify"})
    assert _locked_out(page)
    sent = _codes_sent(emulator, email)
    page = browser.submit(page, "/login/mfa/code", {"action": "resend"})
    assert _locked_out(page) and _codes_sent(emulator, email) == sent
    reloaded = browser.open(code_page_url)
    assert isinstance(reloaded, Page) and _locked_out(reloaded)

    emulator.control("POST", "mfa-lockout/end", {"email": email})
    page = browser.submit(reloaded, "/login/mfa/code", {"action": "resend"})
    assert isinstance(page, Page) and page.error_text() is None and _codes_sent(emulator, email) == sent + 1
    callback = browser.submit(page, "/login/mfa/code", {"code": emulator.latest_code(email, "mfa"), "action": "verify"})
    assert isinstance(callback, Callback) and "code" in callback.params
