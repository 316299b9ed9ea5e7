"""The Graph profile, and the edit behind MFA, with its failure modes, over HTTP against the local tenant.

The edit sends only what a customer may change and only what changed (ciam_core/customer_profile.py); the
emulator refuses anything else as Entra does, so a PATCH of `mail` would fail here as in production.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.support.journeys import TenantPages, on_app, sign_in
from tests.support.person import Page


@pytest.fixture()
def signed_in(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    return person


@pytest.fixture()
def graph_patches(webapp):
    """Every PATCH /me body the app sends during the test (the real client still sends it)."""
    services = webapp.app.extensions["ciam"]
    sent: list[dict[str, Any]] = []
    real = services.graph

    class RecordingGraph(type(real)):  # type: ignore[misc]
        def update_me(self, access_token: str, changes: dict[str, Any]) -> None:
            sent.append(dict(changes))
            super().update_me(access_token, changes)

    recording = RecordingGraph(real.endpoint, real._http)
    webapp.app.extensions["ciam"] = dataclasses.replace(services, graph=recording)
    yield sent
    webapp.app.extensions["ciam"] = services


def _csrf(page):
    return page.soup.find("input", attrs={"name": "csrf_token"})["value"]


def _do_mfa(person, tenant, customer, page):
    return TenantPages(person, tenant, customer.email, customer.password).finish(page)


def _open_edit_with_mfa(person, webapp, tenant, customer):
    page = person.get(webapp.url("/profile/edit"))
    page = _do_mfa(person, tenant, customer, page)
    assert page.path == "/profile/edit" and page.has_field("displayName"), page.text[:500]
    return page


def _value(page, name):
    element = page.soup.find(["input", "select"], attrs={"name": name})
    if element.name == "select":
        selected = element.find("option", selected=True)
        return selected["value"] if selected else ""
    return element.get("value", "")


def test_profile_shows_graph_me_and_the_sign_in_email(signed_in, webapp, tenant, customer):
    page = signed_in.get(webapp.url("/profile"))
    assert page.status == 200
    assert page.soup.select_one('[data-field="displayName"]').get_text() == customer.display_name
    assert page.soup.select_one('[data-field="email"]').get_text() == customer.email
    for field in ("givenName", "surname", "jobTitle", "streetAddress", "city", "state", "postalCode", "country"):
        assert page.soup.select_one(f'[data-field="{field}"]') is not None, field
    assert "Edit profile" in page.text


def test_edit_form_offers_what_a_customer_may_change_and_shows_the_email_read_only(
    signed_in, webapp, tenant, customer
):
    page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    form = page.form_with("displayName")
    names = {e["name"] for e in form.find_all(["input", "select"]) if e.get("name")}
    assert names == {
        "csrf_token", "original", "displayName", "givenName", "surname", "jobTitle", "streetAddress", "city", "state",
        "postalCode", "country", "preferredLanguage",
    }
    email = form.find("input", id="sign-in-email")
    assert email["value"] == customer.email and email.has_attr("readonly") and not email.get("name")
    assert "managed by" in page.text
    # Every field has a label (and the language is a list of locales, not free text).
    for element in form.find_all(["input", "select"]):
        if element.get("type") != "hidden":
            assert form.find("label", attrs={"for": element["id"]}), element
    assert form.find("select", attrs={"name": "preferredLanguage"}).find("option", value="fr-FR")


def test_edit_asks_for_mfa_wrong_code_then_right_code_then_saves_only_what_changed(
    signed_in, webapp, tenant, customer, graph_patches
):
    page = signed_in.get(webapp.url("/profile/edit"))
    assert page.url.startswith(tenant.base_url), "the edit page needs MFA first"
    if not page.has_field("code"):  # first MFA: confirm the email to use
        assert customer.email in page.text
        page = signed_in.submit(page, form=page.forms()[0])
    assert page.has_field("code")
    wrong = signed_in.submit(page, {"code": "00000000"}, form=page.form_with("code"))
    assert wrong.url.startswith(tenant.base_url) and wrong.has_field("code")
    assert "code" in wrong.text.lower()
    right = signed_in.submit(wrong, {"code": tenant.latest_code(customer.email)}, form=wrong.form_with("code"))
    form_page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(right)
    assert on_app(form_page, webapp) and form_page.path == "/profile/edit"
    assert _value(form_page, "displayName") == customer.display_name

    saved = signed_in.submit(
        form_page, {"displayName": "Ada Lovelace", "city": "London", "country": "United Kingdom",
                    "preferredLanguage": "en-GB"},
    )
    assert saved.path == "/profile"
    assert "Your profile was saved." in saved.text
    assert saved.soup.select_one('[data-field="displayName"]').get_text() == "Ada Lovelace"
    assert saved.soup.select_one('[data-field="city"]').get_text() == "London"
    assert graph_patches == [
        {"displayName": "Ada Lovelace", "city": "London", "country": "United Kingdom", "preferredLanguage": "en-GB"}
    ]
    user = tenant.user(customer.email)
    assert user["displayName"] == "Ada Lovelace"


def test_the_header_and_home_page_show_the_new_name_at_once(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    signed_in.submit(form_page, {"displayName": "Grace Hopper"})
    home = signed_in.get(webapp.url("/"))
    assert home.heading() == "Welcome, Grace Hopper"
    assert home.soup.select_one(".who strong").get_text() == "Grace Hopper"


def test_an_unchanged_form_sends_nothing_and_says_so(signed_in, webapp, tenant, customer, graph_patches):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    page = signed_in.submit(form_page, {"displayName": customer.display_name})
    assert page.status == 200 and page.path == "/profile/edit"
    assert "nothing to save" in page.text
    assert graph_patches == []


def test_mail_is_never_sent_even_in_a_forged_form(signed_in, webapp, tenant, customer, graph_patches):
    """The customer may not change `mail` (Graph answers 403): a hand-made POST with it changes the rest only."""
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    response = signed_in.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": _csrf(form_page), "displayName": "Forged Extra", "mail": "evil@contoso.example",
              "mobilePhone": "+1 555 0100"},
        timeout=15,
    )
    page = Page(response)
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert graph_patches == [{"displayName": "Forged Extra"}]
    assert tenant.user(customer.email).get("mail") != "evil@contoso.example"


def test_clearing_a_field_sends_null(signed_in, webapp, tenant, customer, graph_patches):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    signed_in.submit(form_page, {"jobTitle": "Engineer"})
    form_page = signed_in.get(webapp.url("/profile/edit"))
    assert _value(form_page, "jobTitle") == "Engineer"
    signed_in.submit(form_page, {"jobTitle": "  "})
    assert graph_patches == [{"jobTitle": "Engineer"}, {"jobTitle": None}]


def test_submit_that_needs_step_up_keeps_the_values_through_mfa(signed_in, webapp, tenant, customer):
    home = signed_in.get(webapp.url("/"))
    response = signed_in.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": _csrf(home), "displayName": "Kept Through MFA", "city": "Paris"},
        timeout=15,
    )
    page = Page(response)
    assert page.url.startswith(tenant.base_url), "MFA is asked before anything is saved"
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    page = _do_mfa(signed_in, tenant, customer, page)
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["displayName"] == "Kept Through MFA"


def test_submit_after_the_freshness_window_asks_for_mfa_again(signed_in, webapp, tenant, customer, fake_clock):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    fake_clock.advance(webapp.settings.step_up_max_age + 1)
    page = signed_in.submit(form_page, {"displayName": "After Window"})
    assert page.url.startswith(tenant.base_url), "a stale MFA is asked for again"
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    mfa_codes_before = sum(m["purpose"] == "mfa" for m in tenant.outbox(customer.email))
    assert page.has_field("password"), "the tenant asks for the password again (prompt=login)"
    page = _do_mfa(signed_in, tenant, customer, page)
    assert page.path == "/profile"
    assert sum(m["purpose"] == "mfa" for m in tenant.outbox(customer.email)) == mfa_codes_before + 1, "and MFA"
    assert tenant.user(customer.email)["displayName"] == "After Window"


def test_missing_or_wrong_csrf_token_changes_nothing(signed_in, webapp, tenant, customer):
    _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    for token in (None, "wrong-token"):
        data = {"displayName": "CSRF Attack"}
        if token:
            data["csrf_token"] = token
        response = signed_in.http.post(webapp.url("/profile/edit"), data=data, allow_redirects=False, timeout=15)
        assert response.status_code == 400
    assert tenant.user(customer.email)["displayName"] == customer.display_name


def test_invalid_values_are_form_errors_that_name_the_field_keep_the_values_and_send_no_patch(
    signed_in, webapp, tenant, customer, graph_patches
):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    page = signed_in.submit(
        form_page, {"displayName": "", "city": "C" * 129, "postalCode": "SW1A 1AA", "preferredLanguage": "xx-EVIL"}
    )
    assert page.status == 400
    errors = {p["id"]: p.get_text() for p in page.soup.select(".field-error")}
    assert "display name" in errors["displayName-error"].lower()
    assert "128" in errors["city-error"]
    assert "preferredLanguage-error" in errors
    assert _value(page, "postalCode") == "SW1A 1AA" and _value(page, "city") == "C" * 129
    assert graph_patches == []


def test_graph_400_names_the_field_and_keeps_the_values(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults(
        [{"status": 400, "error_description": "Invalid value specified for property 'postalCode' of resource 'User'."}]
    )
    page = signed_in.submit(form_page, {"displayName": "Typed Name", "postalCode": "???"})
    assert page.status == 400
    assert "Postal code was not accepted" in page.text
    assert page.soup.select_one("#postalCode-error") is not None
    assert _value(page, "displayName") == "Typed Name" and _value(page, "postalCode") == "???"


def test_graph_403_on_save_says_which_fields_and_keeps_the_values(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults([{"status": 403}])
    page = signed_in.submit(form_page, {"displayName": "Refused Name", "jobTitle": "Refused Title"})
    assert page.status == 403
    assert "not allowed to change Display name, Job title" in page.text
    assert _value(page, "displayName") == "Refused Name" and _value(page, "jobTitle") == "Refused Title"
    assert tenant.user(customer.email)["displayName"] == customer.display_name


def test_graph_429_then_success_applies_the_edit_once(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults([{"status": 429, "retry_after": 1}])
    page = signed_in.submit(form_page, {"displayName": "After Throttling"})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["displayName"] == "After Throttling"


def test_graph_that_keeps_failing_shows_a_clear_page_and_keeps_the_values(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults([{"status": 503, "retry_after": 0}] * 6)
    page = signed_in.submit(form_page, {"displayName": "Never Saved"})
    assert page.status == 503
    assert "your changes were not saved" in page.text
    assert _value(page, "displayName") == "Never Saved"
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    assert "Traceback" not in page.text


def test_profile_view_uses_the_cached_token(signed_in, webapp, tenant):
    tenant.reset_stats()
    assert signed_in.get(webapp.url("/profile")).status == 200
    stats = tenant.stats()
    assert stats["graph"].get("GET /me", 0) == 1
    assert sum(stats["token"].values()) == 0


def test_an_edit_after_mfa_makes_one_patch(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.reset_stats()
    signed_in.submit(form_page, {"displayName": "One Patch"})
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 1


def test_claims_challenge_from_graph_reauthenticates_and_resumes(signed_in, webapp, tenant, customer):
    tenant.graph_faults([{"status": 401, "claims": {"access_token": {"nbf": {"essential": True, "value": "1"}}}}])
    page = signed_in.get(webapp.url("/profile"))
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile" and page.status == 200
    assert page.soup.select_one('[data-field="displayName"]').get_text() == customer.display_name


def test_claims_challenge_during_a_save_reauthenticates_and_applies_the_edit(
    signed_in, webapp, tenant, customer, graph_patches
):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    claims = {"access_token": {"nbf": {"essential": True, "value": "2"}}}
    tenant.graph_faults([{"status": 401, "claims": claims}])
    page = signed_in.submit(form_page, {"displayName": "After Challenge"})
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert graph_patches == [{"displayName": "After Challenge"}] * 2  # refused once, then applied
    assert tenant.user(customer.email)["displayName"] == "After Challenge"


def test_graph_403_gives_a_clear_message(signed_in, webapp, tenant):
    tenant.graph_faults([{"status": 403}])
    page = signed_in.get(webapp.url("/profile"))
    assert page.status == 403
    assert "not allowed" in page.text.lower()
