"""The browser checks must be able to fail: prove each one notices the problem it looks for."""

from __future__ import annotations

import pytest

from tests.browser.page_checks import blocking_axe_violations

pytestmark = pytest.mark.browser

BROKEN_PAGE = """<!doctype html><html><head><title>Broken</title></head>
<body><main><img src="/nowhere.png"><input name="unlabelled"></main></body></html>"""


def test_axe_core_reports_unlabelled_inputs_and_images_without_text(page):
    page.set_content(BROKEN_PAGE)
    found = "\n".join(blocking_axe_violations(page))
    assert "label (critical)" in found
    assert "image-alt (critical)" in found


def test_the_watch_hears_csp_violations(page, webapp):
    # Served by the test (never reaches the app) under the app's origin, with a CSP like the app's.
    def fulfil(route):
        route.fulfill(
            status=200,
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'"},
            body="<!doctype html><html lang=en><title>t</title><p style='color:red'>x</p>"
            "<script>document.title = 'ran'</script>",
        )

    page.route(webapp.url("/csp-probe"), fulfil)
    page.goto(webapp.url("/csp-probe"))
    assert page.title() == "t"  # the inline script was blocked
    # Reports arrive asynchronously: give the page a moment to deliver both.
    for _ in range(40):
        problems = page.watch.csp_problems()
        if len(page.watch.csp_violations) >= 2:
            break
        page.wait_for_timeout(25)
    assert any("script-src" in p for p in problems), problems
    assert any("style-src" in p for p in problems), problems
