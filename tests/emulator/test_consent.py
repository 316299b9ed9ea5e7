"""No consent, no token: customers cannot consent in an external tenant, the admin grants it."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ciam_emulator import EmulatorSettings
from ciam_emulator.context import Emulator
from ciam_emulator.directory import first_party_service_principal_id
from ciam_emulator.seed import seed

from .conftest import (
    GRAPH_APP_ID,
    REDIRECT_URI,
    Callback,
    GraphAdmin,
    LiveEmulator,
    Page,
    ScriptedBrowser,
    trusted_session,
)

SIGN_IN = "openid profile offline_access"


@dataclass
class Client:
    """An app registered through the emulator's Graph admin endpoints, as ciam-register does it."""

    app_id: str
    name: str
    secret: str
    principal_id: str


def register_client(admin: GraphAdmin) -> Client:
    name = f"consent-test-{uuid.uuid4().hex[:8]}"
    app = admin.ok("POST", "applications", {"displayName": name, "web": {"redirectUris": [REDIRECT_URI]}})
    secret = admin.ok("POST", f"applications/{app['id']}/addPassword", {"passwordCredential": {}})["secretText"]
    principal = admin.ok("POST", "servicePrincipals", {"appId": app["appId"]})
    return Client(app["appId"], name, secret, principal["id"])


def grant(admin: GraphAdmin, client: Client, resource_app_id: str, scope: str, **extra: str) -> str:
    body = {
        "clientId": client.principal_id,
        "consentType": "AllPrincipals",
        "resourceId": admin.service_principal_id(resource_app_id),
        "scope": scope,
        **extra,
    }
    return admin.ok("POST", "oauth2PermissionGrants", body)["id"]


def authorize_url(emulator: LiveEmulator, client: Client, scope: str, **extra: str) -> str:
    params = {
        "client_id": client.app_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st-1",
        **extra,
    }
    return requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url


def token_request(emulator: LiveEmulator, client: Client, **form: str) -> requests.Response:
    data = {"client_id": client.app_id, "client_secret": client.secret, "client_info": "1", **form}
    return trusted_session(emulator.ca_cert).post(emulator.token_url, data=data, timeout=10)


def redeem(emulator: LiveEmulator, client: Client, code: str, scope: str) -> requests.Response:
    return token_request(
        emulator, client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, scope=scope
    )


def refresh(emulator: LiveEmulator, client: Client, refresh_token: str, scope: str) -> requests.Response:
    return token_request(emulator, client, grant_type="refresh_token", refresh_token=refresh_token, scope=scope)


