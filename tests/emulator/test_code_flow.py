"""Discovery, keys and the authorization-code flow driven by MSAL Python itself."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from .conftest import REDIRECT_URI, Callback, LiveEmulator, Page, ScriptedBrowser, trusted_session


def _b64url_json(value: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_discovery_answers_for_guid_and_domain_tenant(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    tenant_id = emulator.seeded.tenant_id
    docs = [
        http.get(f"{emulator.base_url}/{segment}/v2.0/.well-known/openid-configuration", timeout=10).json()
        for segment in (tenant_id, "CONTOSO.onmicrosoft.com")
    ]
    assert docs[0] == docs[1]
    doc = docs[0]
    # security-tokens doc: the issuer's host is the tenant id's, not the host the tenant is served on.
    assert doc["issuer"] == f"https://{tenant_id}.ciamlogin.localhost/{tenant_id}/v2.0"
    assert urlsplit(doc["issuer"]).netloc != urlsplit(emulator.base_url).netloc
    assert doc["authorization_endpoint"] == f"{emulator.base_url}/{tenant_id}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{emulator.base_url}/{tenant_id}/oauth2/v2.0/token"
    assert doc["end_session_endpoint"] == f"{emulator.base_url}/{tenant_id}/oauth2/v2.0/logout"
    assert doc["jwks_uri"] == f"{emulator.base_url}/{tenant_id}/discovery/v2.0/keys"
    assert "form_post" in doc["response_modes_supported"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    assert doc["request_uri_parameter_supported"] is False


def test_unknown_tenant_is_an_entra_error(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    response = http.get(f"{emulator.base_url}/nobody.onmicrosoft.com/v2.0/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_jwks_publishes_two_rsa_keys(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    keys = http.get(f"{emulator.tenant_url}/discovery/v2.0/keys", timeout=10).json()["keys"]
    assert len(keys) == 2
    assert len({key["kid"] for key in keys}) == 2
    for key in keys:
        assert key["kty"] == "RSA" and key["use"] == "sig" and key["n"] and key["e"] == "AQAB"
        assert key["issuer"] == emulator.issuer


def _verify_with_jwks(emulator: LiveEmulator, token: str, audience: str, issuer: str) -> dict:
    http = trusted_session(emulator.ca_cert)
    jwks = http.get(f"{emulator.tenant_url}/discovery/v2.0/keys", timeout=10).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer)


def test_msal_code_flow_end_to_end(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    app = emulator.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, login_hint=emulator.seeded.demo_email)
    query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert query["code_challenge_method"] == ["S256"]

    first = browser.open(flow["auth_uri"])
    assert isinstance(first, Page) and "/login/signin" in first.url
    assert first.soup.find("input", id="email")["value"] == emulator.seeded.demo_email
    callback = browser.submit(
        first, "/login/signin", {"email": emulator.seeded.demo_email, "password": emulator.seeded.demo_password}
    )
    assert isinstance(callback, Callback) and callback.url.startswith(REDIRECT_URI)
    assert callback.params["state"] == flow["state"]
    assert _b64url_json(callback.params["client_info"])["utid"] == emulator.seeded.tenant_id

    result = app.acquire_token_by_auth_code_flow(flow, callback.params)
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    # MSAL itself checked the nonce (it sent sha256(nonce) and compares the echo).
    assert claims["nonce"] == query["nonce"][0]
    assert result["client_info"]
    assert set(result["scope"].split()) >= {"User.Read", "openid", "profile", "offline_access"}
    assert result["refresh_token"]

    verified = _verify_with_jwks(emulator, result["id_token"], emulator.seeded.client_id, emulator.issuer)
    assert verified["tid"] == emulator.seeded.tenant_id
    assert verified["preferred_username"] == emulator.seeded.demo_email
    assert verified["ver"] == "2.0" and verified["sid"]
    # Optional claims follow the registration: the seeded web app asks for login_hint only.
    assert verified["login_hint"] and "auth_time" not in verified
    header = jwt.get_unverified_header(result["id_token"])
    assert header["typ"] == "JWT" and header["alg"] == "RS256"

    account = app.get_accounts()[0]
    assert account["username"] == emulator.seeded.demo_email
    assert account["home_account_id"] == f"{verified['oid']}.{emulator.seeded.tenant_id}"

    graph = trusted_session(emulator.ca_cert).get(
        f"{emulator.base_url}/v1.0/me", headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=10
    )
    assert graph.status_code == 200
    assert graph.json()["id"] == verified["oid"]


def test_second_authorize_uses_sso_without_password(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    app = emulator.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    browser.sign_in(flow["auth_uri"], emulator.seeded.demo_email, emulator.seeded.demo_password)
    again = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    assert isinstance(browser.open(again["auth_uri"]), Callback)


def test_prompt_login_forces_the_password(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    app = emulator.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    browser.sign_in(flow["auth_uri"], emulator.seeded.demo_email, emulator.seeded.demo_password)
    forced = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, prompt="login", max_age=0)
    page = browser.open(forced["auth_uri"])
    assert isinstance(page, Page) and "/login/signin" in page.url
    callback = browser.sign_in(forced["auth_uri"], emulator.seeded.demo_email, emulator.seeded.demo_password)
    result = app.acquire_token_by_auth_code_flow(forced, callback.params)
    assert "access_token" in result, result
    assert "auth_time" in result["id_token_claims"]


def test_wrong_password_is_shown_inline_and_keeps_the_email(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    flow = emulator.msal_app().initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    again = browser.submit(page, "/login/signin", {"email": emulator.seeded.demo_email, "password": "wrong"})
    assert isinstance(again, Page) and again.status == 400
    assert again.error_text() == "Your password is incorrect."
    assert again.soup.find("input", id="email")["value"] == emulator.seeded.demo_email


def test_form_post_response_mode(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    app = emulator.msal_app()
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, response_mode="form_post")
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    email, password = emulator.seeded.demo_email, emulator.seeded.demo_password
    form = page.form("/login/signin")
    data = {field["name"]: field.get("value", "") for field in form.find_all("input") if field.get("name")}
    data.update(email=email, password=password)
    response = browser.http.post(f"{emulator.base_url}{form['action']}", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in response.text  # only the external script file
    callback = browser._follow(response)
    assert isinstance(callback, Callback) and callback.method == "POST"
    assert set(callback.params) >= {"code", "state", "client_info"}
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, callback.params)


def test_cancel_returns_access_denied_with_state(emulator: LiveEmulator) -> None:
    browser = ScriptedBrowser(emulator)  # no SSO cookie
    flow = emulator.msal_app().initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    page = browser.open(flow["auth_uri"])
    assert isinstance(page, Page)
    callback = browser.submit(page, "/login/cancel", {})
    assert isinstance(callback, Callback)
    assert callback.params["error"] == "access_denied"
    assert callback.params["state"] == flow["state"]
    assert callback.params["error_description"].startswith("AADSTS65004")


def test_prompt_none_without_session_is_login_required(emulator: LiveEmulator) -> None:
    browser = ScriptedBrowser(emulator)
    flow = emulator.msal_app().initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI, prompt="none")
    callback = browser.open(flow["auth_uri"])
    assert isinstance(callback, Callback)
    assert callback.params["error"] == "login_required"
    assert callback.params["state"] == flow["state"]


@pytest.mark.parametrize("scope", ["User.Read", "api://{mfa}/User.MFA"])
def test_unregistered_redirect_uri_is_an_error_page(emulator: LiveEmulator, scope: str) -> None:
    http = trusted_session(emulator.ca_cert)
    response = http.get(
        f"{emulator.tenant_url}/oauth2/v2.0/authorize",
        params={
            "client_id": emulator.seeded.client_id,
            "response_type": "code",
            "redirect_uri": "https://evil.example/callback",
            "scope": scope.format(mfa=emulator.seeded.mfa_app_id),
            "state": "s",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "AADSTS50011" in response.text


def test_unknown_client_is_an_error_page(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    response = http.get(
        f"{emulator.tenant_url}/oauth2/v2.0/authorize",
        params={
            "client_id": "11111111-2222-3333-4444-555555555555",
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "AADSTS700016" in response.text


def test_bad_scope_at_authorize_redirects_with_error_and_state(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    response = http.get(
        f"{emulator.tenant_url}/oauth2/v2.0/authorize",
        params={
            "client_id": emulator.seeded.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": f"openid User.Read api://{emulator.seeded.mfa_app_id}/User.MFA",
            "state": "keep-me",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    params = parse_qs(urlsplit(response.headers["Location"]).query)
    assert params["error"] == ["invalid_scope"]
    assert params["error_description"][0].startswith("AADSTS28000")
    assert params["state"] == ["keep-me"]


def test_repeated_wrong_passwords_lock_the_account_for_a_while(emulator: LiveEmulator) -> None:
    email = f"lock-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email)
    browser = ScriptedBrowser(emulator)
    page = browser.open(
        emulator.msal_app().initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)["auth_uri"]
    )
    for _ in range(10):
        assert isinstance(page, Page)
        page = browser.submit(page, "/login/signin", {"email": email, "password": "Wrong-Passw0rd!"})
    assert isinstance(page, Page) and page.error_text() == "Your password is incorrect."
    # Ten failures lock the account: even the right password is refused for now.
    page = browser.submit(page, "/login/signin", {"email": email, "password": password})
    assert isinstance(page, Page) and "locked" in (page.error_text() or "")


def test_token_endpoint_refuses_get(emulator: LiveEmulator) -> None:
    response = trusted_session(emulator.ca_cert).get(emulator.token_url, timeout=10)
    assert response.status_code == 400 and response.json()["error_codes"] == [900561]
