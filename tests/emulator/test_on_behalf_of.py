"""The on-behalf-of grant: the mfa-app API trades the customer's token for a Graph token.

Entra's OBO doc and error-code reference (entra-notes §13): the assertion must be an access token the
tenant issued to the calling API and still valid (AADSTS50013 / 500133 / 50027 otherwise); the API's
own Graph permission needs the admin's consent (AADSTS65001); conditional access on the downstream
token answers interaction_required with claims (AADSTS50076).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import msal
import pytest
import requests

from ciam_emulator.tokens import sign
from ciam_emulator.web.common import EXTENSION_KEY

from .conftest import GRAPH_APP_ID, REDIRECT_URI, Callback, GraphAdmin, LiveEmulator, ScriptedBrowser, trusted_session

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRAPH_WRITE = "https://graph.microsoft.com/User.ReadWrite"
ACRS_C1 = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'


def api_token(emulator: LiveEmulator, browser: ScriptedBrowser, email: str, password: str, **extra: str) -> dict:
    """The web app's token for api://{mfa}/User.MFA, as the customer's browser journey yields it."""
    scope = f"{emulator.seeded.mfa_scope} openid profile offline_access"
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
        **extra,
    }
    auth_uri = requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url
    callback = browser.sign_in(auth_uri, email, password)
    assert isinstance(callback, Callback) and "code" in callback.params, callback.params
    form = {
        "client_id": emulator.seeded.client_id,
        "client_secret": emulator.client_secret,
        "grant_type": "authorization_code",
        "code": callback.params["code"],
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "client_info": "1",
    }
    response = trusted_session(emulator.ca_cert).post(emulator.token_url, data=form, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def api_msal(emulator: LiveEmulator, **options: Any) -> msal.ConfidentialClientApplication:
    """The mfa-app API as MSAL Python: a fresh http_cache, so no earlier 400 is replayed from memory."""
    assert emulator.seeded.api_client_secret is not None
    return msal.ConfidentialClientApplication(
        emulator.seeded.mfa_app_id,
        client_credential=emulator.seeded.api_client_secret,
        authority=emulator.tenant_url,
        instance_discovery=False,
        http_client=trusted_session(emulator.ca_cert),
        http_cache={},
        **options,
    )


def obo_request(
    emulator: LiveEmulator,
    assertion: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    **overrides: str,
) -> requests.Response:
    form = {
        "client_id": client_id or emulator.seeded.mfa_app_id,
        "client_secret": client_secret or emulator.seeded.api_client_secret,
        "grant_type": JWT_BEARER,
        "assertion": assertion,
        "requested_token_use": "on_behalf_of",
        "scope": f"{GRAPH_WRITE} openid profile offline_access",
        "client_info": "1",
        **overrides,
    }
    return trusted_session(emulator.ca_cert).post(emulator.token_url, data=form, timeout=10)


def assert_obo_error(response: requests.Response, error: str, code: int) -> dict:
    """Entra's error body, like every other token-endpoint error."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    assert "access_token" not in body and "refresh_token" not in body
    return body


def forged(emulator: LiveEmulator, assertion: str, **changes: Any) -> str:
    """The assertion's claims with ``changes``, signed with the tenant's real key: only the change is wrong."""
    claims = jwt.decode(assertion, options={"verify_signature": False})
    claims.update(changes)
    return sign(claims, emulator.app.extensions[EXTENSION_KEY].keys.active())


@pytest.fixture
def customer(emulator: LiveEmulator) -> tuple[str, str]:
    email = f"obo-{secrets.token_hex(4)}@contoso.example"
    return email, emulator.new_user(email)


@pytest.fixture
def assertion(emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]) -> str:
    return api_token(emulator, browser, *customer)["access_token"]


