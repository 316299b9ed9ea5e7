"""Fuzzing with hypothesis: no callback query and no profile form input produces a 500 or a traceback."""

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ciam_core.customer_profile import check_value
from tests.support.journeys import TenantPages

CALLBACK_KEYS = ["code", "state", "error", "error_description", "error_uri", "client_info", "session_state", "x"]
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
fuzz_settings = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture()
def flask_client(webapp):
    return webapp.app.test_client()


@fuzz_settings
@given(params=st.dictionaries(st.sampled_from(CALLBACK_KEYS), text, max_size=6), start_flow=st.booleans())
def test_callback_query_never_breaks_the_app(flask_client, params, start_flow):
    if start_flow:
        flask_client.get("/auth/sign-in")
    response = flask_client.get("/auth/redirect", query_string=params)
    assert response.status_code in (302, 303, 400, 503), response.status_code
    assert b"Traceback" not in response.data


@fuzz_settings
@given(params=st.dictionaries(st.sampled_from(["code", "error", "error_description"]), text, max_size=3))
def test_callback_with_this_sessions_state_never_breaks_the_app(flask_client, params):
    sign_in = flask_client.get("/auth/sign-in")
    state = dict(item.split("=", 1) for item in sign_in.location.split("?", 1)[1].split("&"))["state"]
    response = flask_client.get("/auth/redirect", query_string=dict(params, state=state))
    assert response.status_code in (302, 303, 400, 503), response.status_code
    assert b"Traceback" not in response.data


@pytest.fixture()
def editing_person(person, webapp, tenant, customer):
    page = person.get(webapp.url("/profile/edit"))
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert page.has_field("displayName")
    return person, page.soup.find("input", attrs={"name": "csrf_token"})["value"]


@fuzz_settings
@given(
    fields=st.dictionaries(
        st.sampled_from(["displayName", "givenName", "city", "postalCode", "preferredLanguage", "original", "mail"]),
        text,
        max_size=4,
    )
)
def test_profile_form_never_breaks_the_app(editing_person, webapp, fields):
    person, csrf_token = editing_person
    response = person.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": csrf_token, **fields},
        allow_redirects=False,
        timeout=15,
    )
    # Saved (303), nothing changed (200), refused by the form (400), or by Graph with the values kept (400).
    assert response.status_code in (200, 303, 400), response.status_code
    assert "Traceback" not in response.text


PROFILE_FIELDS = ["displayName", "givenName", "city", "postalCode", "preferredLanguage", "original"]


@fuzz_settings
@given(fields=st.dictionaries(st.sampled_from(PROFILE_FIELDS), st.tuples(text, st.booleans()), min_size=1, max_size=4))
def test_profile_fields_sent_as_files_are_refused_on_their_field(editing_person, webapp, fields):
    """Any field may come as a multipart file part (werkzeug: request.files): the field says so, never a 500."""
    person, csrf_token = editing_person
    as_text = {name: value for name, (value, is_file) in fields.items() if not is_file}
    as_files = {
        name: ("part.txt", value.encode(), "text/plain") for name, (value, is_file) in fields.items() if is_file
    }
    response = person.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": csrf_token, "displayName": "Fuzzed Name", **as_text},
        files=as_files or {"unrelated": ("part.txt", b"x", "text/plain")},
        allow_redirects=False,
        timeout=15,
    )
    assert response.status_code in (200, 303, 400), response.status_code
    assert "Traceback" not in response.text
    refused = [name for name in as_files if name != "original"]  # the hidden field's loss costs only a re-read
    if refused:
        assert response.status_code == 400
        errors = {p["id"]: p.get_text() for p in BeautifulSoup(response.text, "html.parser").select(".field-error")}
        for name in refused:
            assert errors[f"{name}-error"].endswith("must be typed text."), errors


@fuzz_settings
@given(name=st.sampled_from(["displayName", "givenName", "city"]), value=text)
def test_the_edit_refuses_exactly_what_the_text_rules_refuse_with_their_message(editing_person, webapp, name, value):
    person, csrf_token = editing_person
    response = person.http.post(
        webapp.url("/profile/edit"),
        data={"csrf_token": csrf_token, "displayName": "Fuzzed Name", name: value},
        allow_redirects=False,
        timeout=15,
    )
    message = check_value(name, value)
    if message is None:
        assert response.status_code in (200, 303), (response.status_code, value)
    else:
        assert response.status_code == 400, value
        error = BeautifulSoup(response.text, "html.parser").select_one(f"#{name}-error")
        assert error is not None and error.get_text() == message
