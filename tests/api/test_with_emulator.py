"""The API against the real emulator: its tokens, its on-behalf-of grant, its Graph and its stats.

The customer's token for the API comes from a real authorization-code journey (the emulator tests'
scripted browser), as the web app gets it; the API then validates it against the tenant's JWKS and
trades it for a Graph token at the tenant's token endpoint.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import requests
from flask import Flask

import ciam_api
from tests.api.conftest import bearer
from tests.emulator.conftest import (
    GRAPH_APP_ID,
    REDIRECT_URI,
    GraphAdmin,
    LiveEmulator,
    ScriptedBrowser,
    trusted_session,
)
from tests.emulator.test_on_behalf_of import api_token
from tests.scale.conftest import PrivateRedis

CP1 = {"xms_cc": {"values": ["cp1"]}}


def api_for(emulator: LiveEmulator, **overrides: str) -> Flask:
    """The API configured as the seed's api.env configures it."""
    values = {
        "API_CLIENT_ID": emulator.seeded.mfa_app_id,
        "API_CLIENT_SECRET": emulator.seeded.api_client_secret or "",  # "" in overrides: unset
        "AUTHORITY": f"{emulator.tenant_url}/",
        "TENANT_ID": emulator.seeded.tenant_id,
        "ALLOWED_CLIENT_APPS": emulator.seeded.client_id,
        "GRAPH_ENDPOINT": f"{emulator.base_url}/v1.0",
        "CA_BUNDLE": str(emulator.ca_cert),
        "HTTP_TIMEOUT": "5",
        **overrides,
    }
    return ciam_api.create_app(ciam_api.Settings.from_mapping({k: v for k, v in values.items() if v}))


def token_for(emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str], **claims: Any) -> str:
    extra = {"claims": json.dumps({"access_token": claims})} if claims else {}
    return api_token(emulator, browser, *customer, **extra)["access_token"]


def user_in_tenant(emulator: LiveEmulator, email: str) -> dict[str, Any]:
    return emulator.control("GET", f"users/{email}").json()


def obo_count(emulator: LiveEmulator) -> int:
    return emulator.control("GET", "stats").json()["token"].get("on_behalf_of", 0)


