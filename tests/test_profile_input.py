"""What the profile edit refuses (issue 13, "Input"), posted over HTTPS to the app serving TLS itself.

Every refusal is a 400 with the form re-rendered: the bad field's message next to it (aria-describedby,
aria-invalid), every field's typed value kept, and no PATCH sent to Graph. The rules themselves are
ciam_core.customer_profile.check_value (tests/unit/test_customer_profile_text_rules.py).
"""

from __future__ import annotations

import pytest

from tests.support.journeys import TenantPages
from tests.support.person import Page, form_values
from tests.support.referrer import referrer_for

TYPED = {"displayName": "Ada Lovelace", "jobTitle": "Analyst", "city": "London", "preferredLanguage": "en-GB"}


@pytest.fixture()
def edit_form(https_person, tls_webapp, tenant, customer):
    """The edit form over HTTPS, MFA done; Graph's statistics reset so a test can count PATCHes."""
    page = https_person.get(tls_webapp.url("/profile/edit"))
    page = TenantPages(https_person, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile/edit" and page.has_field("displayName"), page.text[:500]
    tenant.reset_stats()
    return page


def post(person, page, fields=None, files=None) -> Page:
    """The edit form posted as a browser would (its hidden fields, a same-origin Referer), with `fields`
    in place of the typed values and `files` as multipart file parts."""
    form = page.form_with("displayName")
    data = {**form_values(form), **(fields or {})}
    for name in files or {}:
        data.pop(name, None)
    referer = referrer_for("same-origin", page.url, page.url)
    response = person.http.post(page.url, data=data, files=files, headers={"Referer": referer}, timeout=15)
    return Page(response)


def value_of(page, name):
    element = page.soup.find(["input", "select"], attrs={"name": name})
    if element.name == "select":
        selected = element.find("option", selected=True)
        return selected["value"] if selected else ""
    return element.get("value", "")


def assert_refused(page, tenant, messages: dict[str, str], kept: dict[str, str]) -> None:
    """A 400, each refused field's message next to it, the typed values kept, nothing sent to Graph."""
    assert page.status == 400, (page.status, page.text[:1000])
    assert "Traceback" not in page.text
    assert page.soup.select_one(".flash-error").get_text() == (
        "Some values need your attention: see the fields marked below."
    )
    errors = {p["id"].removesuffix("-error"): p.get_text() for p in page.soup.select(".field-error")}
    assert errors == messages
    for name in messages:
        field = page.soup.find(["input", "select"], attrs={"name": name})
        assert field["aria-describedby"] == f"{name}-error" and field["aria-invalid"] == "true"
    for name, value in kept.items():
        assert value_of(page, name) == value, name
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 0


# --- Only text: a field sent as a multipart file part ----------------------------------------------


@pytest.mark.parametrize("name", ["displayName", "city", "preferredLanguage"])
def test_a_field_sent_as_a_file_gets_a_field_message_not_a_500(https_person, edit_form, tenant, name):
    label = {"displayName": "Display name", "city": "City", "preferredLanguage": "Preferred language"}[name]
    page = post(https_person, edit_form, TYPED, files={name: ("value.txt", b"Ada", "text/plain")})
    kept = {key: value for key, value in TYPED.items() if key != name}
    assert_refused(page, tenant, {name: f"{label} must be typed text."}, kept)


def test_text_fields_in_a_multipart_form_are_still_accepted(https_person, edit_form, tenant, customer):
    # A browser may send the form as multipart/form-data: only a *file* part is refused, not the encoding.
    page = post(https_person, edit_form, TYPED, files={"unrelated": ("a.txt", b"x", "text/plain")})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["city"] == "London"


# --- Control and format characters, and at least one visible character -----------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Ada\x00", "cannot contain a null character (U+0000); please remove it."),
        ("Ada\r\nBcc: x", "cannot contain a line break (U+000D); please remove it."),
        ("Ada\x1b[31m", "cannot contain a control character (U+001B); please remove it."),
        ("Ada\x9b", "cannot contain a control character (U+009B); please remove it."),
        ("Ada \u202etxt.exe", "cannot contain a text-direction control (U+202E); please remove it."),
        ("\u2067Ada", "cannot contain a text-direction control (U+2067); please remove it."),
        ("A\u200bda", "cannot contain an invisible formatting character (U+200B); please remove it."),
        ("\u200b\u200c\u200d", "cannot contain an invisible formatting character (U+200B); please remove it."),
        ("\u3164", "needs at least one visible character (a letter, digit or symbol)."),
    ],
)
def test_control_format_and_invisible_values_are_refused_with_a_field_message(
    https_person, edit_form, tenant, value, message
):
    page = post(https_person, edit_form, {**TYPED, "displayName": value, "surname": value})
    assert_refused(
        page,
        tenant,
        {"displayName": f"Display name {message}", "surname": f"Surname {message}"},
        {"jobTitle": "Analyst", "city": "London", "preferredLanguage": "en-GB"},
    )
    if "\x00" not in value and "\r" not in value:  # an HTML parser replaces NUL and normalizes CR
        assert value_of(page, "displayName") == value