def test_msal_on_behalf_of_gets_a_graph_token_that_edits_the_profile(
    emulator: LiveEmulator, assertion: str, customer: tuple[str, str]
) -> None:
    emulator.control("POST", "stats/reset")
    api = api_msal(emulator)
    result = api.acquire_token_on_behalf_of(assertion, [GRAPH_WRITE])

    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert result["scope"].split()[0] == GRAPH_WRITE
    # MSAL asked for offline_access and openid: a refresh token and an ID token for the API.
    assert result["refresh_token"]
    assert result["id_token_claims"]["aud"] == emulator.seeded.mfa_app_id
    # MSAL keeps the answer under the user's account (client_info), so the API can go silent next time.
    (account,) = api.get_accounts()
    assert account["local_account_id"] == jwt.decode(assertion, options={"verify_signature": False})["oid"]
    cached = api.acquire_token_silent([GRAPH_WRITE], account=account)
    assert cached is not None and cached["token_source"] == "cache"
    # Graph's tokens stay opaque: not a JWT a client could read.
    with pytest.raises(jwt.DecodeError):
        jwt.decode(result["access_token"], options={"verify_signature": False})
    graph = trusted_session(emulator.ca_cert)
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    patched = graph.patch(f"{emulator.base_url}/v1.0/me", json={"jobTitle": "Pilot"}, headers=headers, timeout=10)
    assert patched.status_code == 204, patched.text
    me = graph.get(f"{emulator.base_url}/v1.0/me", headers=headers, timeout=10).json()
    assert me["mail"] == customer[0] and me["jobTitle"] == "Pilot"
    assert emulator.control("GET", "stats").json()["token"]["on_behalf_of"] == 1


def test_the_downstream_refresh_token_belongs_to_the_api(emulator: LiveEmulator, assertion: str) -> None:
    body = obo_request(emulator, assertion).json()
    form = {
        "client_id": emulator.seeded.mfa_app_id,
        "client_secret": emulator.seeded.api_client_secret,
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "scope": GRAPH_WRITE,
    }
    again = trusted_session(emulator.ca_cert).post(emulator.token_url, data=form, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == GRAPH_WRITE
    # Not the web app's: a refresh token is bound to the client it was issued to.
    form.update(client_id=emulator.seeded.client_id, client_secret=emulator.client_secret)
    stolen = trusted_session(emulator.ca_cert).post(emulator.token_url, data=form, timeout=10)
    assert_obo_error(stolen, "invalid_grant", 70000)


def test_a_bad_signature_is_aadsts50013(emulator: LiveEmulator, assertion: str) -> None:
    head, payload, signature = assertion.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0xFF
    tampered = f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    body = assert_obo_error(obo_request(emulator, tampered), "invalid_grant", 50013)
    assert "signature validation" in body["error_description"]


def test_alg_none_and_an_unknown_key_fail_the_signature_check(emulator: LiveEmulator, assertion: str) -> None:
    claims = jwt.decode(assertion, options={"verify_signature": False})
    unsigned = jwt.encode(claims, key="", algorithm="none")
    assert_obo_error(obo_request(emulator, unsigned), "invalid_grant", 50013)
    foreign = jwt.encode(claims, key=secrets.token_bytes(32), algorithm="HS256", headers={"kid": "x"})
    assert_obo_error(obo_request(emulator, foreign), "invalid_grant", 50013)


def test_what_is_not_a_jwt_is_aadsts50027(emulator: LiveEmulator) -> None:
    assert_obo_error(obo_request(emulator, "not-a-token"), "invalid_request", 50027)


def test_a_token_for_another_audience_is_refused(emulator: LiveEmulator, assertion: str) -> None:
    # Signed by the tenant and valid in every other way, but issued to the web app (an ID token's aud).
    other = forged(emulator, assertion, aud=emulator.seeded.client_id)
    body = assert_obo_error(obo_request(emulator, other), "invalid_grant", 50013)
    assert "Assertion audience does not match the Client app presenting the assertion" in body["error_description"]
    # A v1 token for the same API names it by its App ID URI and has the v1 issuer (access-token claims
    # reference); Entra accepts it for that API.
    tenant_id = emulator.seeded.tenant_id
    v1_form = forged(
        emulator, assertion, aud=f"api://{emulator.seeded.mfa_app_id}", iss=f"https://sts.windows.net/{tenant_id}/"
    )
    assert obo_request(emulator, v1_form).status_code == 200


def test_only_the_api_the_token_was_issued_to_may_exchange_it(emulator: LiveEmulator, assertion: str) -> None:
    """The web app holds the customer's API token too; it must not turn it into a Graph token."""
    response = obo_request(
        emulator, assertion, client_id=emulator.seeded.client_id, client_secret=emulator.client_secret
    )
    body = assert_obo_error(response, "invalid_grant", 50013)
    assert f"The audience in the assertion was '{emulator.seeded.mfa_app_id}'" in body["error_description"]


def test_an_expired_assertion_is_aadsts500133(emulator: LiveEmulator, assertion: str) -> None:
    now = int(time.time())
    # Just inside the five minutes of clock skew still works; past it the assertion is expired.
    assert obo_request(emulator, forged(emulator, assertion, exp=now - 200)).status_code == 200
    expired = forged(emulator, assertion, iat=now - 7200, nbf=now - 7200, exp=now - 600)
    body = assert_obo_error(obo_request(emulator, expired), "invalid_grant", 500133)
    assert "Assertion is not within its valid time range" in body["error_description"]


def test_a_token_of_another_tenant_is_refused(emulator: LiveEmulator, assertion: str) -> None:
    other_tenant = "11111111-2222-3333-4444-555555555555"
    foreign = forged(emulator, assertion, tid=other_tenant, iss=f"https://{other_tenant}.ciamlogin.localhost/x/v2.0")
    assert_obo_error(obo_request(emulator, foreign), "invalid_grant", 50013)


def test_an_app_only_token_cannot_be_exchanged(emulator: LiveEmulator, assertion: str) -> None:
    claims = jwt.decode(assertion, options={"verify_signature": False})
    del claims["scp"]
    app_only = sign(claims, emulator.app.extensions[EXTENSION_KEY].keys.active())
    assert_obo_error(obo_request(emulator, app_only), "invalid_grant", 50013)


def test_a_graph_permission_the_admin_did_not_grant_is_aadsts65001(emulator: LiveEmulator, assertion: str) -> None:
    """The API's grant on Graph is User.ReadWrite (plus sign-in scopes); User.ReadBasic.All was never consented."""
    result = api_msal(emulator).acquire_token_on_behalf_of(
        assertion, ["https://graph.microsoft.com/User.ReadBasic.All"]
    )
    assert result["error"] == "invalid_grant" and result["error_codes"] == [65001], result
    assert result["suberror"] == "consent_required"
    assert "access_token" not in result


def test_the_request_must_be_an_on_behalf_of_request(emulator: LiveEmulator, assertion: str) -> None:
    assert_obo_error(obo_request(emulator, assertion, requested_token_use=""), "invalid_request", 900144)
    assert_obo_error(obo_request(emulator, assertion, requested_token_use="other"), "invalid_request", 90100)
    assert_obo_error(obo_request(emulator, ""), "invalid_request", 900144)
    # And the API authenticates as itself, as in every other grant.
    wrong_secret = obo_request(emulator, assertion, client_secret="nope")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error_codes"] == [7000215]


def test_an_auth_context_the_session_has_not_satisfied_is_interaction_required_with_claims(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    """The API asks for its downstream token with the context its caller must satisfy; a session
    without MFA gets MSAL's interaction_required answer with the claims to send to /authorize."""
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})
    no_mfa_assertion = api_token(emulator, browser, *customer)["access_token"]
    api = api_msal(emulator)
    # No context asked for, no policy on Graph: the token is issued without MFA.
    assert "access_token" in api.acquire_token_on_behalf_of(no_mfa_assertion, [GRAPH_WRITE])

    refused = api_msal(emulator).acquire_token_on_behalf_of(no_mfa_assertion, [GRAPH_WRITE], claims_challenge=ACRS_C1)
    assert refused["error"] == "interaction_required" and refused["error_codes"] == [50076], refused
    assert json.loads(refused["claims"]) == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    assert "access_token" not in refused


