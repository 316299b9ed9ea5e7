"""Debian's chromium driven by Playwright for Python (no browser download: executable_path), shared by
the browser journeys (tests/browser) and the interop journey (tests/interop)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.page_checks import BrowserWatch

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # a common phone width in CSS pixels


def launch_chromium(playwright: Any, trusted_spki_pins: Iterable[str]) -> Any:
    """Headless chromium that trusts exactly these certificate keys (an SPKI pin list), not "ignore
    all certificate errors"; without the background-networking flags it tries to reach Google."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--ignore-certificate-errors-spki-list={','.join(trusted_spki_pins)}",
        ],
    )


def open_watched_page(browser: Any, viewport: dict[str, int] | None = None) -> tuple[Any, Any]:
    """A page in a fresh context (no cookies from another test), watched for console and CSP reports."""
    context = browser.new_context(viewport=viewport or DESKTOP, locale="en-GB")
    watch = BrowserWatch.install(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.watch = watch
    return context, page


def screenshot_taker(test_name: str) -> Callable[[Any, str], Path]:
    """`take(page, "name")` saves test-artifacts/screenshots/<test>-<name>.png (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