def test_a_clean_name_in_another_script_is_saved(https_person, edit_form, tenant, customer):
    page = post(https_person, edit_form, {**TYPED, "displayName": "Ада Лавлейс 😀", "city": "Zürich"})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert tenant.user(customer.email)["displayName"] == "Ада Лавлейс 😀"


# --- Over-long input ---------------------------------------------------------------------------------


def test_over_long_values_say_the_limit_and_what_was_typed_and_keep_it(https_person, edit_form, tenant):
    page = post(https_person, edit_form, {**TYPED, "displayName": "D" * 300, "postalCode": "P" * 41})
    assert_refused(
        page,
        tenant,
        {
            "displayName": "Display name can be at most 256 characters (you typed 300).",
            "postalCode": "Postal code can be at most 40 characters (you typed 41).",
        },
        {"displayName": "D" * 300, "postalCode": "P" * 41, "city": "London", "preferredLanguage": "en-GB"},
    )


def test_the_form_does_not_cut_long_input_in_the_browser(edit_form):
    # A browser silently cuts typed or pasted text at `maxlength`, and the cut value would then be saved:
    # the limit is the server's, which says so and keeps what was typed (tests/browser shows it in chromium).
    for field in edit_form.form_with("displayName").find_all("input"):
        assert not field.has_attr("maxlength"), field


# --- Only text: a JSON body (Flask-WTF reads one as the form's fields) -------------------------------


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({**TYPED, "displayName": 5}, {"displayName": "Display name must be typed text."}),
        (
            {**TYPED, "city": {"name": "London"}, "surname": [7]},
            {"city": "City must be typed text.", "surname": "Surname must be typed text."},
        ),
        ([1, 2], {"displayName": "Enter a display name."}),
        ("Ada", {"displayName": "Enter a display name."}),
    ],
)
def test_a_json_body_with_anything_but_text_gets_field_messages_not_a_500(
    https_person, edit_form, tenant, body, messages
):
    csrf_token = edit_form.soup.find("input", attrs={"name": "csrf_token"})["value"]
    response = https_person.http.post(
        edit_form.url,
        json=body,
        headers={"X-CSRFToken": csrf_token, "Referer": referrer_for("same-origin", edit_form.url, edit_form.url)},
        timeout=15,
    )
    assert_refused(Page(response), tenant, messages, {})


# --- The language list -------------------------------------------------------------------------------


def test_a_language_the_list_lacks_set_elsewhere_is_kept_and_only_listed_ones_can_be_chosen(
    https_person, tls_webapp, tenant, customer
):
    # Set by an admin or another app (the emulator's store, as Graph would hold it): a well-formed tag
    # that is not on the form's list.
    store = tenant.app.extensions["ciam_emulator"].store
    store.update_user_profile(tenant.user(customer.email)["id"], {"preferredLanguage": "eo"})
    page = https_person.get(tls_webapp.url("/profile/edit"))
    page = TenantPages(https_person, tenant, customer.email, customer.password).finish(page)
    assert value_of(page, "preferredLanguage") == "eo"
    tenant.reset_stats()

    other = post(https_person, page, {"preferredLanguage": "ga-IE"})  # well-formed, but not on the list
    assert_refused(other, tenant, {"preferredLanguage": "Choose a preferred language from the list."}, {"city": ""})

    saved = post(https_person, page, {"city": "Dublin"})  # the stored language goes back unchanged
    assert saved.path == "/profile" and "Your profile was saved." in saved.text
    user = tenant.user(customer.email)
    assert (user["city"], user["preferredLanguage"]) == ("Dublin", "eo")