def test_mfa_in_the_session_satisfies_the_context_on_the_downstream_token(
    emulator: LiveEmulator, assertion: str
) -> None:
    # The fixture's customer passed MFA for the mfa-app's policy in this SSO session.
    result = api_msal(emulator).acquire_token_on_behalf_of(assertion, [GRAPH_WRITE], claims_challenge=ACRS_C1)
    assert "access_token" in result, result


def test_a_policy_on_graph_applies_to_the_downstream_token(
    emulator: LiveEmulator, browser: ScriptedBrowser, customer: tuple[str, str]
) -> None:
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})
    no_mfa_assertion = api_token(emulator, browser, *customer)["access_token"]
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
        response = obo_request(emulator, no_mfa_assertion)
        body = assert_obo_error(response, "interaction_required", 50076)
        assert json.loads(body["claims"])["access_token"]["capolids"]["values"] == [policy["id"]]
    finally:
        admin.ok("DELETE", f"identity/conditionalAccess/policies/{policy['id']}")
    assert obo_request(emulator, no_mfa_assertion).status_code == 200


def test_overlapping_exchanges_of_one_assertion_all_succeed(emulator: LiveEmulator, assertion: str) -> None:
    """Several API instances (or requests) exchanging the same customer token at once, over HTTPS."""
    emulator.control("POST", "stats/reset")
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: obo_request(emulator, assertion), range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    assert len({answer.json()["refresh_token"] for answer in answers}) == 8
    assert emulator.control("GET", "stats").json()["token"]["on_behalf_of"] == 8
