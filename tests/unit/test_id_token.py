"""The ID token checks, one test per check, against locally generated keys and a fake fake_tenant."""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ciam_webapp.identity import IdTokenError, IdTokenValidator, JwksCache, MetadataProvider

TENANT = "aaaaaaaa-0000-0000-0000-000000000001"
CLIENT = "cccccccc-0000-0000-0000-000000000002"
AUTHORITY = f"https://tenant.example/{TENANT}"
ISSUER = f"https://tenant.example/{TENANT}/v2.0"
NONCE = "n" * 64


class FakeResponse:
    def __init__(self, body, status=200, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}

    def json(self):
        return self._body


class FakeTenant:
    """Answers discovery and JWKS GETs, counting them."""

    def __init__(self):
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
        self.published = {"k1"}
        self.gets = []

    def get(self, url, **kwargs):
        self.gets.append(url)
        if url.endswith("openid-configuration"):
            return FakeResponse(
                {
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
                    "end_session_endpoint": f"{AUTHORITY}/oauth2/v2.0/logout",
                    "jwks_uri": f"{AUTHORITY}/discovery/v2.0/keys",
                }
            )
        jwks = []
        for kid in sorted(self.published):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            jwks.append(dict(jwk, kid=kid, use="sig"))
        return FakeResponse({"keys": jwks})

    def token(self, kid="k1", alg="RS256", key=None, **overrides):
        now = int(time.time())
        claims = {
            "aud": CLIENT,
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": "s",
            "oid": "o",
            "tid": TENANT,
            "nonce": NONCE,
            "ver": "2.0",
            "name": "Ada",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.keys[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture()
def fake_tenant():
    return FakeTenant()


@pytest.fixture()
def validator(fake_tenant):
    metadata = MetadataProvider(AUTHORITY, fake_tenant)
    return IdTokenValidator(metadata=metadata, jwks=JwksCache(metadata, fake_tenant), client_id=CLIENT)


def test_a_good_token_is_accepted(validator, fake_tenant):
    claims = validator.validate(fake_tenant.token(), expected_nonce=NONCE)
    assert claims["name"] == "Ada"


def test_tampered_signature_is_refused(validator, fake_tenant):
    header, payload, signature = fake_tenant.token().split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps(dict(jwt.decode(fake_tenant.token(), options={"verify_signature": False}), name="Eve")).encode()
    ).decode()
    with pytest.raises(IdTokenError, match="signature"):
        validator.validate(f"{header}.{forged_payload}.{signature}", expected_nonce=NONCE)


def test_unknown_kid_refetches_jwks_once_then_refuses(validator, fake_tenant):
    validator.validate(fake_tenant.token(), expected_nonce=NONCE)
    jwks_fetches = sum(url.endswith("/keys") for url in fake_tenant.gets)
    with pytest.raises(IdTokenError, match="unknown kid"):
        validator.validate(fake_tenant.token(kid="k2"), expected_nonce=NONCE)
    assert sum(url.endswith("/keys") for url in fake_tenant.gets) == jwks_fetches + 1
    with pytest.raises(IdTokenError, match="unknown kid"):
        validator.validate(fake_tenant.token(kid="k2"), expected_nonce=NONCE)
    assert sum(url.endswith("/keys") for url in fake_tenant.gets) == jwks_fetches + 1  # remembered, no refetch


def test_key_rollover_is_picked_up_by_one_refetch(fake_tenant):
    metadata = MetadataProvider(AUTHORITY, fake_tenant)
    validator = IdTokenValidator(metadata=metadata, jwks=JwksCache(metadata, fake_tenant), client_id=CLIENT)
    validator.validate(fake_tenant.token(), expected_nonce=NONCE)
    fake_tenant.published.add("k2")
    assert validator.validate(fake_tenant.token(kid="k2"), expected_nonce=NONCE)["sub"] == "s"
    assert sum(url.endswith("/keys") for url in fake_tenant.gets) == 2


def test_wrong_issuer_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="issuer"):
        validator.validate(fake_tenant.token(iss="https://evil.example/v2.0"), expected_nonce=NONCE)


def test_wrong_audience_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="audience"):
        validator.validate(fake_tenant.token(aud="someone-else"), expected_nonce=NONCE)


def test_several_audiences_need_azp(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="azp"):
        validator.validate(fake_tenant.token(aud=[CLIENT, "other"]), expected_nonce=NONCE)
    assert validator.validate(fake_tenant.token(aud=[CLIENT, "other"], azp=CLIENT), expected_nonce=NONCE)


def test_expired_token_is_refused(validator, fake_tenant):
    past = int(time.time()) - 7200
    with pytest.raises(IdTokenError, match="expired"):
        validator.validate(fake_tenant.token(iat=past, nbf=past, exp=past + 600), expected_nonce=NONCE)


def test_not_yet_valid_token_is_refused(validator, fake_tenant):
    future = int(time.time()) + 3600
    with pytest.raises(IdTokenError, match="not valid yet"):
        validator.validate(fake_tenant.token(nbf=future), expected_nonce=NONCE)


def test_iat_far_in_the_future_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="not valid yet"):
        validator.validate(fake_tenant.token(iat=int(time.time()) + 3600), expected_nonce=NONCE)


def test_wrong_nonce_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="nonce"):
        validator.validate(fake_tenant.token(nonce="other"), expected_nonce=NONCE)


def test_missing_nonce_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="nonce"):
        validator.validate(fake_tenant.token(nonce=None), expected_nonce=NONCE)


def test_wrong_tenant_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="tid"):
        validator.validate(fake_tenant.token(tid="bbbbbbbb-0000-0000-0000-000000000009"), expected_nonce=NONCE)


def test_alg_none_is_refused(validator, fake_tenant):
    unsigned = jwt.encode({"aud": CLIENT}, None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(IdTokenError, match="algorithm"):
        validator.validate(unsigned, expected_nonce=NONCE)


def test_hs256_signed_with_the_public_key_is_refused(validator, fake_tenant):
    pem = (
        fake_tenant.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps({"aud": CLIENT, "iss": ISSUER}).encode(), pem.decode()[:60], algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(IdTokenError, match="algorithm"):
        validator.validate(forged, expected_nonce=NONCE)


def test_garbage_is_refused(validator):
    with pytest.raises(IdTokenError, match="well-formed"):
        validator.validate("not-a-jwt", expected_nonce=NONCE)
