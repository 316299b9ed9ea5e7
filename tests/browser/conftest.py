"""Debian's chromium driven by Playwright for Python (no browser download: executable_path).

One browser per test session (start-up is the slow part); each test gets a fresh context, so
cookies never leak from one customer's journey into another's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.page_checks import BrowserWatch, PageChecks
from tests.support.site_tls import spki_pin

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # a common phone width in CSS pixels


@pytest.fixture(scope="session")
def browser(tenant, site_certificate, playwright) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    server_cert = Path(tenant.ca_bundle).parent / "server.pem"
    # One Playwright for the whole run (tests/conftest.py): a thread can drive only one at a time.
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            # Chromium trusts exactly these keys (not "ignore all errors"): the tenant's certificate
            # and the app's own HTTPS certificate.
            f"--ignore-certificate-errors-spki-list={spki_pin(server_cert)},{site_certificate.spki_pin()}",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture()
def open_page(browser) -> Iterator[Callable[..., object]]:
    """`open_page(viewport=PHONE)` gives a watched page in a fresh context; all are closed at the end."""
    contexts: list[object] = []
    watches: list[BrowserWatch] = []

    def open_one(viewport: dict[str, int] | None = None) -> object:
        context = browser.new_context(viewport=viewport or DESKTOP, locale="en-GB")
        contexts.append(context)
        watch = BrowserWatch.install(context)
        watches.append(watch)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.watch = watch  # type: ignore[attr-defined]
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture()
def checks(request, screenshot, webapp, tenant) -> PageChecks:
    """`checks.page(page, "name")`: screenshot, then accessibility, title/lang, labels, CSP checks.
    A test parametrized over `site` (tests/conftest.py SITES) is checked on that site's origin."""
    app_origin = request.getfixturevalue("site").base_url if "site" in request.fixturenames else webapp.base_url
    return PageChecks(screenshot=screenshot, app_origin=app_origin, tenant_origin=tenant.base_url)
