"""What the app registration decides: the ID token's optional claims (optional-claims reference) and
the name customers see on hosted pages; error pages wear the tenant's branding, not the emulator's.
The registration is changed through Graph's admin endpoints, the same data the token code reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from bs4 import BeautifulSoup

from ciam_emulator.seed import seed

from .conftest import LiveEmulator, Page, ScriptedBrowser, trusted_session
from .test_graph_logout_signup import _authorize_url, _claims
from .test_token_endpoint import obtain_code, redeem

LOGIN_HINT_ONLY = {"idToken": [{"name": "login_hint"}]}


class GraphAdmin:
    def __init__(self, emulator: LiveEmulator) -> None:
        self.emulator = emulator
        token = emulator.control("POST", "admin-token").json()["access_token"]
        self.http = trusted_session(emulator.ca_cert)
        self.http.headers["Authorization"] = f"Bearer {token}"

    def web_app(self) -> dict[str, Any]:
        response = self.http.get(
            f"{self.emulator.base_url}/v1.0/applications",
            params={"$filter": f"appId eq '{self.emulator.seeded.client_id}'"},
            timeout=10,
        )
        (app,) = response.json()["value"]
        return app

    def patch_web_app(self, body: dict[str, Any]) -> requests.Response:
        url = f"{self.emulator.base_url}/v1.0/applications/{self.web_app()['id']}"
        return self.http.patch(url, json=body, timeout=10)


@pytest.fixture
def graph_admin(emulator: LiveEmulator) -> Iterator[GraphAdmin]:
    admin = GraphAdmin(emulator)
    before = admin.web_app()
    yield admin
    # Put the seeded registration back as the other tests expect it.
    restored = admin.patch_web_app({"displayName": before["displayName"], "optionalClaims": before["optionalClaims"]})
    assert restored.status_code == 204, restored.text


def _id_token_claims(emulator: LiveEmulator, **authorize: str) -> dict[str, Any]:
    browser = ScriptedBrowser(emulator)
    if authorize:
        callback = browser.sign_in(
            _authorize_url(emulator, "User.Read openid profile offline_access", **authorize),
            emulator.seeded.demo_email,
            emulator.seeded.demo_password,
        )
        code = callback.params["code"]
    else:
        code = obtain_code(emulator, browser)
    response = redeem(emulator, code)
    assert response.status_code == 200, response.text
    return _claims(response.json()["id_token"])


def test_the_seeded_web_app_asks_for_login_hint_only(emulator: LiveEmulator, graph_admin: GraphAdmin) -> None:
    names = [claim["name"] for claim in graph_admin.web_app()["optionalClaims"]["idToken"]]
    assert names == ["login_hint"]
    claims = _id_token_claims(emulator)
    assert claims["login_hint"] and "auth_time" not in claims


def test_without_optional_claims_the_id_token_has_neither(emulator: LiveEmulator, graph_admin: GraphAdmin) -> None:
    assert graph_admin.patch_web_app({"optionalClaims": None}).status_code == 204
    claims = _id_token_claims(emulator)
    assert "login_hint" not in claims and "auth_time" not in claims


def test_optional_claims_follow_a_graph_change_at_once(emulator: LiveEmulator, graph_admin: GraphAdmin) -> None:
    response = graph_admin.patch_web_app({"optionalClaims": {"idToken": [{"name": "auth_time"}]}})
    assert response.status_code == 204
    claims = _id_token_claims(emulator)
    assert "login_hint" not in claims
    assert claims["auth_time"] <= claims["iat"]


def test_max_age_brings_auth_time_even_when_not_configured(emulator: LiveEmulator, graph_admin: GraphAdmin) -> None:
    assert graph_admin.patch_web_app({"optionalClaims": None}).status_code == 204
    claims = _id_token_claims(emulator, max_age="3600")
    assert claims["auth_time"] <= claims["iat"] and "login_hint" not in claims


def test_hosted_pages_show_the_registrations_display_name(emulator: LiveEmulator, graph_admin: GraphAdmin) -> None:
    page = ScriptedBrowser(emulator).open(_authorize_url(emulator, "openid User.Read"))
    assert isinstance(page, Page)
    # The seeded registration is named like the tenant: the name is shown once.
    assert page.soup.select_one(".brand").get_text(strip=True) == "Contoso"
    assert graph_admin.patch_web_app({"displayName": "Contoso Rewards"}).status_code == 204
    page = ScriptedBrowser(emulator).open(_authorize_url(emulator, "openid User.Read"))
    assert isinstance(page, Page)
    assert page.soup.select_one(".brand").get_text(" ", strip=True) == "Contoso · Contoso Rewards"
    assert "ciam-webapp" not in page.response.text


def test_renaming_to_a_taken_name_is_refused_and_changes_nothing(
    emulator: LiveEmulator, graph_admin: GraphAdmin
) -> None:
    response = graph_admin.patch_web_app({"displayName": "mfa-app", "optionalClaims": None})
    assert response.status_code == 400
    app = graph_admin.web_app()
    assert app["displayName"] == "Contoso" and app["optionalClaims"]["idToken"][0]["name"] == "login_hint"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("login/signin?req=unknown", 50089),  # e.g. Back after the sign-in finished
        ("oauth2/v2.0/authorize?client_id={client}&response_type=code&redirect_uri=https://evil.example/", 50011),
        ("oauth2/v2.0/authorize?client_id=11111111-2222-3333-4444-555555555555&response_type=code", 700016),
    ],
)
def test_error_pages_wear_the_tenants_branding(emulator: LiveEmulator, path: str, code: int) -> None:
    url = f"{emulator.tenant_url}/{path.format(client=emulator.seeded.client_id)}"
    response = trusted_session(emulator.ca_cert).get(url, timeout=10)
    assert response.status_code == 400 and f"AADSTS{code}" in response.text
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.select_one(".brand").get_text(strip=True) == "Contoso"
    assert soup.title.get_text().endswith(" · Contoso")
    assert "CIAM emulator" not in soup.select_one("main").get_text()


def test_seeding_renames_an_old_ciam_webapp_registration_instead_of_adding_one(tmp_path: Path) -> None:
    first = seed(tmp_path)
    database = tmp_path / "emulator.sqlite3"
    with sqlite3.connect(database) as conn:  # as a `make run` instance folder from before named it
        conn.execute("UPDATE apps SET display_name = 'ciam-webapp' WHERE app_id = ?", (first.client_id,))
        conn.execute("UPDATE graph_applications SET properties = '{}' WHERE app_id = ?", (first.client_id,))
    again = seed(tmp_path)
    assert again.client_id == first.client_id and again.client_secret is None
    with sqlite3.connect(database) as conn:
        names = sorted(row[0] for row in conn.execute("SELECT display_name FROM apps"))
        properties = conn.execute(
            "SELECT properties FROM graph_applications WHERE app_id = ?", (first.client_id,)
        ).fetchone()[0]
    assert names == ["Contoso", "mfa-app"]
    assert '"login_hint"' in properties  # and it asks for login_hint again
    assert seed(tmp_path).client_id == first.client_id  # a third run changes nothing


def test_seeding_keeps_optional_claims_someone_added(tmp_path: Path) -> None:
    first = seed(tmp_path)
    database = tmp_path / "emulator.sqlite3"
    added = '{"optionalClaims": {"idToken": [{"name": "auth_time"}], "accessToken": [], "saml2Token": []}}'
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE graph_applications SET properties = ? WHERE app_id = ?", (added, first.client_id))
    seed(tmp_path)
    with sqlite3.connect(database) as conn:
        properties = conn.execute(
            "SELECT properties FROM graph_applications WHERE app_id = ?", (first.client_id,)
        ).fetchone()[0]
    assert '"auth_time"' in properties and '"login_hint"' in properties


def test_a_new_seed_names_the_web_app_after_the_tenant(tmp_path: Path) -> None:
    result = seed(tmp_path, subdomain="fabrikam")
    with sqlite3.connect(tmp_path / "emulator.sqlite3") as conn:
        (name,) = conn.execute("SELECT display_name FROM apps WHERE app_id = ?", (result.client_id,)).fetchone()
    assert name == "Fabrikam"
