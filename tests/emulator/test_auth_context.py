"""Authentication contexts: Graph's admin endpoints, policies on a context, `acrs` and `xms_cc` in the
API's v2 access tokens (entra-notes §13; Entra's claims-challenge doc)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
import msal
import pytest
import requests

from .conftest import REDIRECT_URI, Callback, GraphAdmin, LiveEmulator, Page, ScriptedBrowser, trusted_session

CONTEXTS = "identity/conditionalAccess/authenticationContextClassReferences"
POLICIES = "identity/conditionalAccess/policies"
ACRS_C1 = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
CP1 = '{"access_token":{"xms_cc":{"values":["cp1"]}}}'
SIGN_IN = "openid profile offline_access"


def unverified(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def authorize_url(emulator: LiveEmulator, **extra: str) -> str:
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": f"{emulator.seeded.mfa_scope} {SIGN_IN}",
        "state": "st",
        **extra,
    }
    return requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url


def token_call(emulator: LiveEmulator, **form: str) -> requests.Response:
    data = {"client_id": emulator.seeded.client_id, "client_secret": emulator.client_secret, **form}
    return trusted_session(emulator.ca_cert).post(emulator.token_url, data=data, timeout=10)


def redeem(emulator: LiveEmulator, callback: Callback, **extra: str) -> dict[str, Any]:
    assert "code" in callback.params, callback.params
    response = token_call(
        emulator,
        grant_type="authorization_code",
        code=callback.params["code"],
        redirect_uri=REDIRECT_URI,
        scope=f"{emulator.seeded.mfa_scope} {SIGN_IN}",
        **extra,
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(emulator: LiveEmulator, refresh_token: str, **extra: str) -> requests.Response:
    return token_call(
        emulator,
        grant_type="refresh_token",
        refresh_token=refresh_token,
        scope=f"{emulator.seeded.mfa_scope} {SIGN_IN}",
        **extra,
    )


def signed_in(browser: ScriptedBrowser, url: str, email: str, password: str) -> tuple[Callback, bool]:
    """Run the authorize URL; also say whether the tenant asked for MFA on the way."""
    result = browser.open(url)
    if isinstance(result, Page) and "/login/signin" in result.url:
        result = browser.submit(result, "/login/signin", {"email": email, "password": password})
    asked_for_mfa = isinstance(result, Page) and "/login/mfa" in result.url
    return browser.pass_mfa(result, email), asked_for_mfa


@pytest.fixture
def graph(emulator: LiveEmulator) -> GraphAdmin:
    return GraphAdmin(emulator)


@pytest.fixture
def customer(emulator: LiveEmulator) -> tuple[str, str]:
    """A new customer; the mfa-app's own policy is off, so only the auth context asks for MFA."""
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})
    email = f"acrs-{secrets.token_hex(4)}@contoso.example"
    return email, emulator.new_user(email)


