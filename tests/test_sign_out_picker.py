"""The app meets the tenant's sign-out rule (v2-protocols-oidc, "Send a sign-out request"): only the
login_hint optional claim gives the app a logout_hint. When the registration does not ask for it, the
tenant asks which account to sign out, then sends the browser back to the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SUITE_SECRETS, Tenant
from tests.support.journeys import on_app, sign_in


class WebAppRegistration:
    """The seeded web app's registration, changed through the tenant's Graph as an admin would."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        token = tenant._call("POST", "admin-token")["access_token"]
        SUITE_SECRETS.add(token)
        self.http = tenant.control()
        self.http.headers["Authorization"] = f"Bearer {token}"
        found = self.http.get(
            f"{tenant.base_url}/v1.0/applications",
            params={"$filter": f"appId eq '{tenant.client_id}'"},
            timeout=10,
        ).json()["value"]
        (self.application,) = found

    def patch(self, body: dict[str, Any]) -> None:
        url = f"{self.tenant.base_url}/v1.0/applications/{self.application['id']}"
        response = self.http.patch(url, json=body, timeout=10)
        assert response.status_code == 204, response.text


@pytest.fixture
def registration_without_login_hint(tenant: Tenant) -> Iterator[WebAppRegistration]:
    registration = WebAppRegistration(tenant)
    registration.patch({"optionalClaims": None})
    yield registration
    registration.patch({"optionalClaims": registration.application["optionalClaims"]})


def test_without_the_login_hint_claim_the_tenant_asks_which_account_to_sign_out(
    registration_without_login_hint, person, webapp, tenant, customer
):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    claims_page = person.get(webapp.url("/claims"))
    shown = {td["data-claim"] for td in claims_page.soup.select("td[data-claim]")}
    assert "login_hint" not in shown and "auth_time" not in shown  # optional claims nobody asked for

    picker = person.submit(claims_page, form=claims_page.form_with("csrf_token"))
    assert picker.url.startswith(f"{tenant.base_url}/{tenant.tenant_id}/oauth2/v2.0/logout?")
    assert "logout_hint" not in picker.query and picker.heading() == "Pick an account"
    assert customer.email in picker.form_with("account").get_text()
    # The app's own session is already gone; the tenant's lasts until the customer picks.
    response = person.http.get(webapp.url("/claims"), allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]

    back = person.submit(picker, form=picker.form_with("account"))
    assert on_app(back, webapp) and back.path == "/"
    assert "You have been signed out." in back.text
    again = person.get(webapp.url("/auth/sign-in"))
    assert again.url.startswith(tenant.base_url) and again.has_field("password")


def test_with_the_login_hint_claim_sign_out_does_not_ask(person, webapp, tenant, customer):
    """The seeded registration asks for login_hint, so the app's sign-out goes straight back."""
    sign_in(person, webapp, tenant, customer.email, customer.password)
    claims_page = person.get(webapp.url("/claims"))
    assert claims_page.soup.select_one('td[data-claim="login_hint"]') is not None
    back = person.submit(claims_page, form=claims_page.form_with("csrf_token"))
    assert on_app(back, webapp) and "You have been signed out." in back.text
    assert not any(r.url.startswith(tenant.base_url) and r.status_code == 200 for r in back.response.history)
