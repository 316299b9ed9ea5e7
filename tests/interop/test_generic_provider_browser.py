"""Sign-in, the claims page and sign-out against panva's oidc-provider in Debian's chromium.

The app's pages get the same checks as in tests/browser (axe-core, title/lang, labels, no inline
code, a strict CSP whose form-action allows the provider); oidc-provider's own development pages are
only screenshotted, since they are not ours to judge.
"""

from __future__ import annotations

import pytest

from tests.browser.page_checks import PageChecks, assert_header_for
from tests.interop.walk import ANY_PASSWORD

pytestmark = pytest.mark.browser


def test_sign_in_claims_and_sign_out_at_a_generic_provider(
    provider_page, generic_webapp, openid_provider, provider_screenshot
):
    page = provider_page
    checks = PageChecks(
        screenshot=provider_screenshot, app_origin=generic_webapp.base_url, tenant_origin=openid_provider.origin
    )

    page.goto(generic_webapp.url("/"))
    checks.page(page, "home-signed-out")
    main = page.get_by_role("main")
    assert main.get_by_role("link", name="Create an account").count() == 0, "oidc-provider lists no prompt=create"
    assert page.get_by_role("link", name="Sign up").count() == 0
    main.get_by_role("link", name="Sign in").click()

    # oidc-provider's development login page, then its consent page.
    page.wait_for_url(f"{openid_provider.issuer}/interaction/**")
    provider_screenshot(page, "provider-login")
    page.locator('input[name="login"]').fill("ada")
    page.locator('input[name="password"]').fill(ANY_PASSWORD)
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(f"{openid_provider.issuer}/interaction/**")
    provider_screenshot(page, "provider-consent")
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(generic_webapp.url("/"))
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Ada Lovelace"
    assert_header_for(page, "Ada Lovelace")
    navigation = page.get_by_role("navigation", name="Main")
    assert navigation.get_by_role("link", name="Profile").count() == 0, "no Graph profile with a generic provider"
    assert "secured by OpenID Connect (localhost)" in page.locator("footer").inner_text()
    checks.page(page, "home-signed-in")

    navigation.get_by_role("link", name="Token claims").click()
    page.wait_for_url(generic_webapp.url("/claims"))
    assert page.locator('td[data-claim="sub"]').inner_text() == "ada"
    assert page.locator('td[data-claim="iss"]').inner_text() == openid_provider.issuer
    assert page.locator('td[data-claim="email"]').inner_text() == "ada@example.test"
    assert page.locator('td[data-claim="tid"]').count() == 0
    checks.page(page, "claims")

    # Sign-out is a POST answered with a redirect to the provider (the CSP's form-action allows it);
    # oidc-provider asks to confirm, then sends the browser back to the post-logout redirect URI.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{openid_provider.issuer}/session/end**")
    provider_screenshot(page, "provider-sign-out")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(generic_webapp.url("/"))
    assert page.locator(".flash").inner_text() == "You have been signed out."
    assert page.get_by_role("link", name="Token claims").count() == 0
    checks.page(page, "home-signed-out-again")

    page.goto(generic_webapp.url("/profile"))
    assert page.get_by_role("heading", level=1).inner_text() == "Profile not available"
    checks.page(page, "profile-not-available")
