"""Sign-ins in progress side by side in one browser: two tabs at once, and a forged callback.

Before the rewrite a browser had one place for a sign-in in progress: a second tab's sign-in
replaced the first one's, so two tabs signing in at once both failed, and a forged callback with a
wrong `state` removed the real sign-in in progress. Now each sign-in in progress is a sealed cookie
of its own, keyed by its `state`, and a callback whose `state` matches none of them changes nothing.

Each browser signs out of the app between repetitions (not of the tenant), so a sign-in is a few
redirects through the tenant's single sign-on.
"""

from __future__ import annotations

import secrets

from tests.concurrency.browser import PENDING_COOKIE_PREFIX, SESSION_COOKIE, Browser, Rounds, state_of
from tests.conftest import SUITE_SECRETS

BROWSERS = 5
ROUNDS = 6  # 30 repetitions


def _signed_out(browser: Browser) -> None:
    if browser.session_id():
        browser.sign_out(browser.notes["home"])
    assert browser.session_id() is None


def _assert_signed_in(browser: Browser, path: str) -> None:
    page = browser.get(path)
    assert page.url == browser.app.url(path) and page.status == 200, f"{path}: {page.status} {page.url}"
    assert "Signed in as" in page.text and "Sign-in failed" not in page.text, page.text[:300]
    browser.notes["home"] = page


def _two_tabs_sign_in_at_once(browser: Browser) -> None:
    # Tab A and tab B each start a sign-in; the tenant answers both (single sign-on).
    callback_a = browser.start("/auth/sign-in?next=/claims")
    callback_b = browser.start("/auth/sign-in")
    states = {state_of(callback_a), state_of(callback_b)}
    in_progress = browser.pending_sign_ins()
    assert len(states) == 2 and states <= set(in_progress), f"both sign-ins are in progress: {in_progress}"

    sent = browser.at_once([("a", "GET", callback_a, {}), ("b", "GET", callback_b, {})])
    for tab, after in (("a", "/claims"), ("b", "/")):
        assert sent[tab].status == 303 and sent[tab].location == after, (
            f"tab {tab}: {sent[tab].status} {sent[tab].location} {sent[tab].response.text[:300]}"
        )
    assert not states & set(browser.pending_sign_ins()), "each used sign-in is forgotten"
    SUITE_SECRETS.update(c.value for c in browser.http.cookies if c.name == SESSION_COOKIE)
    # Each tab's next page (where its callback sent it) is signed in.
    _assert_signed_in(browser, "/claims")
    _assert_signed_in(browser, "/")


def test_two_tabs_signing_in_at_once_both_end_signed_in(app_on_store, tenant, customers):
    browsers = [Browser(app_on_store.instance, tenant, c.email, c.password) for c in customers(BROWSERS)]
    rounds = Rounds(browsers, ROUNDS)
    for _ in rounds:
        rounds.step(_signed_out)
        rounds.step(_two_tabs_sign_in_at_once)
    rounds.assert_none_failed()


def _refused_without_a_trace(sent, what: str) -> None:
    assert sent.status == 400 and "Sign-in failed" in sent.response.text, (what, sent.status, sent.location)
    # (A one-shot notice, e.g. "You have been signed out.", may be shown on that page and so dropped.)
    touched = [c for c in sent.set_cookies() if c.startswith((PENDING_COOKIE_PREFIX, SESSION_COOKIE))]
    assert touched == [], f"{what} changed the sign-in state: {touched}"


def _forged_callbacks_during_a_real_sign_in(browser: Browser) -> None:
    callback = browser.start()
    state = state_of(callback)
    pending_before = browser.pending_sign_ins()
    assert state in pending_before
    # While the customer is at the tenant, another site makes the browser open our callback (a
    # top-level GET carries the SameSite=Lax cookies) with a state of its own.
    forged = {
        "forged code": f"/auth/redirect?state={secrets.token_urlsafe(16)}&code=x",
        "forged cancel": f"/auth/redirect?state={secrets.token_urlsafe(16)}&error=access_denied",
        "no state": "/auth/redirect?code=x",
    }
    for what, path in forged.items():
        sent = browser.at_once([(what, "GET", path, {"headers": {"Sec-Fetch-Site": "cross-site"}})])[what]
        _refused_without_a_trace(sent, what)
    assert browser.pending_sign_ins() == pending_before, "a forged callback touched the sign-in in progress"

    # And one arriving at the same moment as the real callback, with the real state tampered with.
    sent = browser.at_once(
        [
            ("forged", "GET", f"/auth/redirect?state={state}x&code=x", {}),
            ("real", "GET", callback, {}),
        ]
    )
    _refused_without_a_trace(sent["forged"], "forged beside the real callback")
    assert sent["real"].status == 303 and sent["real"].location == "/", (
        f"the real sign-in failed: {sent['real'].status} {sent['real'].response.text[:300]}"
    )
    SUITE_SECRETS.add(browser.session_id())
    _assert_signed_in(browser, "/claims")


def test_a_forged_callback_leaves_the_real_sign_in_working(app_on_store, tenant, customers):
    browsers = [Browser(app_on_store.instance, tenant, c.email, c.password) for c in customers(BROWSERS)]
    rounds = Rounds(browsers, ROUNDS)
    for _ in rounds:
        rounds.step(_signed_out)
        rounds.step(_forged_callbacks_during_a_real_sign_in)
    rounds.assert_none_failed()
