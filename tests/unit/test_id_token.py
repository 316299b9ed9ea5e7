"""The ID token checks, one test per check, against locally generated keys and a fake fake_tenant."""

import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
    """Answers discovery and JWKS GETs, counting them. Tests change what it publishes: `discovery`
    (the document), `published` (which of its RSA keys), `extra_jwks` (any other JWK),
    `jwks_headers` (e.g. Cache-Control), `down` (every GET fails)."""

    def __init__(self, authority=AUTHORITY, issuer=ISSUER):
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
        self.published = {"k1"}
        self.extra_jwks = []
        self.jwks_headers = {}
        self.down = False
        self.gets = []
        self.discovery = {
            "issuer": issuer,
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "end_session_endpoint": f"{authority}/oauth2/v2.0/logout",
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
        }

    def get(self, url, **kwargs):
        self.gets.append(url)
        if self.down:
            raise requests.ConnectionError("tenant down")
        if url.endswith("openid-configuration"):
            return FakeResponse(dict(self.discovery))
        jwks = []
        for kid in sorted(self.published):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            jwks.append(dict(jwk, kid=kid, use="sig"))
        return FakeResponse({"keys": jwks + self.extra_jwks}, headers=self.jwks_headers)

    def jwks_fetches(self):
        return sum(url.endswith("/keys") for url in self.gets)

    def token(self, kid="k1", alg="RS256", key=None, headers=None, **overrides):
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
        header = {"kid": kid} if kid is not None else {}
        header.update(headers or {})
        return jwt.encode(claims, key or self.keys[kid or "k1"], algorithm=alg, headers=header)


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


# -- what a hostile provider could send (issue 13) ---------------------------------------------------


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "application/AT+JWT"])
def test_an_access_token_offered_as_an_id_token_is_refused(validator, fake_tenant, typ):
    with pytest.raises(IdTokenError, match="typ"):
        validator.validate(fake_tenant.token(headers={"typ": typ}), expected_nonce=NONCE)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
def test_an_id_token_typed_jwt_is_accepted(validator, fake_tenant, typ):
    assert validator.validate(fake_tenant.token(headers={"typ": typ}), expected_nonce=NONCE)["sub"] == "s"


def test_an_id_token_without_typ_is_accepted(validator, fake_tenant):
    token = jwt.api_jws.PyJWS().encode(
        json.dumps(jwt.decode(fake_tenant.token(), options={"verify_signature": False})).encode(),
        fake_tenant.keys["k1"],
        algorithm="RS256",
        headers={"kid": "k1", "typ": None},
    )
    assert "typ" not in jwt.get_unverified_header(token)
    assert validator.validate(token, expected_nonce=NONCE)["sub"] == "s"


def test_a_single_audience_with_azp_naming_another_client_is_refused(validator, fake_tenant):
    with pytest.raises(IdTokenError, match="azp"):
        validator.validate(fake_tenant.token(azp="another-client"), expected_nonce=NONCE)
    assert validator.validate(fake_tenant.token(azp=CLIENT), expected_nonce=NONCE)["sub"] == "s"


@pytest.mark.parametrize(
    "claim, value",
    [
        ("exp", str(int(time.time()) + 3600)),  # PyJWT alone would read it with int() and accept it
        ("iat", str(int(time.time()))),
        ("nbf", str(int(time.time()))),
        ("exp", True),
        ("iat", False),
        ("nbf", True),
        ("exp", float("inf")),  # Python's json writes and reads Infinity
        ("nbf", float("nan")),
        ("iat", -1),
        ("auth_time", "1700000000"),
    ],
)
def test_dates_that_are_not_json_numbers_are_refused(validator, fake_tenant, claim, value):
    with pytest.raises(IdTokenError, match=f"{claim} is not a"):
        validator.validate(fake_tenant.token(**{claim: value}), expected_nonce=NONCE)


def test_fractional_dates_are_json_numbers_too(validator, fake_tenant):
    now = time.time()
    claims = validator.validate(fake_tenant.token(iat=now, nbf=now, exp=now + 3600.5), expected_nonce=NONCE)
    assert claims["exp"] == pytest.approx(now + 3600.5)


