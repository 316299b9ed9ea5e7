"""API mode (PROFILE_API_URL): the edit goes to the mfa-app API with the customer's User.MFA token.

The real tenant (emulator) signs the customer in and does the MFA; the API here is a scripted double
that answers what the API contract names (401 invalid_token / insufficient_claims, 400 fields, 403
forbidden_fields, 503), so each answer's page in the app is checked on its own. The journey against
the real API is in tests/browser/test_profile_through_api.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from ciam_webapp import create_app
from tests.conftest import app_settings
from tests.support.journeys import TenantPages, on_app, sign_in
from tests.support.person import Page, form_values
from tests.support.registration import register_app_urls
from tests.support.servers import AppOnThread, ServerThread, free_port


@dataclass
class ScriptedApi:
    """Answers PATCH /profile with the scripted responses in turn (then 204) and records each request."""

    base_url: str
    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, status: int, body: Any = None, **headers: str) -> None:
        self.answers.append((status, headers, body))

    def tokens(self) -> list[str]:
        return [r["authorization"].removeprefix("Bearer ") for r in self.received]

    def bodies(self) -> list[Any]:
        return [r["body"] for r in self.received]


@pytest.fixture(scope="module")
def scripted_api() -> Iterator[ScriptedApi]:
    port = free_port()
    api = ScriptedApi(base_url=f"http://127.0.0.1:{port}")
    app = Flask("scripted_profile_api")

    @app.patch("/profile")
    def patch_profile() -> Any:
        api.received.append(
            {"authorization": request.headers.get("Authorization", ""), "body": request.get_json(silent=True)}
        )
        if not api.answers:
            return "", 204
        status, headers, body = api.answers.pop(0)
        return (json.dumps(body) if body is not None else ""), status, {"Content-Type": "application/json", **headers}

    server = ServerThread(make_server("127.0.0.1", port, app, threaded=True))
    yield api
    server.stop()


@pytest.fixture()
def api(scripted_api: ScriptedApi) -> ScriptedApi:
    scripted_api.answers.clear()
    scripted_api.received.clear()
    return scripted_api


@pytest.fixture(scope="module")
def scripted_webapp(tenant, scripted_api, tmp_path_factory) -> Iterator[AppOnThread]:
    port = free_port()
    base_url = f"http://localhost:{port}"
    register_app_urls(tenant, base_url)
    settings = app_settings(
        tenant, base_url, tmp_path_factory.mktemp("api-mode-webapp"), PROFILE_API_URL=scripted_api.base_url
    )
    app = create_app(settings)
    server = ServerThread(make_server("127.0.0.1", port, app, threaded=True))
    yield AppOnThread(base_url=base_url, app=app, settings=settings, server=server)
    server.stop()


@pytest.fixture()
def signed_in(person, scripted_webapp, tenant, customer):
    sign_in(person, scripted_webapp, tenant, customer.email, customer.password)
    return person


def _edit_form_after_mfa(person, webapp, tenant, customer) -> Page:
    page = person.get(webapp.url("/profile/edit"))
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile/edit" and page.has_field("displayName"), page.text[:500]
    return page


def _value(page: Page, name: str) -> str:
    return page.soup.find("input", attrs={"name": name}).get("value", "")


def _claims(token: str) -> dict[str, Any]:
    # The test reads the token only to check what the tenant issued; the API validates it for real.
    return jwt.decode(token, options={"verify_signature": False})


def _challenge(claims: dict[str, Any]) -> str:
    encoded = base64.b64encode(json.dumps(claims).encode()).decode()
    return (
        'Bearer realm="", authorization_uri="https://tenant.example/authorize", '
        f'error="insufficient_claims", claims="{encoded}"'
    )


def test_the_edit_goes_to_the_api_with_the_mfa_token_and_never_to_graph(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    tenant.reset_stats()
    page = signed_in.submit(form_page, {"displayName": "Through The API", "city": "Leeds"})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert api.bodies() == [{"displayName": "Through The API", "city": "Leeds"}]
    token = _claims(api.tokens()[0])
    assert token["aud"] == tenant.mfa_app_id and token["scp"] == "User.MFA"
    assert token["azp"] == tenant.client_id
    assert tenant.stats()["graph"].get("PATCH /me", 0) == 0, "the app itself never writes to Graph"
    assert signed_in.get(scripted_webapp.url("/")).heading() == "Welcome, Through The API"


def test_in_api_mode_the_apps_own_graph_token_cannot_patch_me(signed_in, scripted_webapp, tenant, customer):
    """Least privilege: the app signed in asking Graph for User.Read only, and the tenant's Graph refuses
    that token a PATCH of /me (403 Authorization_RequestDenied), while it may still read."""
    services = scripted_webapp.app.extensions["ciam"]
    seen: list[str] = []
    real = services.graph

    class RecordingGraph(type(real)):  # type: ignore[misc]
        def get_me(self, access_token: str) -> Any:
            seen.append(access_token)
            return super().get_me(access_token)

    scripted_webapp.app.extensions["ciam"] = dataclasses.replace(
        services, graph=RecordingGraph(real.endpoint, real._http)
    )
    try:
        assert signed_in.get(scripted_webapp.url("/profile")).status == 200
    finally:
        scripted_webapp.app.extensions["ciam"] = services
    (graph_token,) = seen  # opaque to the app, as Graph tokens are: only Graph's answers tell what it may do
    graph = requests.Session()
    graph.trust_env = False
    headers = {"Authorization": f"Bearer {graph_token}"}
    refused = graph.patch(
        f"{tenant.base_url}/v1.0/me", json={"city": "Nowhere"}, headers=headers, verify=tenant.ca_bundle, timeout=10
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert tenant.user(customer.email).get("city") != "Nowhere"
    read = graph.get(f"{tenant.base_url}/v1.0/me", headers=headers, verify=tenant.ca_bundle, timeout=10)
    assert read.status_code == 200


def test_insufficient_claims_from_the_api_steps_up_with_those_claims_and_keeps_the_edit(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    wanted = {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    api.answer(401, {"error": "insufficient_claims"}, **{"WWW-Authenticate": _challenge(wanted)})
    response = signed_in.http.post(
        scripted_webapp.url("/profile/edit"),
        data={**_form_data(form_page), "displayName": "Kept Through Claims"},
        allow_redirects=False,
        timeout=15,
    )
    assert response.status_code == 302
    authorize = urlsplit(response.headers["Location"])
    assert response.headers["Location"].startswith(tenant.base_url)
    query = parse_qs(authorize.query)
    assert json.loads(query["claims"][0])["access_token"]["acrs"] == wanted["access_token"]["acrs"]
    assert f"api://{tenant.mfa_app_id}/User.MFA" in query["scope"][0].split()
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(
        signed_in.get(response.headers["Location"])
    )
    assert on_app(page, scripted_webapp) and page.path == "/profile" and "Your profile was saved." in page.text
    assert api.bodies() == [{"displayName": "Kept Through Claims"}] * 2  # refused once, then applied


def test_claims_the_tenant_does_not_grant_stop_after_one_round_with_the_values_kept(
    signed_in, scripted_webapp, tenant, customer, api
):
    """A tenant that never puts the asked claims in the token (a policy missing) must not send the browser
    round and round between the app and the tenant."""
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    wanted = {"access_token": {"acrs": {"essential": True, "value": "c7"}}}
    for _ in range(3):
        api.answer(401, {"error": "insufficient_claims"}, **{"WWW-Authenticate": _challenge(wanted)})
    page = signed_in.submit(form_page, {"displayName": "Never Granted"})
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, scripted_webapp) and page.status == 503
    assert "did not confirm what the profile service asks for" in page.text
    assert _value(page, "displayName") == "Never Granted"
    assert len(api.received) == 2, "one step-up, then no more"


def test_invalid_token_from_the_api_is_retried_once_with_a_fresh_token(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    api.answer(401, {"error": "invalid_token"}, **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    tenant.reset_stats()
    page = signed_in.submit(form_page, {"displayName": "Fresh Token"})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    first, second = api.tokens()
    assert first != second and _claims(second)["scp"] == "User.MFA"
    assert sum(tenant.stats()["token"].values()) == 1, "one refresh for the fresh token"


def test_invalid_token_twice_sends_the_customer_to_sign_in_again_and_keeps_the_edit(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    for _ in range(2):
        api.answer(401, {"error": "invalid_token"}, **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    page = signed_in.submit(form_page, {"displayName": "After Signing In Again"})
    assert page.url.startswith(tenant.base_url) and page.has_field("password"), "the tenant asks for the password"
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile" and "Your profile was saved." in page.text
    assert api.bodies() == [{"displayName": "After Signing In Again"}] * 3


def test_an_api_that_refuses_the_tokens_of_a_fresh_sign_in_too_stops_without_going_round_again(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    for _ in range(4):
        api.answer(401, {"error": "invalid_token"}, **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    page = signed_in.submit(form_page, {"displayName": "Refused Every Time"})
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, scripted_webapp) and page.path == "/profile/edit/resume" and page.status == 503
    assert "did not accept your sign-in" in page.text
    assert _value(page, "displayName") == "Refused Every Time"
    assert len(api.received) == 4


def test_a_400_from_the_api_marks_the_fields_and_keeps_the_typed_values(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    api.answer(
        400,
        {
            "error": "invalid_request",
            "error_description": "Some values were not accepted.",
            "fields": {"postalCode": "Use letters, digits, spaces and dashes."},
        },
    )
    page = signed_in.submit(form_page, {"displayName": "Typed Name", "postalCode": "???"})
    assert page.status == 400
    assert "Postal code was not accepted" in page.text
    assert "Use letters, digits, spaces and dashes." in page.soup.select_one("#postalCode-error").get_text()
    assert _value(page, "displayName") == "Typed Name" and _value(page, "postalCode") == "???"


def test_forbidden_fields_from_the_api_show_the_refused_fields_message(
    signed_in, scripted_webapp, tenant, customer, api
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    refused = {"jobTitle": "Not allowed.", "displayName": "Not allowed."}
    api.answer(403, {"error": "forbidden_fields", "fields": refused})
    page = signed_in.submit(form_page, {"displayName": "Refused Name", "jobTitle": "Refused Title"})
    assert page.status == 403
    assert "not allowed to change Display name, Job title" in page.text
    assert _value(page, "displayName") == "Refused Name" and _value(page, "jobTitle") == "Refused Title"


@pytest.mark.parametrize("unreachable", [False, True], ids=["503", "no-answer"])
def test_an_unavailable_api_shows_the_503_page_and_keeps_the_values(
    signed_in, scripted_webapp, tenant, customer, api, unreachable
):
    form_page = _edit_form_after_mfa(signed_in, scripted_webapp, tenant, customer)
    services = scripted_webapp.app.extensions["ciam"]
    if unreachable:
        client = type(services.profile_api)(f"http://127.0.0.1:{free_port()}", services.profile_api._http)
        scripted_webapp.app.extensions["ciam"] = dataclasses.replace(services, profile_api=client)
    else:
        api.answer(503, {"error": "temporarily_unavailable"}, **{"Retry-After": "5"})
    try:
        page = signed_in.submit(form_page, {"displayName": "Never Saved"})
    finally:
        scripted_webapp.app.extensions["ciam"] = services
    assert page.status == 503
    assert "your changes were not saved" in page.text
    assert _value(page, "displayName") == "Never Saved"
    assert "Traceback" not in page.text


def _form_data(page: Page) -> dict[str, str]:
    return form_values(page.form_with("displayName"))
