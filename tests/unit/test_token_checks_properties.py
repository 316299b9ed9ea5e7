"""Property tests of the shared checks: whatever a hostile provider puts in a JWKS, a token's header
or its claims, the answer is a key or a refusal (UntrustedKey, ProviderUnavailable; IdTokenError,
TenantUnavailable for the web app), never another exception (which the web app shows as a 500)."""

import json

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, UntrustedKey
from ciam_webapp.identity import IdTokenError, IdTokenValidator, JwksCache, TenantUnavailable
from tests.unit.test_id_token import AUTHORITY, CLIENT, NONCE, FakeResponse, FakeTenant

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
# Values where they hurt most: the fields a JWK or a JWT is read by.
JWK_FIELDS = ("kty", "kid", "use", "alg", "n", "e", "d", "k", "crv", "x", "y")
HEADER_FIELDS = ("alg", "typ", "kid", "crit", "cty")
CLAIM_FIELDS = ("iss", "aud", "exp", "nbf", "iat", "auth_time", "sub", "tid", "azp", "nonce")

PROVIDER = FakeTenant()  # RSA keys are slow to make: one provider for every example


def _rsa_jwk(kid):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(PROVIDER.keys["k1"].public_key()))
    return dict(jwk, kid=kid, use="sig")


class JwksAnswer(FakeTenant):
    """The provider's discovery, and a JWKS answer the test chooses."""

    def __init__(self, body):
        self.keys = PROVIDER.keys
        self.body = body
        self.gets = []
        self.down = False
        self.discovery = PROVIDER.discovery

    def get(self, url, **kwargs):
        if url.endswith("/keys"):
            self.gets.append(url)
            return FakeResponse(self.body)
        return super().get(url, **kwargs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(
        st.one_of(
            st.fixed_dictionaries({}, optional={name: JSON for name in JWK_FIELDS}),
            st.builds(
                lambda base, extra: {**base, **extra},
                st.just(_rsa_jwk("k1")),
                st.dictionaries(st.sampled_from(JWK_FIELDS), JSON),
            ),
            JSON,
        ),
        max_size=4,
    ),
    wrapper=st.sampled_from(["keys", "list", "other"]),
    kid=st.one_of(st.none(), st.sampled_from(["k1", "k2"]), st.text(max_size=4)),
)
def test_any_jwks_answer_gives_a_key_or_a_refusal(entries, wrapper, kid):
    body = {"keys": entries} if wrapper == "keys" else entries if wrapper == "list" else {"keys": {"k": entries}}
    provider = JwksAnswer(body)
    cache = JwksCache(MetadataProvider(AUTHORITY, provider), provider)
    try:
        key = cache.key_for(kid)
    except (UntrustedKey, ProviderUnavailable):
        return
    assert key.key.key_size >= 2048


def _signed(header, claims):
    def part(value):
        return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = PROVIDER.keys["k1"].sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{jwt.utils.base64url_encode(signature).decode()}"


VALIDATOR = IdTokenValidator(
    metadata=(metadata := MetadataProvider(AUTHORITY, PROVIDER)), jwks=JwksCache(metadata, PROVIDER), client_id=CLIENT
)


@settings(max_examples=400, deadline=None)
@given(
    header=st.dictionaries(st.sampled_from(HEADER_FIELDS), JSON, max_size=3),
    claims=st.dictionaries(st.sampled_from(CLAIM_FIELDS), JSON, max_size=4),
)
def test_any_header_or_claims_give_claims_or_a_refusal(header, claims):
    valid = jwt.decode(PROVIDER.token(), options={"verify_signature": False})
    token = _signed({"alg": "RS256", "kid": "k1", **header}, {**valid, **claims})
    try:
        VALIDATOR.validate(token, expected_nonce=NONCE)
    except (IdTokenError, TenantUnavailable):
        pass
