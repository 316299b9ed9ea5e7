"""Overlapping requests from one real browser, over HTTPS behind nginx (gunicorn, two workers): the way
production serves them. tests/concurrency proves the session rules 50 times per store over plain HTTP
with a scripted client; this shows the same rule holds for Debian's chromium, its `__Host-` cookies
and its parallel connections through the committed nginx configuration."""

from __future__ import annotations

import time

import pytest

from tests.browser.test_browser_journey import sign_in_at_tenant

pytestmark = pytest.mark.browser

REPETITIONS = 3  # a real browser is slow; the 50-fold repetitions are in tests/concurrency
GRAPH_DELAY_SECONDS = 1.5


def _graph_reads(tenant) -> int:
    return int(tenant.stats().get("graph", {}).get("GET /me", 0))


@pytest.mark.parametrize("site", ["nginx"], indirect=True)
def test_a_tab_still_loading_when_another_tab_signs_out_cannot_sign_the_browser_back_in(
    open_page, site, tenant, customer
):
    # Access tokens that MSAL must refresh at every use, so the slow page writes the session at its end.
    tenant._call("POST", "token/lifetime", json={"access_token_seconds": 60})
    try:
        for _ in range(REPETITIONS):
            slow_tab = open_page()
            other_tab = slow_tab.context.new_page()
            slow_tab.goto(site.url("/auth/sign-in"))
            sign_in_at_tenant(slow_tab, customer.email, customer.password)
            slow_tab.wait_for_url(site.url("/"))

            reads_before = _graph_reads(tenant)
            tenant.graph_faults([{"delay_seconds": GRAPH_DELAY_SECONDS}])
            slow_tab.evaluate("location.href = '/profile'")  # navigates without waiting for the page
            deadline = time.monotonic() + 10
            while _graph_reads(tenant) == reads_before:  # the profile has read its session and waits on Graph
                assert time.monotonic() < deadline, "the profile request never reached Graph"
                time.sleep(0.02)

            other_tab.goto(site.url("/"))
            other_tab.get_by_role("button", name="Sign out").click()
            other_tab.wait_for_url(site.url("/"))  # back from the tenant's logout
            slow_tab.wait_for_url(site.url("/profile"))
            slow_tab.wait_for_load_state()
            assert slow_tab.locator('dd[data-field="displayName"]').is_visible(), "the slow page was served"

            cookies = {c["name"] for c in slow_tab.context.cookies(site.base_url)}
            assert "__Host-ciam_session" not in cookies, cookies
            other_tab.goto(site.url("/claims"))
            other_tab.wait_for_url(f"{tenant.base_url}/**")  # sent to sign in: the browser stays signed out
            assert other_tab.get_by_label("Password").is_visible()
            slow_tab.context.close()
    finally:
        tenant._call("POST", "token/lifetime", json={"access_token_seconds": None})
        tenant.clear_graph_faults()
