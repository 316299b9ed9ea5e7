"""The CSRF token: a new one at every sign-in as someone else, and a form lifetime of
FORM_LIFETIME_SECONDS (src/ciam_webapp/__init__.py).

A form's token carries the second it was made: Flask-WTF signs it with itsdangerous's
`TimestampSigner` and, when the form comes back, compares that second with
`TimestampSigner.get_timestamp()`, the signer's clock (documented as "the current timestamp";
it reads `time.time()`). The test moves that one clock forward while a form is submitted, so an
hour passes for the token check without sleeping. Everything else (the app, which runs in this test
process, its sessions, the tenant) keeps real time, as for a customer who kept the session alive in
another tab while this form sat open.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from itsdangerous.timed import TimestampSigner

from ciam_webapp import FORM_LIFETIME_SECONDS
from tests.concurrency.browser import SESSION_COOKIE, Browser
from tests.conftest import SUITE_SECRETS


@contextmanager
def form_token_clock_ahead(seconds: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + seconds)
        yield


def _session_token(form_token: str) -> str:
    """The session's token inside a form's token (which adds the time it was made and a signature)."""
    return form_token.split(".")[0]


def _post_sign_out(browser: Browser, token: str):
    return browser.http.post(
        browser.app.url("/auth/sign-out"), data={"csrf_token": token}, allow_redirects=False, timeout=15
    )


def _assert_form_expired_page(response) -> None:
    assert response.status_code == 400
    assert "This form has expired" in response.text and "reload the page" in response.text
    assert 'class="site-header"' in response.text


def _signed_in_as(browser: Browser, email: str) -> None:
    claims = browser.get("/claims")
    assert claims.status == 200 and claims.url == browser.app.url("/claims"), "signed in"
    assert email in claims.text


def test_csrf_token_changes_at_sign_in_as_another_customer(start_instance, tenant, customers, app_logs):
    app = start_instance(secret_key="c" * 64)
    first, second = customers(2)
    browser = Browser(app, tenant, first.email, first.password)
    home = browser.sign_in()
    first_token, first_sid = browser.csrf_token(home), browser.session_id()

    # The same customer signing in again (a second tab) keeps the session and its token: other tabs work on.
    browser.sign_in()
    assert browser.session_id() == first_sid
    assert _session_token(browser.csrf_token()) == _session_token(first_token)

    # Someone else signs in at this browser, without signing the first customer out (the tenant's
    # session has ended meanwhile: the tenant asks who is signing in).
    browser.http.cookies.clear(domain="127.0.0.1")
    browser.email, browser.password = second.email, second.password
    home = browser.sign_in()
    second_token, second_sid = browser.csrf_token(home), browser.session_id()
    SUITE_SECRETS.update({first_sid, second_sid})
    assert second_sid != first_sid and _session_token(second_token) != _session_token(first_token)
    _signed_in_as(browser, second.email)

    # A form from before that sign-in is refused, and changes nothing.
    _assert_form_expired_page(_post_sign_out(browser, first_token))
    edit = browser.http.post(
        app.url("/profile/edit"), data={"csrf_token": first_token, "displayName": "Forged"}, timeout=15
    )
    _assert_form_expired_page(edit)
    _signed_in_as(browser, second.email)
    assert tenant.user(second.email)["displayName"] == second.display_name
    assert any("CSRF check failed: The CSRF tokens do not match." in r.getMessage() for r in app_logs.records)

    signed_out = _post_sign_out(browser, second_token)
    assert signed_out.status_code == 303, "the new token is the one that works"


def test_a_form_older_than_its_lifetime_is_refused_with_the_form_has_expired_page(
    start_instance, tenant, customer, app_logs, monkeypatch
):
    app = start_instance(secret_key="f" * 64)
    browser = Browser(app, tenant, customer.email, customer.password)
    token = browser.csrf_token(browser.sign_in())  # the sign-out form, rendered now
    SUITE_SECRETS.add(browser.session_id())

    with form_token_clock_ahead(FORM_LIFETIME_SECONDS + 1, monkeypatch):
        expired = _post_sign_out(browser, token)
    _assert_form_expired_page(expired)
    assert any("CSRF check failed: The CSRF token has expired." in r.getMessage() for r in app_logs.records)
    _signed_in_as(browser, customer.email)  # nothing happened

    # The same form just inside its lifetime is accepted: only its age was refused.
    with form_token_clock_ahead(FORM_LIFETIME_SECONDS - 5, monkeypatch):
        accepted = _post_sign_out(browser, token)
    assert accepted.status_code == 303
    assert SESSION_COOKIE in accepted.headers.get("Set-Cookie", "")
    assert browser.get("/claims").url.startswith(tenant.base_url), "signed out"
