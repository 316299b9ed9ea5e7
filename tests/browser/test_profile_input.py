"""What the edit form does with over-long and invisible input in a real browser (Debian's chromium), over
HTTPS: a browser cuts text silently at an input's `maxlength`, so the limit is left to the server, whose
field message says it and keeps what was pasted."""

from __future__ import annotations

import pytest

from tests.browser.test_browser_journey import sign_in_at_tenant

pytestmark = pytest.mark.browser


def open_edit_form(page, site, tenant, customer) -> None:
    page.goto(site.url("/profile/edit"))
    page.wait_for_url(f"{tenant.base_url}/**")
    sign_in_at_tenant(page, customer.email, customer.password)
    page.wait_for_url("**/login/mfa**")
    page.get_by_role("button", name="Yes, send code").click()
    page.wait_for_url("**/login/mfa/code**")
    page.get_by_label("Code").fill(tenant.latest_code(customer.email, purpose="mfa"))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(site.url("/profile/edit"))


def paste(page, label: str, text: str) -> None:
    """As a customer pasting: the field emptied, then the text inserted at once (a browser applies
    `maxlength` to this as to typing)."""
    field = page.get_by_label(label, exact=True)
    field.fill("")
    field.focus()
    page.keyboard.insert_text(text)


@pytest.mark.parametrize("site", ["tls"], indirect=True)
def test_pasted_over_long_and_invisible_text_is_refused_on_its_field_and_kept(page, site, tenant, customer, checks):
    open_edit_form(page, site, tenant, customer)
    long_name = "Ada Lovelace " * 23  # 299 characters; the limit is 256
    paste(page, "Display name", long_name)
    paste(page, "City", "Lon\u200bdon")
    page.get_by_label("Job title").fill("Analyst")
    tenant.reset_stats()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_load_state()

    assert page.url == site.url("/profile/edit"), "not saved: still on the form"
    assert page.locator(".flash-error").inner_text() == "Some values need your attention: see the fields marked below."
    display_name = page.get_by_label("Display name", exact=True)
    assert display_name.input_value() == long_name.strip(), "what was pasted is kept, not cut"
    assert display_name.get_attribute("aria-invalid") == "true"
    assert page.locator(f"#{display_name.get_attribute('aria-describedby')}").inner_text() == (
        "Display name can be at most 256 characters (you typed 298)."
    )
    city = page.get_by_label("City", exact=True)
    assert city.input_value() == "Lon\u200bdon"
    assert page.locator(f"#{city.get_attribute('aria-describedby')}").inner_text() == (
        "City cannot contain an invisible formatting character (U+200B); please remove it."
    )
    assert page.get_by_label("Job title").input_value() == "Analyst"
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 0
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    checks.page(page, "edit-refused")

    # Fixed, it saves.
    paste(page, "Display name", "Ada Lovelace")
    paste(page, "City", "London")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(site.url("/profile"))
    assert page.locator(".flash").inner_text() == "Your profile was saved."
    assert tenant.user(customer.email)["displayName"] == "Ada Lovelace"
