"""Token endpoint: grants, client authentication and Entra's error answers, over real HTTPS."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import quote

import pytest
import requests

from .conftest import REDIRECT_URI, Callback, LiveEmulator, ScriptedBrowser, trusted_session

GRAPH_SCOPE = "User.Read openid profile offline_access"


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def obtain_code(
    emulator: LiveEmulator, browser: ScriptedBrowser, *, scope: str = GRAPH_SCOPE, challenge: str | None = None
) -> str:
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
        "nonce": "n0nce",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    auth_uri = requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url
    callback = browser.sign_in(auth_uri, emulator.seeded.demo_email, emulator.seeded.demo_password)
    assert isinstance(callback, Callback) and "code" in callback.params, callback.params
    return callback.params["code"]


def redeem(emulator: LiveEmulator, code: str, **overrides: str | None) -> requests.Response:
    body: dict[str, str | None] = {
        "client_id": emulator.seeded.client_id,
        "client_secret": emulator.client_secret,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "scope": GRAPH_SCOPE,
        "client_info": "1",
    }
    body.update(overrides)
    data = {key: value for key, value in body.items() if value is not None}
    return trusted_session(emulator.ca_cert).post(emulator.token_url, data=data, timeout=10)


def refresh(emulator: LiveEmulator, refresh_token: str, scope: str, **overrides: str) -> requests.Response:
    data = {
        "client_id": emulator.seeded.client_id,
        "client_secret": emulator.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": scope,
        "client_info": "1",
    }
    data.update(overrides)
    return trusted_session(emulator.ca_cert).post(emulator.token_url, data=data, timeout=10)


def assert_entra_error(response: requests.Response, status: int, error: str, code: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


def test_code_redemption_success_shape(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    response = redeem(emulator, obtain_code(emulator, browser))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token", "client_info", "expires_in", "ext_expires_in"} <= set(body)
    assert response.headers["Cache-Control"] == "no-store"


def test_wrong_client_secret(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    response = redeem(emulator, obtain_code(emulator, browser), client_secret="not-the-secret")
    assert_entra_error(response, 401, "invalid_client", 7000215)


def test_unknown_client(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    response = redeem(emulator, obtain_code(emulator, browser), client_id="11111111-2222-3333-4444-555555555555")
    assert_entra_error(response, 400, "unauthorized_client", 700016)


def test_expired_code(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    emulator.control("POST", "auth-codes/expire")
    assert_entra_error(redeem(emulator, code), 400, "invalid_grant", 70008)


def test_reused_code(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    assert redeem(emulator, code).status_code == 200
    assert_entra_error(redeem(emulator, code), 400, "invalid_grant", 54005)


def test_pkce_mismatch_then_the_right_verifier_still_works(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    verifier, challenge = _pkce_pair()
    code = obtain_code(emulator, browser, challenge=challenge)
    wrong_verifier = _pkce_pair()[0]
    assert_entra_error(redeem(emulator, code, code_verifier=wrong_verifier), 400, "invalid_grant", 501481)
    assert_entra_error(redeem(emulator, code), 400, "invalid_grant", 501481)  # missing verifier
    assert redeem(emulator, code, code_verifier=verifier).status_code == 200


def test_redirect_uri_differs_from_the_codes(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    response = redeem(emulator, code, redirect_uri="http://localhost:5000/other/redirect")
    assert_entra_error(response, 400, "invalid_grant", 50011)


def test_unsupported_scope(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    response = redeem(emulator, code, scope="Mail.Send openid offline_access")
    assert_entra_error(response, 400, "invalid_scope", 70011)
    unexposed = redeem(emulator, code, scope=f"api://{emulator.seeded.mfa_app_id}/Nope.Read openid")
    assert_entra_error(unexposed, 400, "invalid_scope", 70011)


def test_scopes_of_two_resources(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    scope = f"User.Read api://{emulator.seeded.mfa_app_id}/User.MFA openid offline_access"
    assert_entra_error(redeem(emulator, code, scope=scope), 400, "invalid_scope", 28000)


def test_unsupported_grant_and_missing_parameters(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    response = http.post(
        emulator.token_url,
        data={
            "grant_type": "password",
            "client_id": emulator.seeded.client_id,
            "client_secret": emulator.client_secret,
        },
        timeout=10,
    )
    assert_entra_error(response, 400, "unsupported_grant_type", 70003)
    missing = http.post(emulator.token_url, data={"client_id": emulator.seeded.client_id}, timeout=10)
    body = assert_entra_error(missing, 400, "invalid_request", 900144)
    assert "'grant_type'" in body["error_description"]
    no_code = redeem(emulator, "")
    assert "'code'" in assert_entra_error(no_code, 400, "invalid_request", 900144)["error_description"]


def test_client_secret_basic(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    code = obtain_code(emulator, browser)
    credentials = f"{quote(emulator.seeded.client_id, safe='')}:{quote(emulator.client_secret, safe='')}"
    header = "Basic " + base64.b64encode(credentials.encode()).decode()
    response = trusted_session(emulator.ca_cert).post(
        emulator.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "scope": GRAPH_SCOPE},
        headers={"Authorization": header},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_refresh_token_rotates_and_the_old_one_stays_valid(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    first = redeem(emulator, obtain_code(emulator, browser)).json()
    second = refresh(emulator, first["refresh_token"], GRAPH_SCOPE)
    assert second.status_code == 200, second.text
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    assert refresh(emulator, first["refresh_token"], GRAPH_SCOPE).status_code == 200
    assert refresh(emulator, rotated, GRAPH_SCOPE).status_code == 200


def test_revoked_refresh_tokens(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    email = f"revoke-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email)
    fresh_browser = ScriptedBrowser(emulator)
    auth = (
        requests.Request(
            "GET",
            f"{emulator.tenant_url}/oauth2/v2.0/authorize",
            params={
                "client_id": emulator.seeded.client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": GRAPH_SCOPE,
            },
        )
        .prepare()
        .url
    )
    code = fresh_browser.sign_in(auth, email, password).params["code"]
    tokens = redeem(emulator, code).json()
    emulator.control("POST", "refresh-tokens/revoke", {"email": email})
    assert_entra_error(refresh(emulator, tokens["refresh_token"], GRAPH_SCOPE), 400, "invalid_grant", 50173)


def test_refresh_for_the_mfa_api_needs_mfa_then_succeeds(emulator: LiveEmulator) -> None:
    email = f"mfa-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email)
    browser = ScriptedBrowser(emulator)
    app = emulator.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    first = app.acquire_token_by_auth_code_flow(flow, browser.sign_in(flow["auth_uri"], email, password).params)
    assert "access_token" in first, first
    account = app.get_accounts(username=email)[0]
    mfa_scope = f"api://{emulator.seeded.mfa_app_id}/User.MFA"

    challenge = app.acquire_token_silent_with_error([mfa_scope], account)
    assert challenge["error"] == "invalid_grant"
    assert challenge["error_codes"] == [50076]
    assert challenge["suberror"] == "basic_action" and challenge["classification"] == "basic_action"
    assert "capolids" in challenge["claims"]

    flow = app.initiate_auth_code_flow([mfa_scope], redirect_uri=REDIRECT_URI, claims_challenge=challenge["claims"])
    page = browser.open(flow["auth_uri"])  # SSO: no password, straight to MFA
    assert not isinstance(page, Callback) and page.url.split("?")[0].endswith("/login/mfa")
    page = browser.submit(page, "/login/mfa", {})
    assert not isinstance(page, Callback)
    wrong = browser.submit(page, "/login/mfa/code", {"code": "00000000", "action": "verify"})
    assert not isinstance(wrong, Callback) and wrong.error_text() == "That code is incorrect. Try again."
    callback = browser.pass_mfa(wrong, email)
    result = app.acquire_token_by_auth_code_flow(flow, callback.params)
    assert "access_token" in result, result
    import jwt

    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == emulator.seeded.mfa_app_id and claims["scp"] == "User.MFA"
    assert claims["azp"] == emulator.seeded.client_id and claims["ver"] == "2.0"
    # The session has done MFA now, so the earlier refresh token can also get the MFA token.
    silent = app.acquire_token_silent_with_error([mfa_scope], account, force_refresh=True)
    assert silent and "access_token" in silent, silent


def test_policy_off_means_no_mfa(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})
    tokens = redeem(emulator, obtain_code(emulator, browser)).json()
    scope = f"api://{emulator.seeded.mfa_app_id}/User.MFA openid offline_access"
    assert refresh(emulator, tokens["refresh_token"], scope).status_code == 200


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 429, "retry_after": 2}])
def test_token_faults(emulator: LiveEmulator, browser: ScriptedBrowser, fault: dict) -> None:
    tokens = redeem(emulator, obtain_code(emulator, browser)).json()
    emulator.control("POST", "token/faults", {"responses": [fault]})
    failed = refresh(emulator, tokens["refresh_token"], GRAPH_SCOPE)
    assert failed.status_code == fault["status"]
    if "retry_after" in fault:
        assert failed.headers["Retry-After"] == "2"
    assert refresh(emulator, tokens["refresh_token"], GRAPH_SCOPE).status_code == 200
