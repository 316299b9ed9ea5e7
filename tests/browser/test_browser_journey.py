"""The customer's whole journey in a real browser (Debian's chromium), app and hosted pages alike.

Every page met on the way is screenshotted and checked (axe-core, title/lang, labels, CSP): see
page_checks.PageChecks.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

import pytest

from tests.browser.page_checks import assert_header_for, tab_to
from tests.conftest import API_SITES, SITES, SUITE_SECRETS

pytestmark = pytest.mark.browser


def sign_in_at_tenant(page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def flash(page):
    return page.locator(".flash")


@pytest.mark.parametrize("site", SITES, indirect=True)
def test_new_customer_signs_up_edits_profile_behind_mfa_and_signs_out(page, open_page, site, tenant, checks):
    """The whole journey on each way the app is served: plain HTTP on localhost (what Entra allows
    for development), HTTPS from the app itself, and HTTPS from nginx in front of gunicorn."""
    email = f"new-{secrets.token_hex(4)}@contoso.example"
    password = "Sign-up-" + secrets.token_urlsafe(10)
    SUITE_SECRETS.add(password)

    page.goto(site.url("/"))
    checks.page(page, "home-signed-out")
    page.get_by_role("main").get_by_role("link", name="Create an account").click()

    # The tenant's sign-up: email first, then the emailed code with a name and a password.
    page.wait_for_url(f"{tenant.base_url}/**/signup**")
    checks.page(page, "tenant-sign-up")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Next").click()
    page.wait_for_url("**/signup/verify**")
    checks.page(page, "tenant-sign-up-verify")

    code = tenant.latest_code(email)
    outbox = open_page()  # the customer reads the email in another tab
    outbox.goto(f"{tenant.base_url}/_emulator/outbox")
    assert outbox.get_by_role("row").filter(has_text=email).first.locator("td.code").inner_text() == code
    checks.page(outbox, "tenant-outbox")

    page.get_by_label("Verification code").fill(code)
    page.get_by_label("Display name").fill("Ada Newcomer")
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("Confirm new password").fill(password)
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url(site.url("/"))
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Ada Newcomer"
    assert_header_for(page, "Ada Newcomer")
    checks.page(page, "home-signed-in")
    assert_session_cookie_fits(page, site)

    page.get_by_role("link", name="Token claims", exact=True).click()
    page.wait_for_url(site.url("/claims"))
    account = tenant.user(email)
    assert page.locator('td[data-claim="oid"]').inner_text() == account["id"]
    assert_header_for(page, "Ada Newcomer")
    checks.page(page, "claims")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    page.wait_for_url(site.url("/profile"))
    assert page.locator('dd[data-field="displayName"]').inner_text() == "Ada Newcomer"
    assert_header_for(page, "Ada Newcomer")
    checks.page(page, "profile")

    # Editing needs MFA: the tenant asks to confirm where to send the code, then for the code.
    page.get_by_role("link", name="Edit profile").click()
    page.wait_for_url("**/login/mfa**")
    checks.page(page, "tenant-mfa-confirm")
    page.get_by_role("button", name="Yes, send code").click()
    page.wait_for_url("**/login/mfa/code**")
    checks.page(page, "tenant-mfa-code")
    page.get_by_label("Code").fill(tenant.latest_code(email, purpose="mfa"))
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url(site.url("/profile/edit"))
    checks.page(page, "edit-profile")
    edit_profile_and_save(page, site, tenant, email)
    checks.page(page, "profile-saved")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url("/"))
    assert flash(page).inner_text() == "You have been signed out."
    assert flash(page).is_visible()
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Contoso"
    assert page.locator("header.site-header").get_by_role("link", name="Sign in").is_visible()
    checks.page(page, "signed-out")


@pytest.mark.parametrize("api_site", API_SITES, indirect=True)
def test_returning_customer_edits_the_profile_through_the_api(page, api_site, tenant, customer, screenshot):
    """API mode (as `make run` serves it), over plain HTTP and over HTTPS: the save goes to the mfa-app
    API, which meets its authentication context through the app's step-up and writes to Graph on
    behalf of the customer."""
    page.goto(api_site.url("/"))
    page.locator("header.site-header").get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{tenant.base_url}/**")
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url(api_site.url("/"))
    assert_header_for(page, customer.display_name)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    page.wait_for_url(api_site.url("/profile"))
    page.get_by_role("link", name="Edit profile").click()
    page.wait_for_url("**/login/mfa**")
    page.get_by_role("button", name="Yes, send code").click()
    page.wait_for_url("**/login/mfa/code**")
    page.get_by_label("Code").fill(tenant.latest_code(customer.email, purpose="mfa"))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(api_site.url("/profile/edit"))
    screenshot(page, "api-mode-edit-profile")

    tenant.reset_stats()
    edit_profile_and_save(page, api_site, tenant, customer.email)
    screenshot(page, "api-mode-profile-saved")
    stats = tenant.stats()
    assert stats["token"]["on_behalf_of"] == 1 and stats["graph"]["PATCH /me"] == 1, stats


def edit_profile_and_save(page, site, tenant, email: str) -> None:
    """On the edit form (MFA done): change what a customer may change, save, and see it saved in the
    app (the header too, at once) and at the tenant. The sign-in email is shown, not editable."""
    sign_in_email = page.get_by_label("Email")
    assert sign_in_email.input_value() == email and not sign_in_email.is_editable()
    page.get_by_label("Display name").fill("Ada Lovelace")
    page.get_by_label("Job title").fill("Analyst")
    page.get_by_label("City").fill("London")
    page.get_by_label("Country or region").fill("United Kingdom")
    page.get_by_label("Preferred language").select_option("en-GB")
    page.get_by_role("button", name="Save changes").click()

    page.wait_for_url(site.url("/profile"))
    assert flash(page).inner_text() == "Your profile was saved."
    assert flash(page).is_visible()
    assert page.locator('dd[data-field="displayName"]').inner_text() == "Ada Lovelace"
    assert page.locator('dd[data-field="city"]').inner_text() == "London"
    assert page.locator('dd[data-field="preferredLanguage"]').inner_text() == "English (United Kingdom)"
    assert_header_for(page, "Ada Lovelace")
    saved = tenant.user(email)
    assert (saved["displayName"], saved["jobTitle"], saved["city"], saved["country"], saved["preferredLanguage"]) == (
        "Ada Lovelace", "Analyst", "London", "United Kingdom", "en-GB"
    )


def assert_session_cookie_fits(page, site) -> None:
    """Over HTTPS the browser holds a `__Host-` session cookie (it keeps one only if Secure, Path=/,
    no Domain); over plain HTTP an unprefixed one, which it could not keep as Secure."""
    cookies = [c for c in page.context.cookies(site.base_url) if c["name"].endswith("ciam_session")]
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    if site.base_url.startswith("https://"):
        assert cookie["name"] == "__Host-ciam_session" and cookie["secure"] and cookie["path"] == "/"
    else:
        assert cookie["name"] == "ciam_session" and not cookie["secure"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_returning_customer_signs_in_with_the_keyboard_alone(page, webapp, tenant, customer, checks):
    page.goto(webapp.url("/"))
    tab_to(page, page.locator("header.site-header").get_by_role("link", name="Sign in"))
    page.keyboard.press("Enter")

    page.wait_for_url(f"{tenant.base_url}/**")
    checks.page(page, "tenant-sign-in")
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(customer.email)
    tab_to(page, page.get_by_label("Password"), max_presses=1)
    page.keyboard.type(customer.password)
    page.keyboard.press("Enter")

    page.wait_for_url(webapp.url("/"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Welcome, {customer.display_name}"
    assert_header_for(page, customer.display_name)

    # On to the claims page and out again, still with the keyboard only.
    tab_to(page, page.get_by_role("link", name="Token claims", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_url(webapp.url("/claims"))
    assert page.locator('td[data-claim="name"]').inner_text() == customer.display_name
    tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    page.wait_for_url(webapp.url("/"))
    assert flash(page).inner_text() == "You have been signed out."


def test_pages_are_readable_on_a_phone(open_page, webapp, tenant, customer, checks):
    from tests.support.chromium import PHONE

    page = open_page(viewport=PHONE)
    page.goto(webapp.url("/auth/sign-in"))
    page.wait_for_url(f"{tenant.base_url}/**")
    checks.page(page, "phone-tenant-sign-in")
    assert_fits_the_width(page)
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url(webapp.url("/"))
    for path, name in (("/", "phone-home"), ("/profile", "phone-profile"), ("/claims", "phone-claims")):
        page.goto(webapp.url(path))
        assert_header_for(page, customer.display_name)
        checks.page(page, name)
        assert_fits_the_width(page)


def assert_fits_the_width(page) -> None:
    """No sideways scrolling of the whole page (wide content such as tables scrolls on its own)."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_cancel_on_the_hosted_page_offers_a_way_back(page, webapp, tenant, checks):
    page.goto(webapp.url("/auth/sign-in"))
    page.wait_for_url(f"{tenant.base_url}/**")
    page.get_by_role("button", name="Cancel").click()

    page.wait_for_url(webapp.url("/signed-in-cancelled"))
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-in cancelled"
    checks.page(page, "cancelled")
    page.get_by_role("main").get_by_role("link", name="Try again").click()
    page.wait_for_url(f"{tenant.base_url}/**")
    assert page.get_by_role("button", name="Sign in").is_visible()


