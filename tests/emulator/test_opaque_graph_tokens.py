"""Graph access tokens are opaque to clients; tokens for the tenant's own APIs stay verifiable JWTs."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import jwt
import pytest
import requests

from ciam_emulator.errors import TokenValidationError
from ciam_emulator.graph_tokens import SEALING_KEY_FILE_NAME, GraphTokenKey
from ciam_emulator.tokens import v2_issuer

from .conftest import LiveEmulator, ScriptedBrowser, trusted_session
from .test_token_endpoint import obtain_code, redeem, refresh

GRAPH_SCOPE = "User.Read openid profile offline_access"


def published_keys(emulator: LiveEmulator) -> list[jwt.PyJWK]:
    """The tenant's signing keys as a client finds them: discovery, then jwks_uri."""
    http = trusted_session(emulator.ca_cert)
    discovery = http.get(f"{emulator.tenant_url}/v2.0/.well-known/openid-configuration", timeout=10).json()
    return [jwt.PyJWK(key) for key in http.get(discovery["jwks_uri"], timeout=10).json()["keys"]]


def bearer_get(emulator: LiveEmulator, path: str, token: str) -> requests.Response:
    return trusted_session(emulator.ca_cert).get(
        f"{emulator.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_a_graph_token_cannot_be_read_or_verified_by_the_client(
    emulator: LiveEmulator, browser: ScriptedBrowser
) -> None:
    token = redeem(emulator, obtain_code(emulator, browser)).json()["access_token"]
    assert "." not in token
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(token)
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token, options={"verify_signature": False})
    for key in published_keys(emulator):
        with pytest.raises(jwt.PyJWTError):
            jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    with pytest.raises(ValueError):  # no JSON inside either (UnicodeDecodeError is a ValueError)
        json.loads(raw)
    assert emulator.seeded.demo_email.encode() not in raw

    # Graph itself still accepts it: /me and the userinfo endpoint Graph hosts.
    assert bearer_get(emulator, "/v1.0/me", token).status_code == 200
    userinfo = bearer_get(emulator, "/oidc/userinfo", token)
    assert userinfo.status_code == 200 and userinfo.json()["email"] == emulator.seeded.demo_email


def test_the_admins_graph_token_is_opaque_and_works_at_the_admin_endpoints(emulator: LiveEmulator) -> None:
    token = emulator.control("POST", "admin-token").json()["access_token"]
    assert "." not in token
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token, options={"verify_signature": False})
    assert bearer_get(emulator, "/v1.0/applications", token).status_code == 200


def test_a_readable_graph_token_signed_with_the_jwks_key_is_refused(
    emulator: LiveEmulator, browser: ScriptedBrowser
) -> None:
    # What the emulator used to issue: Graph's claims in a JWT signed by the published key.
    real = redeem(emulator, obtain_code(emulator, browser)).json()["access_token"]
    claims = emulator.app.extensions["ciam_emulator"].graph_token_key.open(real)
    keys = emulator.app.extensions["ciam_emulator"].keys
    readable = jwt.encode(claims, keys.active().private_key, algorithm="RS256", headers={"kid": keys.active().kid})
    refused = bearer_get(emulator, "/v1.0/me", readable)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_token_for_the_tenants_own_api_still_verifies_against_the_jwks(
    emulator: LiveEmulator, browser: ScriptedBrowser
) -> None:
    emulator.control("POST", "policy", {"require_mfa_for_mfa_app": False})  # the fixture turns it back on
    tokens = redeem(emulator, obtain_code(emulator, browser)).json()
    mfa_scope = f"api://{emulator.seeded.mfa_app_id}/User.MFA openid offline_access"
    api_token = refresh(emulator, tokens["refresh_token"], mfa_scope).json()["access_token"]
    header = jwt.get_unverified_header(api_token)
    (key,) = [key for key in published_keys(emulator) if key.key_id == header["kid"]]
    claims = jwt.decode(
        api_token,
        key.key,
        algorithms=["RS256"],
        audience=emulator.seeded.mfa_app_id,
        issuer=v2_issuer(emulator.seeded.tenant_id),  # the issuer's own host, not the tenant URL's
    )
    assert claims["scp"] == "User.MFA" and claims["ver"] == "2.0"


def test_the_sealing_key_is_private_created_once_and_nothing_else_opens_its_tokens(tmp_path: Path) -> None:
    first = GraphTokenKey.load_or_create(tmp_path)
    again = GraphTokenKey.load_or_create(tmp_path)  # another process on the same instance folder
    key_file = tmp_path / SEALING_KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.seal({"aud": "00000003-0000-0000-c000-000000000000", "exp": int(time.time()) + 60})
    assert again.open(token)["aud"] == "00000003-0000-0000-c000-000000000000"
    other = GraphTokenKey.load_or_create(tmp_path / "elsewhere")
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "not-a-token", ""):
        with pytest.raises(TokenValidationError):
            first.open(bad)
    with pytest.raises(TokenValidationError):
        other.open(token)
