"""Graph /me, sign-up with an emailed code, test controls and misbehaviours (sign-out: test_sign_out.py)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from ciam_emulator import EmulatorSettings, create_app
from ciam_emulator.seed import seed

from .conftest import (
    REDIRECT_URI,
    Callback,
    GraphAdmin,
    LiveEmulator,
    Page,
    ScriptedBrowser,
    seeded_graph_grant,
    trusted_session,
)
from .test_token_endpoint import obtain_code, redeem


@contextmanager
def consent_also_to(emulator: LiveEmulator, *permissions: str) -> Iterator[None]:
    """Add Graph permissions to the web app's admin consent (through Graph admin), then put it back."""
    grant = seeded_graph_grant(emulator)
    admin = GraphAdmin(emulator)
    admin.call("PATCH", f"oauth2PermissionGrants/{grant['id']}", {"scope": f"{grant['scope']} {' '.join(permissions)}"})
    try:
        yield
    finally:
        admin.call("PATCH", f"oauth2PermissionGrants/{grant['id']}", {"scope": grant["scope"]})


def graph_token(emulator: LiveEmulator, browser: ScriptedBrowser, scope: str) -> dict:
    response = redeem(emulator, obtain_code(emulator, browser, scope=scope), scope=scope)
    assert response.status_code == 200, response.text
    return response.json()