def test_access_denied_from_the_tenant_lands_on_the_cancelled_page(page, webapp, tenant, customer, checks):
    tenant.misbehave("error_access_denied")
    page.goto(webapp.url("/auth/sign-in"))
    page.wait_for_url(f"{tenant.base_url}/**")
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url(webapp.url("/signed-in-cancelled"))
    assert page.get_by_role("main").get_by_role("link", name="Try again").is_visible()
    checks.page(page, "access-denied")


def test_failed_sign_in_says_so_and_offers_to_try_again(page, webapp, tenant, customer, checks):
    tenant.misbehave("bad_signature")  # the app must refuse the ID token
    page.goto(webapp.url("/auth/sign-in"))
    page.wait_for_url(f"{tenant.base_url}/**")
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url(re.compile(re.escape(webapp.base_url) + r"/auth/redirect.*"))
    alert = page.get_by_role("alert")
    assert "could not sign you in" in alert.inner_text()
    assert alert.is_visible()
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-in failed"
    checks.page(page, "sign-in-failed")
    # The tenant still knows the customer (single sign-on), so trying again signs them straight in.
    page.get_by_role("main").get_by_role("link", name="Try again").click()
    page.wait_for_url(webapp.url("/"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Welcome, {customer.display_name}"


def test_error_pages_are_styled_and_offer_a_next_step(page, webapp, tenant, checks):
    page.goto(webapp.url("/no-such-page"))
    assert page.get_by_role("heading", level=1).inner_text() == "Not Found"
    assert page.get_by_role("main").get_by_role("link", name="Go to the home page").is_visible()
    checks.page(page, "app-not-found")

    # A hosted page whose sign-in attempt the tenant no longer knows.
    page.goto(f"{tenant.base_url}/{tenant.tenant_id}/login/signin?req=unknown")
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-in session expired"
    assert page.locator(".brand").inner_text() == "Contoso"  # the tenant's branding, not the emulator's
    checks.page(page, "tenant-expired")


def test_the_tenants_other_pages_pass_the_same_checks(page, tenant, webapp, customer, checks):
    """Pages of the hosted tenant that the journey above does not meet."""
    page.goto(f"{tenant.base_url}/")
    checks.page(page, "tenant-home")

    # Logout without a client to return to ends on the tenant's own "signed out" page.
    page.goto(f"{tenant.base_url}/{tenant.tenant_id}/oauth2/v2.0/logout")
    assert page.get_by_role("heading", level=1).inner_text() == "You have signed out"
    checks.page(page, "tenant-signed-out")

    # response_mode=form_post answers with a page that posts the code to the client. Its script
    # is held back here so the page stays long enough to be checked (its Continue button is the
    # fallback for browsers without script).
    page.route("**/form_post.js", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    query = urlencode(
        {
            "client_id": tenant.client_id,
            "response_type": "code",
            "redirect_uri": webapp.url("/auth/redirect"),
            "scope": "openid profile",
            "response_mode": "form_post",
            "state": "browser-test",
            "nonce": "browser-test",
        }
    )
    page.goto(f"{tenant.base_url}/{tenant.tenant_id}/oauth2/v2.0/authorize?{query}")
    sign_in_at_tenant(page, customer.email, customer.password)
    assert page.get_by_role("button", name="Continue").is_visible()
    checks.page(page, "tenant-form-post")

    # Signed in at the tenant now: a sign-out request without logout_hint asks which account.
    page.goto(f"{tenant.base_url}/{tenant.tenant_id}/oauth2/v2.0/logout")
    assert page.get_by_role("heading", level=1).inner_text() == "Pick an account"
    checks.page(page, "tenant-sign-out-picker")
    page.get_by_role("button", name=re.compile(re.escape(customer.email))).click()
    assert page.get_by_role("heading", level=1).inner_text() == "You have signed out"
