"""An MFA step-up completes although other requests of the same browser overlap its callback.

Before the rewrite any request that overlapped the step-up's callback (even the favicon) wrote back a
session without the pending authorization, and the customer saw "Sign-in failed: no sign-in was
started". Here the callback is sent at the same moment as the favicon, the claims page and the
profile. Access tokens live 60 seconds (MSAL refreshes them at every use), so the profile refreshes
its Graph token and saves the token cache while the callback saves the step-up. Then the edit form
must open without a trip to the tenant.

Rounds of ten browsers (ten customers: each reads its own MFA codes from the outbox). Each round
moves the app's session clock past STEP_UP_MAX_AGE, so every browser's edit asks for MFA again (the
tenant asks for the password, because the app asks for a fresh sign-in, then for the emailed code);
the browser stops before the callback; then the race; then the edit form.
"""

from __future__ import annotations

from tests.concurrency.browser import SESSION_COOKIE, Browser, Rounds, Stats
from tests.conftest import SUITE_SECRETS

BROWSERS = 10
ROUNDS = 3  # 30 repetitions


def _step_up_until_callback(browser: Browser) -> None:
    page = browser.get("/profile/edit")
    assert page.url.startswith(browser.tenant.base_url), f"the edit did not ask for MFA: {page.url}"
    browser.notes["callback"] = browser.until_callback(page)
    assert any(p.endswith("/login/mfa/code") for p in browser.tenant_pages), browser.tenant_pages


def _race(browser: Browser) -> None:
    sent = browser.at_once(
        [
            ("callback", "GET", browser.notes["callback"], {}),
            ("favicon", "GET", "/static/favicon.svg", {}),
            ("claims", "GET", "/claims", {}),
            ("profile", "GET", "/profile", {}),
        ]
    )
    callback = sent["callback"]
    assert callback.status == 303 and callback.location == "/profile/edit", (
        f"the step-up's callback failed: {callback.status} {callback.location} {callback.response.text[:300]}"
    )
    for name in ("favicon", "claims", "profile"):
        assert sent[name].status == 200, (name, sent[name].status, sent[name].location)
        assert not sent[name].clears(SESSION_COOKIE), name


def _edit_form_opens(browser: Browser) -> None:
    page = browser.get("/profile/edit")
    assert page.url == browser.app.url("/profile/edit"), f"MFA was asked for again: {page.url}"
    assert page.status == 200 and page.has_field("displayName"), page.text[:300]


def test_a_step_up_survives_requests_overlapping_its_callback(
    app_on_store, app_clock, tenant, customers, short_lived_access_tokens
):
    browsers = [Browser(app_on_store.instance, tenant, c.email, c.password) for c in customers(BROWSERS)]
    for browser in browsers:
        browser.sign_in()
        SUITE_SECRETS.add(browser.session_id())
    stats = Stats(tenant)
    rounds = Rounds(browsers, ROUNDS)
    for _ in rounds:
        app_clock.advance(app_on_store.instance.settings.step_up_max_age + 1)
        rounds.step(_step_up_until_callback)
        before = stats.all()
        racing = len(rounds.step(_race))
        during = stats.all()
        refreshed = during["token"]["refresh_token"] - before["token"]["refresh_token"]
        rounds.check(refreshed >= racing, f"only {refreshed} of {racing} profiles in the race refreshed their token")
        rounds.step(_edit_form_opens)
        sent_to_tenant = stats.all()["authorize"] - during["authorize"]
        rounds.check(sent_to_tenant == 0, f"opening the edit form sent {sent_to_tenant} browser(s) to the tenant")
    rounds.assert_none_failed()