def assert_consent_required(response: requests.Response, client: Client) -> None:
    """Entra's answer: 400 invalid_grant, AADSTS65001, suberror consent_required, in its error body."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"] == [65001]
    assert body["suberror"] == "consent_required"
    assert body["error_description"].startswith(
        f"AADSTS65001: The user or administrator has not consented to use the application with ID "
        f"'{client.app_id}' named '{client.name}'. Send an interactive authorization request for this user "
        "and resource.\r\nTrace ID: "
    )
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=65001"
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    assert "access_token" not in body and "refresh_token" not in body


@pytest.fixture
def admin(emulator: LiveEmulator) -> GraphAdmin:
    return GraphAdmin(emulator)


@pytest.fixture
def person(emulator: LiveEmulator) -> tuple[str, str]:
    email = f"consent-{secrets.token_hex(4)}@contoso.example"
    return email, emulator.new_user(email)


def test_no_grant_no_token_then_the_admin_grant_makes_the_same_request_succeed(
    emulator: LiveEmulator, admin: GraphAdmin, person: tuple[str, str]
) -> None:
    client = register_client(admin)
    scope = f"User.Read {SIGN_IN}"
    grant_id = grant(admin, client, GRAPH_APP_ID, f"{SIGN_IN} User.Read")
    code = ScriptedBrowser(emulator).sign_in(authorize_url(emulator, client, scope), *person).params["code"]

    admin.ok("DELETE", f"oauth2PermissionGrants/{grant_id}")  # the admin revokes the consent
    assert_consent_required(redeem(emulator, client, code, scope), client)

    grant(admin, client, GRAPH_APP_ID, f"{SIGN_IN} User.Read")  # and grants it again
    granted = redeem(emulator, client, code, scope)
    assert granted.status_code == 200, granted.text
    profile = trusted_session(emulator.ca_cert).get(
        f"{emulator.base_url}/v1.0/me",
        headers={"Authorization": f"Bearer {granted.json()['access_token']}"},
        timeout=10,
    )
    assert profile.status_code == 200 and profile.json()["mail"] == person[0]


def test_refresh_needs_a_grant_for_every_scope(
    emulator: LiveEmulator, admin: GraphAdmin, person: tuple[str, str]
) -> None:
    client = register_client(admin)
    grant_id = grant(admin, client, GRAPH_APP_ID, f"{SIGN_IN} User.Read")
    scope = f"User.Read {SIGN_IN}"
    code = ScriptedBrowser(emulator).sign_in(authorize_url(emulator, client, scope), *person).params["code"]
    refresh_token = redeem(emulator, client, code, scope).json()["refresh_token"]

    write_scope = f"User.ReadWrite {SIGN_IN}"
    assert_consent_required(refresh(emulator, client, refresh_token, write_scope), client)
    # The OIDC scopes are Graph permissions too: a grant without profile does not cover MSAL's sign-in.
    admin.ok("PATCH", f"oauth2PermissionGrants/{grant_id}", {"scope": "openid offline_access User.Read"})
    assert_consent_required(refresh(emulator, client, refresh_token, scope), client)
    # Another resource needs its own grant, whatever Graph's grant says.
    admin.ok("PATCH", f"oauth2PermissionGrants/{grant_id}", {"scope": f"{SIGN_IN} User.Read User.ReadWrite"})
    mfa_scope = f"api://{emulator.seeded.mfa_app_id}/User.MFA {SIGN_IN}"
    assert_consent_required(refresh(emulator, client, refresh_token, mfa_scope), client)

    allowed = refresh(emulator, client, refresh_token, write_scope)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["scope"].split() == ["User.ReadWrite", "openid", "profile", "offline_access"]


def test_a_grant_for_one_user_covers_only_that_user(emulator: LiveEmulator, admin: GraphAdmin) -> None:
    client = register_client(admin)
    tenant_wide = grant(admin, client, GRAPH_APP_ID, f"{SIGN_IN} User.Read")
    scope = f"User.Read {SIGN_IN}"
    refresh_tokens = {}
    for name in ("alice", "bob"):
        email = f"{name}-{secrets.token_hex(4)}@contoso.example"
        browser = ScriptedBrowser(emulator)
        code = browser.sign_in(authorize_url(emulator, client, scope), email, emulator.new_user(email)).params["code"]
        refresh_tokens[name] = (email, redeem(emulator, client, code, scope).json()["refresh_token"])
    admin.ok("DELETE", f"oauth2PermissionGrants/{tenant_wide}")
    alice_email, alice_refresh_token = refresh_tokens["alice"]
    alice_id = emulator.control("GET", f"users/{alice_email}").json()["id"]
    grant(admin, client, GRAPH_APP_ID, f"{SIGN_IN} User.Read", consentType="Principal", principalId=alice_id)

    assert refresh(emulator, client, alice_refresh_token, scope).status_code == 200
    assert_consent_required(refresh(emulator, client, refresh_tokens["bob"][1], scope), client)


def test_authorize_without_a_grant_never_reaches_the_app(
    emulator: LiveEmulator, admin: GraphAdmin, person: tuple[str, str]
) -> None:
    client = register_client(admin)  # a service principal, but no grant at all
    browser = ScriptedBrowser(emulator)
    page = browser.open(authorize_url(emulator, client, f"User.Read {SIGN_IN}"))
    assert isinstance(page, Page) and "/login/signin" in page.url
    refused = browser.submit(page, "/login/signin", {"email": person[0], "password": person[1]})
    # The tenant's own page, as for a user who may not consent; no redirect, no code for the app.
    assert isinstance(refused, Page), refused
    assert refused.soup.find("h1").get_text(strip=True) == "Need admin approval"
    assert f"AADSTS90094: {client.name} needs permission" in refused.error_text()

    # Signed in now (SSO): a silent request gets the consent_required error redirect instead.
    silent = browser.open(authorize_url(emulator, client, f"User.Read {SIGN_IN}", prompt="none", state="quiet"))
    assert isinstance(silent, Callback)
    assert silent.params["error"] == "consent_required" and silent.params["state"] == "quiet"
    assert silent.params["error_description"].startswith("AADSTS65001: ")
    assert "code" not in silent.params


def test_seed_grants_what_the_web_app_needs_like_ciam_register(tmp_path: Path) -> None:
    first = seed(tmp_path)
    emulator = Emulator.open(EmulatorSettings(instance_dir=tmp_path, base_url="https://localhost"))
    try:
        directory = emulator.directory
        web = directory.service_principal_for_app(first.tenant_id, first.client_id)
        mfa = directory.service_principal_for_app(first.tenant_id, first.mfa_app_id)
        assert web is not None and mfa is not None
        graph_principal = first_party_service_principal_id(first.tenant_id, GRAPH_APP_ID)

        def grants() -> dict[str, list[str]]:
            found = [g for g in directory.list_grants(first.tenant_id) if g.client_id == web.id]
            assert all(g.consent_type == "AllPrincipals" for g in found)
            return {g.resource_id: g.scope.split() for g in found}

        wanted = {
            graph_principal: ["openid", "profile", "offline_access", "User.Read", "User.ReadWrite"],
            mfa.id: ["User.MFA"],
        }
        assert grants() == wanted
        # An instance whose grant lost a scope gets it back, and seeding again makes no second grant.
        (graph_grant,) = [
            g
            for g in directory.list_grants(first.tenant_id)
            if g.resource_id == graph_principal and g.client_id == web.id
        ]
        directory.update_grant_scope(graph_grant.id, "openid User.Read")
        seed(tmp_path)
        assert sorted(grants()[graph_principal]) == sorted(wanted[graph_principal])
        # The mfa-app API's own grant on Graph, for on-behalf-of: User.ReadWrite and the sign-in scopes.
        (api_grant,) = [g for g in directory.list_grants(first.tenant_id) if g.client_id == mfa.id]
        assert (api_grant.resource_id, api_grant.consent_type) == (graph_principal, "AllPrincipals")
        assert api_grant.scope.split() == ["openid", "profile", "offline_access", "User.ReadWrite"]
        assert len(directory.list_grants(first.tenant_id)) == 3
        assert len(directory.list_service_principals(first.tenant_id)) == 2
    finally:
        emulator.store.close_thread_connection()
