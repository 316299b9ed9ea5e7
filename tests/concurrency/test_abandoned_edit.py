"""An edit left behind with its MFA is never applied later.

Before the rewrite an edit submitted before an abandoned MFA stayed in the session, and a later
cross-site GET to `/profile/edit/resume` applied it. Now the edit waits for the `state` of its own
step-up only, and is applied only through the id that step-up's callback hands out.

Each repetition moves the app's session clock past STEP_UP_MAX_AGE (so an edit needs MFA again),
submits an edit and abandons its MFA at the tenant; then (a) another site makes the browser open
`/profile/edit/resume` without an id, with a made-up id, and with the edit's real id (read from the
store: an attacker cannot know it, which makes this the strongest form); then (b) the customer
completes a different step-up: on even repetitions one started after the abandoned edit (opening
the edit page again), on odd ones one started before it in another tab and completed after it. The
abandoned values must never reach Graph: the emulator counts no `PATCH /me`, and the customer's
profile is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.concurrency.browser import Browser, Rounds
from tests.conftest import SUITE_SECRETS

BROWSERS = 10
ROUNDS = 3  # 30 repetitions
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/"}


def _signed_in(browser: Browser) -> None:
    browser.notes["home"] = browser.sign_in()
    browser.notes["sid"] = browser.session_id()
    SUITE_SECRETS.add(browser.notes["sid"])


def _step_up_until_callback(browser: Browser) -> str:
    page = browser.get("/profile/edit")
    assert page.url.startswith(browser.tenant.base_url), f"the edit page did not ask for MFA: {page.url}"
    callback = browser.until_callback(page)
    assert any(p.endswith("/login/mfa/code") for p in browser.tenant_pages), browser.tenant_pages
    return callback


def _edit_form_opens(browser: Browser, page) -> None:
    assert page.url == browser.app.url("/profile/edit"), f"expected the edit form, got {page.status} {page.url}"
    assert page.status == 200 and page.has_field("displayName"), page.text[:300]
    assert "Your profile was saved." not in page.text


def _resume_is_refused(browser: Browser, edit_id: str | None, what: str) -> None:
    path = "/profile/edit/resume" + (f"?edit={edit_id}" if edit_id is not None else "")
    sent = browser.at_once([(what, "GET", path, {"headers": CROSS_SITE})])[what]
    assert sent.status == 302 and sent.location == "/profile/edit", f"{what}: {sent.status} {sent.location}"


def _abandon_an_edit_then_step_up(app_on_store, n_of: dict[int, int]) -> Callable[[Browser], None]:
    def once(browser: Browser) -> None:
        n = n_of[id(browser)]
        n_of[id(browser)] += 1
        started_before = n % 2 == 1
        if started_before:  # another tab opened the edit page and the customer is at the tenant for it
            earlier_callback = _step_up_until_callback(browser)

        values = {"displayName": f"Abandoned {n}", "city": f"Nowhere {n}"}
        token = browser.csrf_token(browser.notes["home"])
        submitted = browser.at_once([("edit", "POST", "/profile/edit", {"data": {"csrf_token": token, **values}})])
        assert submitted["edit"].location.startswith(browser.tenant.base_url), "the edit asks for MFA first"
        pending = app_on_store.field(browser.notes["sid"], "pending_edit")
        assert pending and pending["changes"] == values, f"the edit waits server-side: {pending}"
        # ...and the customer closes the tab at the tenant's MFA page.

        # (a) Cross-site GETs to the resume URL.
        _resume_is_refused(browser, None, "resume without an id")
        _resume_is_refused(browser, "made-up-id", "resume with a made-up id")
        _resume_is_refused(browser, pending["id"], "resume with the edit's own id")

        # (b) A different step-up, completed by the customer.
        if started_before:
            page = browser.get(earlier_callback)
        else:
            page = browser.get(_step_up_until_callback(browser))
        _edit_form_opens(browser, page)
        _resume_is_refused(browser, pending["id"], "resume with the edit's id after another step-up")

        user = browser.tenant.user(browser.email)
        assert (user["displayName"], user.get("city")) == ("Race Customer", None), f"an abandoned edit: {user}"

    return once


def test_an_abandoned_edit_is_never_applied(app_on_store, app_clock, tenant, customers):
    browsers = [Browser(app_on_store.instance, tenant, c.email, c.password) for c in customers(BROWSERS)]
    repetition = {id(b): n for n, b in enumerate(browsers)}  # alternates the two kinds of (b) per browser
    tenant.reset_stats()
    for browser in browsers:
        _signed_in(browser)
    rounds = Rounds(browsers, ROUNDS)
    for _ in rounds:
        app_clock.advance(app_on_store.instance.settings.step_up_max_age + 1)
        rounds.step(_abandon_an_edit_then_step_up(app_on_store, repetition))
        patches = tenant.stats()["graph"]["PATCH /me"]
        rounds.check(patches == 0, f"abandoned edits reached Graph: {patches} PATCH /me so far")
    rounds.assert_none_failed()
