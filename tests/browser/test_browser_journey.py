"""The journey in a real browser (Debian's chromium): the session survives the tenant's redirect."""

import pytest

pytestmark = pytest.mark.browser


def sign_in_at_tenant(page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_and_see_the_claims(page, webapp, tenant, customer, screenshot):
    page.goto(webapp.url("/"))
    screenshot(page, "home-signed-out")
    page.get_by_role("link", name="Sign in").first.click()
    page.wait_for_url(f"{tenant.base_url}/**")
    screenshot(page, "tenant-sign-in")
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url(webapp.url("/"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Welcome, {customer.display_name}"
    page.get_by_role("link", name="Token claims", exact=True).click()
    page.wait_for_url(webapp.url("/claims"))
    oid = tenant.user(customer.email)["id"]
    assert page.locator('td[data-claim="oid"]').inner_text() == oid
    assert page.locator('td[data-claim="name"]').inner_text() == customer.display_name
    screenshot(page, "claims")
