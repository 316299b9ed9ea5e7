"""Issue 4 over HTTP: the Graph profile, and the edit behind MFA, with its failure modes."""

import pytest

from tests.support.journeys import TenantPages, on_app, sign_in


@pytest.fixture()
def signed_in(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    return person


def _csrf(page):
    return page.soup.find("input", attrs={"name": "csrf_token"})["value"]


def _do_mfa(person, tenant, customer, page):
    return TenantPages(person, tenant, customer.email, customer.password).finish(page)


def _open_edit_with_mfa(person, webapp, tenant, customer):
    page = person.get(webapp.url("/profile/edit"))
    page = _do_mfa(person, tenant, customer, page)
    assert page.path == "/profile/edit" and page.has_field("display_name"), page.text[:500]
    return page


def test_profile_shows_graph_me(signed_in, webapp, tenant, customer):
    page = signed_in.get(webapp.url("/profile"))
    assert page.status == 200
    assert page.soup.select_one('[data-field="displayName"]').get_text() == customer.display_name
    assert page.soup.select_one('[data-field="mail"]').get_text() == customer.email
    assert "Edit profile" in page.text


def test_edit_asks_for_mfa_wrong_code_then_right_code_then_saves(signed_in, webapp, tenant, customer):
    page = signed_in.get(webapp.url("/profile/edit"))
    assert page.url.startswith(tenant.base_url), "the edit page needs MFA first"
    if not page.has_field("code"):  # first MFA: confirm the email to use
        assert customer.email in page.text
        page = signed_in.submit(page, form=page.forms()[0])
    assert page.has_field("code")
    wrong = signed_in.submit(page, {"code": "00000000"}, form=page.form_with("code"))
    assert wrong.url.startswith(tenant.base_url) and wrong.has_field("code")
    assert "code" in wrong.text.lower() and (
        "incorrect" in wrong.text.lower() or "invalid" in wrong.text.lower() or "wrong" in wrong.text.lower()
    )
    right = signed_in.submit(wrong, {"code": tenant.latest_code(customer.email)}, form=wrong.form_with("code"))
    form_page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(right)
    assert on_app(form_page, webapp) and form_page.path == "/profile/edit"
    assert (
        form_page.form_with("display_name").find("input", attrs={"name": "display_name"})["value"]
        == customer.display_name
    )

    saved = signed_in.submit(form_page, {"display_name": "Ada Lovelace", "mail": "ada@contoso.example"})
    assert saved.path == "/profile"
    assert "Your profile was saved." in saved.text
    assert saved.soup.select_one('[data-field="displayName"]').get_text() == "Ada Lovelace"
    user = tenant.user(customer.email)
    assert user["displayName"] == "Ada Lovelace" and user["mail"] == "ada@contoso.example"


def test_submit_that_needs_step_up_keeps_the_values_through_mfa(signed_in, webapp, tenant, customer):
    home = signed_in.get(webapp.url("/"))
    response = signed_in.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": _csrf(home), "display_name": "Kept Through MFA", "mail": "kept@contoso.example"},
        timeout=15,
    )
    from tests.support.person import Page

    page = Page(response)
    assert page.url.startswith(tenant.base_url), "MFA is asked before anything is saved"
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    page = _do_mfa(signed_in, tenant, customer, page)
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["displayName"] == "Kept Through MFA"


def test_submit_after_the_freshness_window_asks_for_mfa_again(signed_in, webapp, tenant, customer, fresh_settings):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    fresh_settings.replace_settings(step_up_max_age=0)
    import time

    time.sleep(1.1)
    page = signed_in.submit(form_page, {"display_name": "After Window", "mail": customer.email})
    assert page.url.startswith(tenant.base_url), "a stale MFA is asked for again"
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    fresh_settings.replace_settings(step_up_max_age=600)
    mfa_codes_before = sum(m["purpose"] == "mfa" for m in tenant.outbox(customer.email))
    assert page.has_field("password"), "the tenant asks for the password again (prompt=login)"
    page = _do_mfa(signed_in, tenant, customer, page)
    assert page.path == "/profile"
    assert sum(m["purpose"] == "mfa" for m in tenant.outbox(customer.email)) == mfa_codes_before + 1, "and MFA"
    assert tenant.user(customer.email)["displayName"] == "After Window"


def test_missing_or_wrong_csrf_token_changes_nothing(signed_in, webapp, tenant, customer):
    _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    for token in (None, "wrong-token"):
        data = {"display_name": "CSRF Attack", "mail": customer.email}
        if token:
            data["csrf_token"] = token
        response = signed_in.http.post(webapp.url("/profile/edit"), data=data, allow_redirects=False, timeout=15)
        assert response.status_code == 400
    assert tenant.user(customer.email)["displayName"] == customer.display_name


def test_invalid_mail_is_a_form_error_and_sends_no_patch(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.reset_stats()
    page = signed_in.submit(form_page, {"display_name": "Still Here", "mail": "not-an-address"})
    assert page.status == 400
    assert "Enter a valid email address" in page.text
    assert page.form_with("display_name").find("input", attrs={"name": "display_name"})["value"] == "Still Here"
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 0


def test_graph_429_then_success_applies_the_edit_once(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults([{"status": 429, "retry_after": 1}])
    page = signed_in.submit(form_page, {"display_name": "After Throttling", "mail": customer.email})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["displayName"] == "After Throttling"


def test_graph_that_keeps_failing_shows_a_clear_page_and_keeps_the_values(signed_in, webapp, tenant, customer):
    form_page = _open_edit_with_mfa(signed_in, webapp, tenant, customer)
    tenant.graph_faults([{"status": 503, "retry_after": 0}] * 6)
    page = signed_in.submit(form_page, {"display_name": "Never Saved", "mail": customer.email})
    assert page.status == 503
    assert "your changes were not saved" in page.text
    assert page.form_with("display_name").find("input", attrs={"name": "display_name"})["value"] == "Never Saved"
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
    signed_in.submit(form_page, {"display_name": "One Patch", "mail": customer.email})
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 1


def test_claims_challenge_from_graph_reauthenticates_and_resumes(signed_in, webapp, tenant, customer):
    tenant.graph_faults([{"status": 401, "claims": {"access_token": {"nbf": {"essential": True, "value": "1"}}}}])
    page = signed_in.get(webapp.url("/profile"))
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile" and page.status == 200
    assert page.soup.select_one('[data-field="displayName"]').get_text() == customer.display_name


def test_graph_403_gives_a_clear_message(signed_in, webapp, tenant):
    tenant.graph_faults([{"status": 403}])
    page = signed_in.get(webapp.url("/profile"))
    assert page.status == 403
    assert "not allowed" in page.text.lower()