def test_patch_through_the_api_changes_the_user_in_the_tenant(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    client = api_for(emulator).test_client()
    token = token_for(emulator, browser, customer)
    response = client.patch("/profile", headers=bearer(token), json={"city": "Paris", "jobTitle": "Pilot"})
    assert response.status_code == 204, response.get_data()
    user = user_in_tenant(emulator, customer[0])
    assert user["city"] == "Paris" and user["jobTitle"] == "Pilot"
    profile = client.get("/profile", headers=bearer(token)).get_json()["profile"]
    assert profile["mail"] == customer[0] and profile["city"] == "Paris" and profile["jobTitle"] == "Pilot"


def test_a_second_patch_within_the_tokens_lifetime_makes_no_token_call(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    client = api_for(emulator).test_client()
    token = token_for(emulator, browser, customer)
    emulator.control("POST", "stats/reset")
    assert client.patch("/profile", headers=bearer(token), json={"city": "Paris"}).status_code == 204
    assert obo_count(emulator) == 1
    assert client.patch("/profile", headers=bearer(token), json={"city": "Lyon"}).status_code == 204
    assert client.get("/profile", headers=bearer(token)).status_code == 200
    assert obo_count(emulator) == 1
    assert user_in_tenant(emulator, customer[0])["city"] == "Lyon"


def test_the_cache_on_redis_is_shared_by_two_instances(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str], private_redis: PrivateRedis
) -> None:
    first, second = (api_for(emulator, OBO_CACHE_REDIS_URL=private_redis.url) for _ in range(2))
    token = token_for(emulator, browser, customer)
    emulator.control("POST", "stats/reset")
    assert first.test_client().patch("/profile", headers=bearer(token), json={"city": "Oslo"}).status_code == 204
    assert second.test_client().patch("/profile", headers=bearer(token), json={"city": "Rome"}).status_code == 204
    assert obo_count(emulator) == 1
    assert user_in_tenant(emulator, customer[0])["city"] == "Rome"


def test_the_required_auth_context_is_challenged_then_satisfied(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    client = api_for(emulator, REQUIRED_AUTH_CONTEXT="c1").test_client()
    # The web app declares cp1 (MSAL client_capabilities): its token carries xms_cc, not yet acrs.
    without = token_for(emulator, browser, customer, **CP1)
    refused = client.patch("/profile", headers=bearer(without), json={"city": "Paris"})
    assert refused.status_code == 401
    challenge = refused.headers["WWW-Authenticate"]
    assert f'authorization_uri="{emulator.tenant_url}/oauth2/v2.0/authorize"' in challenge
    claims = json.loads(base64.b64decode(challenge.split('claims="')[1].rstrip('"')))
    assert claims == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    # The client sends those claims to /authorize (with its cp1), the tenant runs the context's policy.
    stepped_up = token_for(emulator, browser, customer, **claims["access_token"], **CP1)
    assert client.patch("/profile", headers=bearer(stepped_up), json={"city": "Paris"}).status_code == 204
    assert user_in_tenant(emulator, customer[0])["city"] == "Paris"


def test_without_cp1_a_missing_auth_context_is_403(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    client = api_for(emulator, REQUIRED_AUTH_CONTEXT="c1").test_client()
    response = client.get("/profile", headers=bearer(token_for(emulator, browser, customer)))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="User.MFA"'


def test_conditional_access_on_graph_travels_back_as_a_claims_challenge(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})
    no_mfa = token_for(emulator, browser, customer)
    admin = GraphAdmin(emulator)
    policy = admin.ok(
        "POST",
        "identity/conditionalAccess/policies",
        {
            "displayName": f"MFA for Graph {secrets.token_hex(3)}",
            "state": "enabled",
            "conditions": {
                "clientAppTypes": ["all"],
                "applications": {"includeApplications": [GRAPH_APP_ID]},
                "users": {"includeUsers": ["All"]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        },
    )
    try:
        response = api_for(emulator).test_client().patch("/profile", headers=bearer(no_mfa), json={"city": "Oslo"})
    finally:
        admin.ok("DELETE", f"identity/conditionalAccess/policies/{policy['id']}")
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in challenge
    claims = json.loads(base64.b64decode(challenge.split('claims="')[1].rstrip('"')))
    assert claims["access_token"]["capolids"]["values"] == [policy["id"]]
    assert user_in_tenant(emulator, customer[0]).get("city") != "Oslo"


def test_the_web_apps_graph_token_is_refused(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    """What the web app holds for Graph (User.Read) is not a token for this API: refused before any exchange."""
    scope = "User.Read openid profile offline_access"
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
    }
    auth_uri = requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url
    callback = browser.sign_in(auth_uri, *customer)
    form = {
        "client_id": emulator.seeded.client_id,
        "client_secret": emulator.client_secret,
        "grant_type": "authorization_code",
        "code": callback.params["code"],
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
    }
    graph_token = (
        trusted_session(emulator.ca_cert).post(emulator.token_url, data=form, timeout=10).json()["access_token"]
    )
    emulator.control("POST", "stats/reset")
    response = api_for(emulator).test_client().patch("/profile", headers=bearer(graph_token), json={"city": "Oslo"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert obo_count(emulator) == 0


def test_the_api_authenticates_with_a_certificate(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from ciam_emulator.client_assertions import certificate_credential
    from ciam_emulator.web.common import EXTENSION_KEY
    from tests.support.certificates import make_certificate

    uploaded, unknown = make_certificate("ciam-api"), make_certificate("never uploaded")
    store = emulator.app.extensions[EXTENSION_KEY].store
    store.add_client_certificate(certificate_credential(emulator.seeded.mfa_app_id, uploaded.certificate_pem))
    token = token_for(emulator, browser, customer)
    with_certificate = api_for(
        emulator, API_CLIENT_SECRET="", API_CLIENT_CERTIFICATE_PATH=str(uploaded.write_pem(tmp_path / "api.pem"))
    )
    assert (
        with_certificate.test_client().patch("/profile", headers=bearer(token), json={"city": "Bern"}).status_code
        == 204
    )
    assert user_in_tenant(emulator, customer[0])["city"] == "Bern"
    # A certificate the registration does not know is the deployment's fault: a 500, logged loudly.
    wrong = api_for(
        emulator, API_CLIENT_SECRET="", API_CLIENT_CERTIFICATE_PATH=str(unknown.write_pem(tmp_path / "x.pem"))
    )
    response = wrong.test_client().patch("/profile", headers=bearer(token), json={"city": "Genf"})
    assert response.status_code == 500 and response.get_json() == {"error": "server_error"}
