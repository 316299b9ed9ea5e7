"""Debian's chromium driven by Playwright for Python (no browser download: executable_path).

One browser per test session (start-up is the slow part); each test gets a fresh context, so
cookies never leak from one customer's journey into another's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.page_checks import PageChecks
from tests.support.chromium import launch_chromium, open_watched_page, screenshot_taker
from tests.support.site_tls import spki_pin


@pytest.fixture(scope="session")
def browser(tenant, site_certificate, playwright) -> Iterator[object]:
    # One Playwright for the whole run (tests/conftest.py): a thread can drive only one at a time.
    # Trusted: the tenant's certificate key and the app's own HTTPS certificate key.
    server_cert = Path(tenant.ca_bundle).parent / "server.pem"
    browser = launch_chromium(playwright, [spki_pin(server_cert), site_certificate.spki_pin()])
    yield browser
    browser.close()


@pytest.fixture()
def open_page(browser) -> Iterator[Callable[..., object]]:
    """`open_page(viewport=PHONE)` gives a watched page in a fresh context; all are closed at the end."""
    contexts: list[object] = []

    def open_one(viewport: dict[str, int] | None = None) -> object:
        context, page = open_watched_page(browser, viewport)
        contexts.append(context)
        return page

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture()
def page(open_page) -> object:
    return open_page()


@pytest.fixture()
def screenshot(request):
    """`screenshot(page, "name")` saves test-artifacts/screenshots/<test>-<name>.png (git-ignored)."""
    return screenshot_taker(request.node.name)


@pytest.fixture()
def checks(request, screenshot, webapp, tenant) -> PageChecks:
    """`checks.page(page, "name")`: screenshot, then accessibility, title/lang, labels, CSP checks.
    A test parametrized over `site` (tests/conftest.py SITES) is checked on that site's origin."""
    app_origin = request.getfixturevalue("site").base_url if "site" in request.fixturenames else webapp.base_url
    return PageChecks(screenshot=screenshot, app_origin=app_origin, tenant_origin=tenant.base_url)
