"""The user flows customers expect, in a real browser: password reset, one-time-code sign-up and
sign-in, sign-up with a custom attribute that then shows in claims and on the profile, and "Stay
signed in?". Each journey links its own user flow to the web app through the tenant's Graph, and
every page on the way is screenshotted and checked (page_checks.PageChecks)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.browser.page_checks import assert_header_for
from tests.conftest import SUITE_SECRETS, Tenant
from tests.support.graph_admin import GraphAdminClient
from tests.support.user_flows import custom_attribute, flow_body, id_token_claim_mapped, linked_flow, text_input

pytestmark = pytest.mark.browser


@pytest.fixture
def graph(tenant: Tenant) -> GraphAdminClient:
    token = tenant._call("POST", "admin-token", json={})["access_token"]
    SUITE_SECRETS.add(token)
    return GraphAdminClient(f"{tenant.base_url}/v1.0", token, tenant.control())


@pytest.fixture
def keep_signed_in_shown(tenant: Tenant) -> Iterator[None]:
    tenant._call("POST", "tenant-settings", json={"show_keep_signed_in": True})
    yield
    tenant._call("POST", "tenant-settings", json={"show_keep_signed_in": False})


def field_error(page, field_label: str) -> str:
    """The message tied to the field (aria-describedby), as a screen reader would announce it."""
    field = page.get_by_label(field_label, exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    ids = field.get_attribute("aria-describedby").split()
    return " ".join(page.locator(f"#{i}.field-error").inner_text() for i in ids if i.endswith("-error"))


def test_password_reset_from_the_apps_home_page(page, webapp, tenant, customer, checks):
    new_password = "Reset-" + secrets.token_urlsafe(10)
    SUITE_SECRETS.add(new_password)
    page.goto(webapp.url("/"))
    page.get_by_role("link", name="Reset it").click()
    page.wait_for_url(f"{tenant.base_url}/**/login/signin**")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url("**/login/reset?**")

    # Bad input: a message on the field, and what was typed stays.
    page.get_by_label("Email address").fill("not-an-address")
    page.get_by_role("button", name="Send code").click()
    assert field_error(page, "Email address") == "Enter a valid email address."
    assert page.get_by_label("Email address").input_value() == "not-an-address"
    checks.page(page, "tenant-reset-email-error")
    page.get_by_label("Email address").fill(customer.email)
    page.get_by_role("button", name="Send code").click()
    page.wait_for_url("**/login/reset/code**")
    page.get_by_label("Code").fill("00000000")
    page.get_by_role("button", name="Continue").click()
    assert field_error(page, "Code") == "That code is incorrect. Try again."
    assert page.get_by_label("Code").input_value() == "00000000"
    checks.page(page, "tenant-reset-code")
    page.get_by_label("Code").fill(tenant.latest_code(customer.email, purpose="password_reset"))
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url("**/login/reset/password**")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("short")
    page.get_by_role("button", name="Reset password").click()
    assert "between 8 and 256" in field_error(page, "New password")
    checks.page(page, "tenant-reset-password-error")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Confirm new password").fill(new_password)
    page.get_by_role("button", name="Reset password").click()

    # Back to sign-in, the email filled in; the new password works.
    page.wait_for_url("**/login/signin**")
    assert "Your password was changed" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Email address").input_value() == customer.email
    checks.page(page, "tenant-reset-done")
    page.get_by_label("Password", exact=True).fill(new_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(webapp.url("/"))
    assert_header_for(page, customer.display_name)


def test_one_time_code_sign_up_then_sign_in(page, webapp, tenant, graph, checks):
    email = f"otp-{secrets.token_hex(4)}@contoso.example"
    body = flow_body("EmailOtpSignup-OAUTH", [text_input("displayName", "Display name", required=True)])
    with linked_flow(graph, tenant.client_id, body):
        page.goto(webapp.url("/"))
        page.get_by_role("main").get_by_role("link", name="Create an account").click()
        page.wait_for_url(f"{tenant.base_url}/**/signup**")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Next").click()
        page.wait_for_url("**/signup/verify**")
        assert page.get_by_label("New password", exact=True).count() == 0  # no password with a code
        page.get_by_label("Verification code").fill(tenant.latest_code(email, purpose="signup"))
        page.get_by_role("button", name="Create account").click()
        assert field_error(page, "Display name") == "Display name is required."
        assert page.get_by_label("Verification code").input_value()  # the code typed is kept
        checks.page(page, "tenant-otp-sign-up-error")
        page.get_by_label("Display name").fill("Otto Code")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(webapp.url("/"))
        assert_header_for(page, "Otto Code")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(webapp.url("/"))
        page.locator("header.site-header").get_by_role("link", name="Sign in").click()
        page.wait_for_url(f"{tenant.base_url}/**/login/signin**")
        assert page.get_by_label("Password", exact=True).count() == 0
        checks.page(page, "tenant-otp-sign-in")
        page.get_by_label("Email address").fill(email)
        page.get_by_role("button", name="Send code").click()
        page.wait_for_url("**/login/otp/code**")
        checks.page(page, "tenant-otp-code")
        page.get_by_label("Code").fill(tenant.latest_code(email, purpose="signin"))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(webapp.url("/"))
        assert_header_for(page, "Otto Code")

        # Editing the profile needs MFA; email is this customer's first factor, so the code comes by SMS.
        page.goto(webapp.url("/profile"))
        page.get_by_role("link", name="Edit profile").click()
        page.wait_for_url("**/login/mfa/sms?**")
        page.get_by_label("Phone number").fill("07700 900123")
        page.get_by_role("button", name="Send code").click()
        assert "country code" in field_error(page, "Phone number")
        assert page.get_by_label("Phone number").input_value() == "07700 900123"
        checks.page(page, "tenant-mfa-sms-phone")
        page.get_by_label("Phone number").fill("+44 7700 900123")
        page.get_by_role("button", name="Send code").click()
        page.wait_for_url("**/login/mfa/sms/code**")
        checks.page(page, "tenant-mfa-sms-code")
        page.get_by_label("Code").fill(tenant.latest_code("+447700900123", purpose="mfa_sms"))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(webapp.url("/profile/edit"))
        assert [m["purpose"] for m in tenant.outbox(email)] == ["signin", "signup"], "no MFA code by email"


def test_sign_up_with_a_custom_attribute_shows_it_in_claims_and_on_the_profile(page, webapp, tenant, graph, checks):
    member = custom_attribute(graph, "MembershipNumber")
    email = f"member-{secrets.token_hex(4)}@contoso.example"
    password = "Member-" + secrets.token_urlsafe(10)
    SUITE_SECRETS.add(password)
    inputs = [
        text_input("displayName", "Display name", required=True),
        text_input("city", "City"),
        text_input(member, "Membership number", required=True, regex=r"^[A-Z]{2}[0-9]{6}$"),
    ]
    with (
        linked_flow(graph, tenant.client_id, flow_body("EmailPassword-OAUTH", inputs)),
        id_token_claim_mapped(graph, tenant.client_id, member),
    ):
        page.goto(webapp.url("/auth/sign-up"))
        page.wait_for_url(f"{tenant.base_url}/**/signup**")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Next").click()
        page.wait_for_url("**/signup/verify**")
        # Every problem at once, each on its field; nothing typed is lost.
        page.get_by_label("Verification code").fill(tenant.latest_code(email, purpose="signup"))
        page.get_by_label("New password", exact=True).fill(password)
        page.get_by_label("Confirm new password").fill(password + "x")
        page.get_by_label("City").fill("Lyon")
        page.get_by_label("Membership number").fill("12")
        page.get_by_role("button", name="Create account").click()
        assert field_error(page, "Display name") == "Display name is required."
        assert field_error(page, "Membership number") == "Membership number is not in the expected format."
        assert field_error(page, "Confirm new password") == "The passwords don't match."
        assert page.get_by_label("City").input_value() == "Lyon"
        assert page.get_by_label("Verification code").input_value()
        checks.page(page, "tenant-sign-up-attributes-errors")
        page.get_by_label("Display name").fill("Mia Member")
        page.get_by_label("Membership number").fill("AB123456")
        page.get_by_label("New password", exact=True).fill(password)
        page.get_by_label("Confirm new password").fill(password)
        page.get_by_role("button", name="Create account").click()

        page.wait_for_url(webapp.url("/"))
        page.goto(webapp.url("/claims"))
        assert page.locator(f'td[data-claim="{member}"]').inner_text() == "AB123456"
        checks.page(page, "claims-custom-attribute")
        page.goto(webapp.url("/profile"))
        assert page.locator(f'dd[data-field="{member}"]').inner_text() == "AB123456"
        assert page.locator('dd[data-field="city"]').inner_text() == "Lyon"
        checks.page(page, "profile-custom-attribute")


def test_stay_signed_in_keeps_the_tenants_cookie(page, webapp, tenant, customer, keep_signed_in_shown, checks):
    page.goto(webapp.url("/auth/sign-in"))
    page.wait_for_url(f"{tenant.base_url}/**/login/signin**")
    page.get_by_label("Email address").fill(customer.email)
    page.get_by_label("Password", exact=True).fill(customer.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/kmsi**")
    assert page.get_by_role("heading", level=1).inner_text() == "Stay signed in?"
    checks.page(page, "tenant-stay-signed-in")
    page.get_by_role("button", name="Yes").click()
    page.wait_for_url(webapp.url("/"))
    assert_header_for(page, customer.display_name)
    (sso,) = [c for c in page.context.cookies(tenant.base_url) if c["name"] == "ciam_emulator_sso"]
    assert sso["expires"] > 0, "Yes keeps the tenant's cookie beyond the browser session"
