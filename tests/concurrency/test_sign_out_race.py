"""A page still loading when "Sign out" is clicked cannot undo the sign-out.

Before the rewrite the slow page wrote its whole session back after sign-out had deleted it, and the
browser stayed signed in. Here the slow page is the profile: Graph answers it late (a delay at the
emulator), and its access token has expired, so MSAL refreshes it and the page saves the new tokens
into the session at its end. Sign-out is sent on another connection of the same browser while the
profile waits for Graph. Afterwards the old session cookie is worth nothing.

Each round signs ten browsers in (the tenant's single sign-on makes that a few redirects), sends
their ten profile loads, waits until the emulator has all ten waiting in Graph (its counters say so),
then sends the ten sign-outs: so every sign-out lands while its page is provably in flight.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.concurrency.browser import SESSION_COOKIE, TIMEOUT, Browser, Rounds, Stats
from tests.conftest import SUITE_SECRETS

BROWSERS = 10
ROUNDS = 3  # 30 repetitions
GRAPH_DELAY_SECONDS = 0.8  # long enough for all ten sign-outs to land while the pages wait


def _signed_in(browser: Browser) -> None:
    browser.notes["home"] = browser.sign_in()
    browser.notes["sid"] = sid = browser.session_id()
    SUITE_SECRETS.add(sid)


def _sign_out_now(browser: Browser) -> None:
    token = browser.csrf_token(browser.notes["home"])
    browser.notes["sign_out"] = browser.in_background("sign-out", "POST", "/auth/sign-out", data={"csrf_token": token})


def _check(app_on_store) -> Callable[[Browser], None]:
    def check(browser: Browser) -> None:
        page, sign_out = browser.notes["page"].result(), browser.notes["sign_out"].result()
        browser.keep_cookies(page, sign_out)
        sid = browser.notes["sid"]
        assert sign_out.status == 303, (sign_out.status, sign_out.response.text[:200])
        assert sign_out.finished < page.finished, "sign-out was answered while the page was still loading"

        old_cookie = browser.connection()
        old_cookie.cookies.clear()
        old_cookie.cookies.set(SESSION_COOKIE, sid, domain="localhost.local", path="/")
        claims = old_cookie.get(app_on_store.instance.url("/claims"), allow_redirects=False, timeout=TIMEOUT)
        assert claims.status_code == 302 and "/auth/sign-in" in claims.headers["Location"], "old cookie still works"
        assert not app_on_store.holds(sid), "the store still has an entry for the signed-out session"

        # The page had loaded the signed-in session before sign-out (a signed-out /profile sends to
        # sign-in), and its save of the refreshed tokens found the session gone: it says to forget it.
        assert page.status == 200 and "Signed in as" in page.response.text, (page.status, page.location)
        assert page.clears(SESSION_COOKIE), f"the slow page did not drop the ended session: {page.set_cookies()}"
        assert browser.session_id() is None

    return check


def test_a_page_in_flight_during_sign_out_cannot_bring_the_session_back(
    app_on_store, tenant, customers, short_lived_access_tokens
):
    browsers = [Browser(app_on_store.instance, tenant, c.email, c.password) for c in customers(BROWSERS)]
    stats = Stats(tenant)
    rounds = Rounds(browsers, ROUNDS)
    for _ in rounds:
        signed_in = len(rounds.step(_signed_in))
        graph_calls, refreshes = stats.now()
        tenant.graph_faults([{"delay_seconds": GRAPH_DELAY_SECONDS}] * signed_in)
        rounds.step(lambda b: b.notes.__setitem__("page", b.in_background("page", "GET", "/profile")))
        # Every page has loaded its session, refreshed its token and is waiting for Graph.
        stats.wait_for(graph_calls + signed_in, refreshes + signed_in)
        rounds.step(_sign_out_now)
        rounds.step(_check(app_on_store))
    rounds.assert_none_failed()


@pytest.fixture(autouse=True)
def _no_graph_delay_left(tenant):
    yield
    tenant.clear_graph_faults()