def me(
    emulator: LiveEmulator, token: str | None, method: str = "GET", headers: dict | None = None, **kwargs
) -> requests.Response:
    headers = {"client-request-id": "3b1f8d2e-0000-4000-8000-000000000001", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return trusted_session(emulator.ca_cert).request(
        method, f"{emulator.base_url}/v1.0/me", headers=headers, timeout=10, **kwargs
    )


def assert_graph_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["innerError"]["request-id"] and error["innerError"]["date"]
    assert response.headers["client-request-id"] == "3b1f8d2e-0000-4000-8000-000000000001"
    return error


def test_graph_me_read_and_patch(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    email = f"graph-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email, display_name="Graph Person")
    person = ScriptedBrowser(emulator)
    scope = "User.ReadWrite openid profile offline_access"
    auth = _authorize_url(emulator, scope)
    code = person.sign_in(auth, email, password).params["code"]
    tokens = redeem(emulator, code, scope=scope).json()
    # Only the emulator can read its Graph tokens (clients cannot): open it with the emulator's own key.
    claims = emulator.app.extensions["ciam_emulator"].graph_token_key.open(tokens["access_token"])
    assert claims["aud"] == "00000003-0000-0000-c000-000000000000"
    assert claims["iss"] == f"https://sts.windows.net/{emulator.seeded.tenant_id}/"
    assert "User.ReadWrite" in claims["scp"].split() and claims["ver"] == "1.0"

    response = me(emulator, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["request-id"]
    body = response.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
    assert body["displayName"] == "Graph Person" and body["mail"] == email
    assert body["businessPhones"] == [] and body["jobTitle"] is None and "officeLocation" in body

    patched = me(emulator, tokens["access_token"], "PATCH", json={"displayName": "Renamed", "givenName": "Ren"})
    assert patched.status_code == 204 and patched.content == b""
    assert me(emulator, tokens["access_token"]).json()["displayName"] == "Renamed"
    assert emulator.control("GET", f"users/{email}").json()["givenName"] == "Ren"

    for bad_body in ({"displayName": ""}, {"displayName": "x" * 257}, {"shoeSize": 9}):
        assert_graph_error(me(emulator, tokens["access_token"], "PATCH", json=bad_body), 400, "Request_BadRequest")
    not_json = me(emulator, tokens["access_token"], "PATCH", data="{nope", headers={"Content-Type": "application/json"})
    assert_graph_error(not_json, 400, "Request_BadRequest")


def _authorize_url(emulator: LiveEmulator, scope: str, **extra: str) -> str:
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
        **extra,
    }
    return requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url


def test_graph_read_only_token_cannot_patch(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    tokens = graph_token(emulator, browser, "User.Read openid profile offline_access")
    error = assert_graph_error(
        me(emulator, tokens["access_token"], "PATCH", json={"displayName": "X"}), 403, "Authorization_RequestDenied"
    )
    assert error["message"] == "Insufficient privileges to complete the operation."


def test_graph_rejects_missing_tampered_and_expired_tokens(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    missing = me(emulator, None)
    assert_graph_error(missing, 401, "InvalidAuthenticationToken")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer ")

    tokens = graph_token(emulator, browser, "User.Read openid offline_access")
    token = tokens["access_token"]
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    assert_graph_error(me(emulator, tampered), 401, "InvalidAuthenticationToken")

    id_token = tokens["id_token"]  # signed by the tenant, but not a Graph token
    assert_graph_error(me(emulator, id_token), 401, "InvalidAuthenticationToken")

    sealing_key = emulator.app.extensions["ciam_emulator"].graph_token_key
    claims = sealing_key.open(token)
    claims.update(iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    error = assert_graph_error(me(emulator, sealing_key.seal(claims)), 401, "InvalidAuthenticationToken")
    assert "expired" in error["message"]


def test_graph_faults_then_normal(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    tokens = graph_token(emulator, browser, "User.Read openid offline_access")
    challenge = {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    emulator.control(
        "POST",
        "graph/faults",
        {"responses": [{"status": 429, "retry_after": 1}, {"status": 503}, {"status": 401, "claims": challenge}]},
    )
    throttled = me(emulator, tokens["access_token"])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert me(emulator, tokens["access_token"]).status_code == 503
    claims_challenge = me(emulator, tokens["access_token"])
    assert claims_challenge.status_code == 401
    header = claims_challenge.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in header
    encoded = header.split('claims="')[1].split('"')[0]
    assert json.loads(base64.b64decode(encoded)) == challenge
    assert me(emulator, tokens["access_token"]).status_code == 200


def field_errors(page: Page) -> dict[str, str]:
    """The message under each field, by the field's name."""
    return {
        tag["id"].removesuffix("-error"): tag.get_text(strip=True) for tag in page.soup.find_all(class_="field-error")
    }


def test_sign_up_with_emailed_code(emulator: LiveEmulator) -> None:
    browser = ScriptedBrowser(emulator)
    email = f"new-{secrets.token_hex(4)}@contoso.example"
    page = browser.open(_authorize_url(emulator, "openid profile offline_access User.Read"))
    assert isinstance(page, Page)
    link = page.soup.find("a", string="Create one")
    page = browser.open(requests.compat.urljoin(page.url, link["href"]))
    assert isinstance(page, Page) and "/login/signup" in page.url
    taken = browser.submit(page, "/login/signup", {"email": emulator.seeded.demo_email})
    assert isinstance(taken, Page) and "already exists" in (taken.error_text() or "")
    page = browser.submit(taken, "/login/signup", {"email": email})
    assert isinstance(page, Page) and "/login/signup/verify" in page.url
    fields = {"display_name": "New Person", "password": "Str0ng-Passw0rd!", "password_confirmation": "Str0ng-Passw0rd!"}
    wrong = browser.submit(page, "/login/signup/verify", {**fields, "code": "12345678", "action": "create"})
    assert isinstance(wrong, Page) and field_errors(wrong) == {"code": "That code is incorrect. Try again."}
    # Every problem at once, each on its field, and what was typed (the code too) is kept.
    weak = browser.submit(
        wrong,
        "/login/signup/verify",
        {"display_name": "", "password": "short", "password_confirmation": "short", "code": "1", "action": "create"},
    )
    assert isinstance(weak, Page)
    problems = field_errors(weak)
    assert set(problems) == {"display_name", "password"}
    assert "between 8 and 256" in problems["password"] and problems["display_name"] == "Display name is required."
    assert weak.soup.find("input", attrs={"name": "code"})["value"] == "1"
    code = emulator.latest_code(email, "signup")
    assert len(code) == 8 and code.isdigit()
    callback = browser.submit(weak, "/login/signup/verify", {**fields, "code": code, "action": "create"})
    assert isinstance(callback, Callback) and "code" in callback.params
    tokens = redeem(emulator, callback.params["code"]).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["name"] == "New Person" and claims["preferred_username"] == email


def test_outbox_page_and_json(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    page = http.get(f"{emulator.base_url}/_emulator/outbox", timeout=10)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    messages = http.get(f"{emulator.base_url}/_emulator/outbox.json", timeout=10).json()
    assert isinstance(messages, list)
    for message in messages:
        assert {"id", "to", "purpose", "code", "sent_at"} <= set(message)
    ids = [message["id"] for message in messages]
    assert ids == sorted(ids, reverse=True)


def test_stats_count_requests(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    emulator.control("POST", "stats/reset")
    tokens = graph_token(emulator, browser, "User.Read openid offline_access")
    me(emulator, tokens["access_token"])
    stats = emulator.control("GET", "stats").json()
    assert stats["token"]["authorization_code"] == 1
    assert stats["graph"]["GET /me"] == 1
    assert stats["authorize"] == 1
    assert set(stats) == {"token", "graph", "authorize", "discovery", "jwks", "logout"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _signature_valid(token: str, emulator: LiveEmulator) -> bool:
    keys = emulator.app.extensions["ciam_emulator"].keys
    key = keys.find_published(jwt.get_unverified_header(token).get("kid", ""))
    if key is None:
        return False
    try:
        jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return False
    return True


# case -> what must be true of the tampered ID token (claims, header, signature still valid?)
ID_TOKEN_CASES = {
    "alg_none": lambda claims, header, valid, expected: header["alg"] == "none" and not valid,
    "hs256_public_key": lambda claims, header, valid, expected: header["alg"] == "HS256" and not valid,
    "bad_signature": lambda claims, header, valid, expected: header["alg"] == "RS256" and not valid,
    "unknown_kid": lambda claims, header, valid, expected: not valid,
    "wrong_iss": lambda claims, header, valid, expected: valid and claims["iss"] != expected["iss"],
    "iss_on_authority_host": lambda claims, header, valid, expected: (
        valid and claims["iss"] == expected["authority_issuer"] != expected["iss"]
    ),
    "wrong_aud": lambda claims, header, valid, expected: valid and claims["aud"] != expected["aud"],
    "multi_aud_no_azp": lambda claims, header, valid, expected: (
        valid and claims["aud"][0] == expected["aud"] and len(claims["aud"]) == 2 and "azp" not in claims
    ),
    "expired": lambda claims, header, valid, expected: valid and claims["exp"] < time.time(),
    "nbf_future": lambda claims, header, valid, expected: valid and claims["nbf"] > time.time() + 600,
    "iat_future": lambda claims, header, valid, expected: valid and claims["iat"] > time.time() + 600,
    "missing_nonce": lambda claims, header, valid, expected: valid and "nonce" not in claims,
    "wrong_nonce": lambda claims, header, valid, expected: valid and claims["nonce"] != expected["nonce"],
    "wrong_tid": lambda claims, header, valid, expected: valid and claims["tid"] != expected["tid"],
    "typ_at_jwt": lambda claims, header, valid, expected: valid and header["typ"] == "at+jwt",
    "azp_other_client": lambda claims, header, valid, expected: (
        valid and claims["aud"] == expected["aud"] and claims["azp"] != expected["aud"]
    ),
    "exp_as_string": lambda claims, header, valid, expected: valid and isinstance(claims["exp"], str),
    "iat_as_string": lambda claims, header, valid, expected: valid and isinstance(claims["iat"], str),
    "nbf_as_boolean": lambda claims, header, valid, expected: valid and claims["nbf"] is True,
    "exp_far_future": lambda claims, header, valid, expected: valid and claims["exp"] == 10**13,
    "auth_time_far_future": lambda claims, header, valid, expected: valid and claims["auth_time"] == 10**13,
    "kid_absent": lambda claims, header, valid, expected: "kid" not in header and header["alg"] == "RS256",
    "kid_names_oct_key": lambda claims, header, valid, expected: not valid and header["kid"].startswith("foreign-"),
    "kid_names_ec_key": lambda claims, header, valid, expected: not valid and header["kid"].startswith("foreign-"),
    "kid_names_short_rsa_key": lambda claims, header, valid, expected: (
        not valid and header["kid"].startswith("foreign-")
    ),
}
FOREIGN_KEY_TYPES = {"kid_names_oct_key": "oct", "kid_names_ec_key": "EC", "kid_names_short_rsa_key": "RSA"}


@pytest.mark.parametrize("case", sorted(ID_TOKEN_CASES))
def test_id_token_misbehaviours_are_one_shot(emulator: LiveEmulator, browser: ScriptedBrowser, case: str) -> None:
    expected = {
        "iss": emulator.issuer,
        "aud": emulator.seeded.client_id,
        "nonce": "n0nce",
        "tid": emulator.seeded.tenant_id,
    }
    emulator.control("POST", "misbehave", {"case": case})
    bad = redeem(emulator, obtain_code(emulator, browser)).json()["id_token"]
    check = ID_TOKEN_CASES[case]
    # What an issuer derived from the authority would be: the authority's host, the issuer's path.
    facts = {**expected, "authority_issuer": f"{emulator.tenant_url}/v2.0"}
    assert check(_claims(bad), jwt.get_unverified_header(bad), _signature_valid(bad, emulator), facts)
    good = redeem(emulator, obtain_code(emulator, browser)).json()["id_token"]
    assert _signature_valid(good, emulator)
    assert {key: _claims(good)[key] for key in expected} == expected


@pytest.mark.parametrize("case", sorted(FOREIGN_KEY_TYPES))
def test_a_foreign_key_is_published_in_the_next_jwks_only(
    emulator: LiveEmulator, browser: ScriptedBrowser, case: str
) -> None:
    emulator.control("POST", "misbehave", {"case": case})
    bad = redeem(emulator, obtain_code(emulator, browser)).json()["id_token"]
    kid = jwt.get_unverified_header(bad)["kid"]
    http = trusted_session(emulator.ca_cert)
    keys = http.get(f"{emulator.tenant_url}/discovery/v2.0/keys", timeout=10).json()["keys"]
    assert [k["kty"] for k in keys if k["kid"] == kid] == [FOREIGN_KEY_TYPES[case]]
    again = http.get(f"{emulator.tenant_url}/discovery/v2.0/keys", timeout=10).json()["keys"]
    assert len(again) == 2 and all(k["kty"] == "RSA" for k in again)


@pytest.mark.parametrize(
    "case, field",
    [
        ("http_authorization_endpoint", "authorization_endpoint"),
        ("http_token_endpoint", "token_endpoint"),
        ("http_jwks_uri", "jwks_uri"),
        ("http_end_session_endpoint", "end_session_endpoint"),
    ],
)
def test_discovery_misbehaviours_are_one_shot(emulator: LiveEmulator, case: str, field: str) -> None:
    http = trusted_session(emulator.ca_cert)
    url = f"{emulator.tenant_url}/v2.0/.well-known/openid-configuration"
    emulator.control("POST", "misbehave", {"case": case})
    assert http.get(url, timeout=10).json()[field].startswith("http://")
    good = http.get(url, timeout=10).json()
    assert all(good[name].startswith("https://") for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"))


def test_discovery_can_name_another_tenants_issuer_once(emulator: LiveEmulator) -> None:
    http = trusted_session(emulator.ca_cert)
    url = f"{emulator.tenant_url}/v2.0/.well-known/openid-configuration"
    emulator.control("POST", "misbehave", {"case": "issuer_of_another_tenant"})
    assert emulator.seeded.tenant_id not in http.get(url, timeout=10).json()["issuer"]
    assert http.get(url, timeout=10).json()["issuer"] == emulator.issuer


@pytest.mark.parametrize(
    "case", ["wrong_state", "missing_state", "error_access_denied", "error_interaction_required", "error_server_error"]
)
def test_callback_misbehaviours(emulator: LiveEmulator, browser: ScriptedBrowser, case: str) -> None:
    obtain_code(emulator, browser)  # signed in, so the next authorize returns at once
    emulator.control("POST", "misbehave", {"case": case})
    callback = browser.open(_authorize_url(emulator, "openid User.Read", state="original"))
    assert isinstance(callback, Callback)
    if case == "wrong_state":
        assert callback.params["state"] != "original" and "code" in callback.params
    elif case == "missing_state":
        assert "state" not in callback.params and "code" in callback.params
    else:
        assert callback.params["error"] == case.removeprefix("error_") and callback.params["state"] == "original"
        assert "<script>alert(1)</script>" in callback.params["error_description"]


def test_key_rotation_keeps_both_keys_published(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    before = jwt.get_unverified_header(redeem(emulator, obtain_code(emulator, browser)).json()["id_token"])["kid"]
    rotated = emulator.control("POST", "keys/rotate").json()
    after = jwt.get_unverified_header(redeem(emulator, obtain_code(emulator, browser)).json()["id_token"])["kid"]
    assert after == rotated["active_kid"] != before
    assert {before, after} == set(rotated["published_kids"])


def test_controls_are_absent_unless_enabled(tmp_path: Path) -> None:
    seed(tmp_path)
    client = create_app(EmulatorSettings(instance_dir=tmp_path, base_url="https://127.0.0.1:8443")).test_client()
    assert client.get("/_emulator/control/stats").status_code == 404
    assert client.post("/_emulator/control/misbehave", json={"case": "alg_none"}).status_code == 404
    assert client.get("/_emulator/outbox.json").status_code == 200


def test_authorize_query_carries_client_info_for_msal(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    obtain_code(emulator, browser)
    callback = browser.open(_authorize_url(emulator, "openid User.Read", client_info="1"))
    assert isinstance(callback, Callback)
    parsed = parse_qs(urlsplit(callback.url).query)
    assert "client_info" in parsed and "code" in parsed
    without = browser.open(_authorize_url(emulator, "openid User.Read"))
    assert isinstance(without, Callback) and "client_info" not in without.params


def test_max_age_zero_forces_sign_in_and_prompt_create_opens_sign_up(
    emulator: LiveEmulator, browser: ScriptedBrowser
) -> None:
    obtain_code(emulator, browser)  # signed in
    page = browser.open(_authorize_url(emulator, "openid User.Read", max_age="0"))
    assert isinstance(page, Page) and "/login/signin" in page.url
    page = browser.open(_authorize_url(emulator, "openid User.Read", prompt="create"))
    assert isinstance(page, Page) and page.url.split("?")[0].endswith("/login/signup")


def test_id_token_claims_follow_the_oidc_scopes(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    scope = "openid email User.Read"
    with consent_also_to(emulator, "email"):  # the seeded grant has no email: customers cannot consent
        tokens = redeem(emulator, obtain_code(emulator, browser, scope=scope), scope=scope).json()
    claims = _claims(tokens["id_token"])
    assert claims["email"] == emulator.seeded.demo_email
    assert "name" not in claims and "preferred_username" not in claims
    assert "refresh_token" not in tokens  # no offline_access


def test_unpublished_signing_key(emulator: LiveEmulator, browser: ScriptedBrowser) -> None:
    emulator.control("POST", "keys/unpublished")
    try:
        token = redeem(emulator, obtain_code(emulator, browser)).json()["id_token"]
        assert not _signature_valid(token, emulator)
    finally:
        emulator.control("POST", "keys/rotate")


def test_hosted_page_post_from_another_browser_is_refused(emulator: LiveEmulator) -> None:
    victim, attacker = ScriptedBrowser(emulator), ScriptedBrowser(emulator)
    page = victim.open(_authorize_url(emulator, "openid User.Read"))
    assert isinstance(page, Page)
    request_id = page.form("/login/signin").find("input", attrs={"name": "req"})["value"]
    forged = attacker.http.post(
        page.url.split("?")[0],
        data={"req": request_id, "email": emulator.seeded.demo_email, "password": emulator.seeded.demo_password},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 400 and "AADSTS50089" in forged.text
    assert "ciam_emulator_sso" not in forged.cookies
