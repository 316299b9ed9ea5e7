"""Every refusal the issue lists, with forged tokens against a fake tenant whose key we hold.

Each test changes one thing in an otherwise valid token, so each fails if that one check is removed.
The answer never says which check failed: 401 `invalid_token` or 403 `insufficient_scope`, with the
same body for every reason (the reason is in the log only).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from tests.api.conftest import bearer
from tests.api.fake_tenant import GRAPH_APP_ID, FakeTenant, b64url

INVALID_TOKEN = 'Bearer error="invalid_token"'


def assert_invalid_token(response, caplog: pytest.LogCaptureFixture | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN
    assert response.get_json() == {"error": "invalid_token"}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_valid_token_is_accepted(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    response = client.get("/profile", headers=bearer(fake_tenant.token()))
    assert response.status_code == 200
    assert response.get_json()["profile"]["id"] == fake_tenant.user_id


def test_no_token(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    response = client.get("/profile")
    assert response.status_code == 401
    # RFC 6750 §3.1: no error code when the request carried no credentials.
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert fake_tenant.recorded.graph_requests == []


def test_another_authentication_scheme_counts_as_no_token(client: FlaskClient) -> None:
    response = client.get("/profile", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "credential",
    ["Bearer", "Bearer ", "Bearer not-a-jwt", "Bearer a.b", "Bearer a.b.c", "Bearer !!.??.**", "Bearer a b c"],
)
def test_a_malformed_token(client: FlaskClient, credential: str) -> None:
    assert_invalid_token(client.get("/profile", headers={"Authorization": credential}))


def test_alg_none(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": fake_tenant.kid}).encode())
    payload = b64url(json.dumps(fake_tenant.claims()).encode())
    assert_invalid_token(client.get("/profile", headers=bearer(f"{header}.{payload}.")))


def test_hs256_keyed_with_the_public_key(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    public_pem = fake_tenant.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": fake_tenant.kid}).encode())
        + "."
        + b64url(json.dumps(fake_tenant.claims()).encode())
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_invalid_token(client.get("/profile", headers=bearer(f"{signing_input}.{b64url(mac)}")))


def test_a_bad_signature(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    # Same kid, someone else's key.
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(key=other_key))))


def test_a_tampered_payload(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    header, _, signature = fake_tenant.token().split(".")
    payload = b64url(json.dumps(fake_tenant.claims(scp="User.MFA User.ReadWrite.All")).encode())
    assert_invalid_token(client.get("/profile", headers=bearer(f"{header}.{payload}.{signature}")))


def test_an_unknown_kid(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(kid="not-published"))))


def test_a_token_for_graph(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    # What a client holds for Graph: a v1 token for Graph's app id (entra-notes §6, §12).
    token = fake_tenant.token(
        aud=GRAPH_APP_ID,
        iss=f"https://sts.windows.net/{fake_tenant.tenant_id}/",
        ver="1.0",
        azp=None,
        appid=fake_tenant.web_client_id,
        scp="User.Read User.ReadWrite",
    )
    assert_invalid_token(client.get("/profile", headers=bearer(token)))


def test_a_v2_token_for_graph_audience(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(aud=GRAPH_APP_ID))))


def test_a_token_for_another_api(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(aud=str(uuid.uuid4())))))


def test_a_token_for_this_api_and_another(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    token = fake_tenant.token(aud=[fake_tenant.api_client_id, str(uuid.uuid4())])
    assert_invalid_token(client.get("/profile", headers=bearer(token)))


def test_the_app_id_uri_as_audience_is_a_v1_habit_and_refused(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    # v2 tokens carry the client id; `api://...` would be a v1 token's audience.
    token = fake_tenant.token(aud=f"api://{fake_tenant.api_client_id}")
    assert_invalid_token(client.get("/profile", headers=bearer(token)))


def test_the_wrong_tenant(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(tid=str(uuid.uuid4())))))


def test_the_wrong_issuer(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    # The issuer derived from the authority's host is not the tenant's (entra-notes §12).
    token = fake_tenant.token(iss=f"{fake_tenant.base_url}/{fake_tenant.tenant_id}/v2.0")
    assert_invalid_token(client.get("/profile", headers=bearer(token)))


def test_an_expired_token(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    now = int(time.time())
    token = fake_tenant.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    assert_invalid_token(client.get("/profile", headers=bearer(token)))


def test_expired_just_beyond_the_leeway(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    client = make_api(TOKEN_LEEWAY="30").test_client()
    now = int(time.time())
    within = fake_tenant.token(iat=now - 3600, nbf=now - 3600, exp=now - 20)
    beyond = fake_tenant.token(iat=now - 3600, nbf=now - 3600, exp=now - 40)
    assert client.get("/profile", headers=bearer(within)).status_code == 200
    assert_invalid_token(client.get("/profile", headers=bearer(beyond)))


def test_a_token_not_valid_yet(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    now = int(time.time())
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(nbf=now + 3600))))


def test_a_v1_token_for_this_api(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(ver="1.0"))))


@pytest.mark.parametrize("claim", ["tid", "ver", "azp", "oid", "exp", "nbf", "iss", "aud"])
def test_a_required_claim_missing(client: FlaskClient, fake_tenant: FakeTenant, claim: str) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(**{claim: None}))))


def test_an_unknown_client_app(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert_invalid_token(client.get("/profile", headers=bearer(fake_tenant.token(azp=str(uuid.uuid4())))))


@pytest.mark.parametrize("scp", ["User.Read", "User.MFA.Extra", "user.mfa", None])
def test_no_user_mfa_in_scp(client: FlaskClient, fake_tenant: FakeTenant, scp: str | None) -> None:
    response = client.get("/profile", headers=bearer(fake_tenant.token(scp=scp)))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="User.MFA"'
    assert response.get_json() == {"error": "insufficient_scope"}


def test_user_mfa_among_other_scopes_is_enough(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    response = client.get("/profile", headers=bearer(fake_tenant.token(scp="User.Read User.MFA")))
    assert response.status_code == 200


def test_refusals_never_reach_graph_or_the_token_endpoint(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    for token in (fake_tenant.token(tid=str(uuid.uuid4())), fake_tenant.token(scp="User.Read")):
        client.patch("/profile", headers=bearer(token), json={"city": "Paris"})
    assert fake_tenant.recorded.token_requests == []
    assert fake_tenant.recorded.graph_requests == []


def test_the_answer_does_not_say_which_check_failed_but_the_log_does(
    client: FlaskClient, fake_tenant: FakeTenant, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    tokens = [
        fake_tenant.token(tid=str(uuid.uuid4())),
        fake_tenant.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        fake_tenant.token(azp=str(uuid.uuid4())),
        fake_tenant.token(aud=str(uuid.uuid4())),
    ]
    with caplog.at_level(logging.INFO, logger="ciam_api"):
        answers = [client.get("/profile", headers=bearer(t)) for t in tokens]
    assert {(a.status_code, a.headers["WWW-Authenticate"], a.get_data()) for a in answers} == {
        (401, INVALID_TOKEN, answers[0].get_data())
    }
    reasons = [r.reason for r in caplog.records if getattr(r, "reason", None)]  # type: ignore[attr-defined]
    assert any("tid" in r for r in reasons) and any("expired" in r for r in reasons)
    assert any("azp" in r for r in reasons) and any("audience" in r for r in reasons)
    for token in tokens:
        assert all(token not in record.getMessage() and token not in str(vars(record)) for record in caplog.records)


def test_claims_from_json_not_base64_tricks(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    # A header that is valid base64 but not a JSON object.
    header = base64.urlsafe_b64encode(b'["RS256"]').decode().rstrip("=")
    _, payload, signature = fake_tenant.token().split(".")
    assert_invalid_token(client.get("/profile", headers=bearer(f"{header}.{payload}.{signature}")))