@pytest.mark.parametrize("claim", ["exp", "auth_time"])
def test_dates_beyond_any_token_lifetime_are_refused(validator, fake_tenant, claim):
    """10^13 passes every lifetime check, then breaks every page that shows it as a date."""
    with pytest.raises(IdTokenError, match=claim):
        validator.validate(fake_tenant.token(**{claim: 10**13}), expected_nonce=NONCE)


def test_exp_longer_than_a_day_after_iat_is_refused(validator, fake_tenant):
    now = int(time.time())
    with pytest.raises(IdTokenError, match="exp"):
        validator.validate(fake_tenant.token(iat=now - 30 * 3600, nbf=now, exp=now + 60), expected_nonce=NONCE)
    assert validator.validate(fake_tenant.token(exp=now + 24 * 3600), expected_nonce=NONCE)


def test_a_past_auth_time_is_accepted(validator, fake_tenant):
    assert validator.validate(fake_tenant.token(auth_time=int(time.time()) - 86400 * 30), expected_nonce=NONCE)


def test_without_kid_the_only_key_of_the_jwks_is_used(validator, fake_tenant):
    """OpenID Foundation RP test rp-id_token-kid-absent-single-jwks."""
    assert validator.validate(fake_tenant.token(kid=None), expected_nonce=NONCE)["sub"] == "s"


def test_without_kid_several_keys_in_the_jwks_are_refused(validator, fake_tenant):
    """OpenID Foundation RP test rp-id_token-kid-absent-multiple-jwks."""
    fake_tenant.published.add("k2")
    with pytest.raises(IdTokenError, match="no kid"):
        validator.validate(fake_tenant.token(kid=None), expected_nonce=NONCE)


def test_without_kid_only_usable_keys_count(validator, fake_tenant):
    fake_tenant.extra_jwks.append({"kty": "oct", "kid": "h", "k": "c2VjcmV0"})
    assert validator.validate(fake_tenant.token(kid=None), expected_nonce=NONCE)["sub"] == "s"


def _ec_jwk(kid):
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "use": "sig",
        "x": jwt.utils.base64url_encode(numbers.x.to_bytes(32, "big")).decode(),
        "y": jwt.utils.base64url_encode(numbers.y.to_bytes(32, "big")).decode(),
    }


@pytest.mark.parametrize(
    "foreign",
    [
        {"kty": "oct", "kid": "k9", "use": "sig", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"},
        _ec_jwk("k9"),
        {"kty": "OKP", "kid": "k9", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "kid": "k9", "use": "enc", "n": "sXch", "e": "AQAB"},
    ],
    ids=["oct", "EC", "OKP", "RSA-enc"],
)
def test_a_kid_naming_a_key_that_is_not_an_rsa_signing_key_is_refused(validator, fake_tenant, foreign):
    fake_tenant.extra_jwks.append(foreign)
    with pytest.raises(IdTokenError, match="may not be used"):
        validator.validate(fake_tenant.token(kid="k9", key=fake_tenant.keys["k1"]), expected_nonce=NONCE)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing it, in the test
def test_a_kid_naming_an_rsa_key_under_2048_bits_is_refused(validator, fake_tenant):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point of the test
    fake_tenant.extra_jwks.append(dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key())), kid="weak"))
    with pytest.raises(IdTokenError, match="may not be used"):
        validator.validate(fake_tenant.token(kid="weak", key=weak), expected_nonce=NONCE)


def test_a_kid_naming_a_published_private_key_is_refused(validator, fake_tenant):
    leaked = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fake_tenant.keys["k2"]))
    fake_tenant.extra_jwks.append(dict(leaked, kid="leaked"))
    with pytest.raises(IdTokenError, match="private key"):
        validator.validate(fake_tenant.token(kid="leaked", key=fake_tenant.keys["k2"]), expected_nonce=NONCE)


def test_a_kid_listed_twice_is_refused(validator, fake_tenant):
    twin = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fake_tenant.keys["k2"].public_key()))
    fake_tenant.extra_jwks.append(dict(twin, kid="k1"))
    with pytest.raises(IdTokenError, match="more than once"):
        validator.validate(fake_tenant.token(), expected_nonce=NONCE)