def test_contexts_are_created_updated_and_read_in_graphs_shape(graph: GraphAdmin, emulator: LiveEmulator) -> None:
    context_id = f"c{secrets.randbelow(80) + 10}"
    created = graph.call("PATCH", f"{CONTEXTS}/{context_id}", {"displayName": "Payments", "isAvailable": True})
    assert created.status_code == 201, created.text
    assert {key: created.json()[key] for key in ("id", "displayName", "description", "isAvailable")} == {
        "id": context_id,
        "displayName": "Payments",
        "description": None,
        "isAvailable": True,
    }
    updated = graph.call("PATCH", f"{CONTEXTS}/{context_id}", {"description": "Paying needs MFA"})
    assert updated.status_code == 204 and not updated.content
    read = graph.ok("GET", f"{CONTEXTS}/{context_id}")
    assert (read["displayName"], read["description"], read["isAvailable"]) == ("Payments", "Paying needs MFA", True)
    listed = graph.ok("GET", CONTEXTS, **{"$filter": f"id eq '{context_id}'"})["value"]
    assert [item["id"] for item in listed] == [context_id]
    # The seeded context the API requires.
    assert graph.ok("GET", f"{CONTEXTS}/c1")["isAvailable"] is True

    for bad_id in ("x1", "c0", "c100"):
        assert graph.call("PATCH", f"{CONTEXTS}/{bad_id}", {"displayName": "n"}).status_code == 400
    assert graph.call("PATCH", f"{CONTEXTS}/c98", {"description": "no name"}).status_code == 400
    assert graph.call("GET", f"{CONTEXTS}/c99").status_code == 404
    reader = GraphAdmin(emulator, scopes=["Policy.Read.All"])
    assert reader.call("GET", f"{CONTEXTS}/c1").status_code == 200
    refused = reader.call("PATCH", f"{CONTEXTS}/c1", {"displayName": "taken over"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"


def test_a_policy_can_target_a_context_and_be_deleted(graph: GraphAdmin) -> None:
    context_id = f"c{secrets.randbelow(80) + 10}"
    graph.ok("PATCH", f"{CONTEXTS}/{context_id}", {"displayName": "Exports", "isAvailable": True})
    body = {
        "displayName": f"MFA for {context_id}",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {"includeAuthenticationContextClassReferences": [context_id]},
            "users": {"includeUsers": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }
    created = graph.call("POST", POLICIES, body)
    assert created.status_code == 201, created.text
    applications = created.json()["conditions"]["applications"]
    assert applications["includeAuthenticationContextClassReferences"] == [context_id]
    assert applications["includeApplications"] == []
    assert graph.call("POST", POLICIES, body).status_code == 400  # one policy per context in the emulator
    unknown = json.loads(json.dumps(body))
    unknown["conditions"]["applications"]["includeAuthenticationContextClassReferences"] = ["c99"]
    assert graph.call("POST", POLICIES, unknown).status_code == 400
    # Session controls (sign-in frequency) do not exist in external tenants.
    assert graph.call("POST", POLICIES, {**body, "sessionControls": {"signInFrequency": {}}}).status_code == 400
    assert graph.call("DELETE", f"{POLICIES}/{created.json()['id']}").status_code == 204
    assert graph.call("DELETE", f"{POLICIES}/{created.json()['id']}").status_code == 404


def test_asking_for_a_context_makes_the_tenant_ask_for_mfa_and_the_token_lists_it(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    plain, asked = signed_in(browser, authorize_url(emulator), *customer)
    assert not asked
    plain_token = redeem(emulator, plain)
    assert "acrs" not in unverified(plain_token["access_token"])

    # The claims-challenge path: the client sends the claims to /authorize; MFA; the token lists c1.
    stepped, asked = signed_in(browser, authorize_url(emulator, claims=ACRS_C1), *customer)
    assert asked
    token = unverified(redeem(emulator, stepped)["access_token"])
    assert token["acrs"] == ["c1"] and token["ver"] == "2.0"


def test_refresh_with_a_context_request_needs_mfa_in_the_session(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    callback, _ = signed_in(browser, authorize_url(emulator), *customer)
    refresh_token = redeem(emulator, callback)["refresh_token"]
    refused = refresh(emulator, refresh_token, claims=ACRS_C1)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert (body["error"], body["error_codes"], body["suberror"]) == ("invalid_grant", [50076], "basic_action")
    assert json.loads(body["claims"]) == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}

    # MFA in the same SSO session (the step-up) satisfies the context for every grant of that session.
    stepped, asked = signed_in(browser, authorize_url(emulator, claims=ACRS_C1), *customer)
    assert asked
    redeem(emulator, stepped)
    again = refresh(emulator, refresh_token, claims=ACRS_C1)
    assert again.status_code == 200, again.text
    assert unverified(again.json()["access_token"])["acrs"] == ["c1"]
    # Without the request the token does not list the context (UNSURE, README).
    unasked = refresh(emulator, again.json()["refresh_token"])
    assert "acrs" not in unverified(unasked.json()["access_token"])


def test_msal_claims_challenge_and_client_capabilities_reach_the_api_token(
    emulator: LiveEmulator, browser: ScriptedBrowser, graph: GraphAdmin
) -> None:
    """MSAL's own wire shape: client_capabilities=["cp1"] merged with the claims challenge."""
    email, password = emulator.seeded.demo_email, emulator.seeded.demo_password
    callback, _ = signed_in(browser, authorize_url(emulator), email, password)
    refresh_token = redeem(emulator, callback)["refresh_token"]

    def web_app(**options: Any) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            emulator.seeded.client_id,
            client_credential=emulator.client_secret,
            authority=emulator.tenant_url,
            instance_discovery=False,
            http_client=trusted_session(emulator.ca_cert),
            http_cache={},
            **options,
        )

    scopes = [emulator.seeded.mfa_scope]

    def refreshed(app: msal.ConfidentialClientApplication, **options: Any) -> dict[str, Any]:
        """MSAL's silent refresh (the path that sends `claims`), from the refresh token imported first."""
        app.acquire_token_by_refresh_token(refresh_token, scopes)
        (account,) = app.get_accounts()
        result = app.acquire_token_silent(scopes, account=account, force_refresh=True, **options)
        assert result is not None and "access_token" in result, result
        return unverified(result["access_token"])

    capable = refreshed(web_app(client_capabilities=["cp1"]))
    assert capable["xms_cc"] == ["cp1"] and "acrs" not in capable
    assert "xms_cc" not in refreshed(web_app())
    stepped = refreshed(web_app(client_capabilities=["cp1"]), claims_challenge=ACRS_C1)
    assert stepped["acrs"] == ["c1"] and stepped["xms_cc"] == ["cp1"]

    # xms_cc is an optional claim: an API whose registration does not ask for it never gets it.
    (mfa_app,) = graph.ok("GET", "applications", **{"$filter": f"appId eq '{emulator.seeded.mfa_app_id}'"})["value"]
    saved = mfa_app["optionalClaims"]
    graph.ok("PATCH", f"applications/{mfa_app['id']}", {"optionalClaims": {"accessToken": []}})
    try:
        assert "xms_cc" not in refreshed(web_app(client_capabilities=["cp1"]))
    finally:
        graph.ok("PATCH", f"applications/{mfa_app['id']}", {"optionalClaims": saved})


def test_a_graph_token_for_user_read_only_cannot_patch_me(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    """Least privilege in API mode: the web app's Graph token carries only what it asked for."""
    url = authorize_url(emulator, scope=f"User.Read {SIGN_IN}")
    callback, _ = signed_in(browser, url, *customer)
    response = token_call(
        emulator,
        grant_type="authorization_code",
        code=callback.params["code"],
        redirect_uri=REDIRECT_URI,
        scope=f"User.Read {SIGN_IN}",
    )
    body = response.json()
    assert body["scope"].split() == ["User.Read", "openid", "profile", "offline_access"]
    graph_api = trusted_session(emulator.ca_cert)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert graph_api.get(f"{emulator.base_url}/v1.0/me", headers=headers, timeout=10).status_code == 200
    patched = graph_api.patch(f"{emulator.base_url}/v1.0/me", json={"city": "Oslo"}, headers=headers, timeout=10)
    assert patched.status_code == 403 and patched.json()["error"]["code"] == "Authorization_RequestDenied"
