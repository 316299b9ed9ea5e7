"""ciam_core's TokenVerifier as the mfa-app API uses it: access-token types, its own audience and
claims, and refusals as TokenRejected (never the web app's errors)."""

import pytest

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import TokenRejected
from ciam_core.jwks import JwksCache
from ciam_core.jwt_verification import ACCESS_TOKEN_TYPES, TokenVerifier
from tests.unit.test_id_token import AUTHORITY, FakeTenant

API = "aaaaaaaa-1111-0000-0000-00000000000a"


@pytest.fixture()
def provider():
    return FakeTenant()


@pytest.fixture()
def verifier(provider):
    metadata = MetadataProvider(AUTHORITY, provider)
    return TokenVerifier(metadata=metadata, jwks=JwksCache(metadata, provider))


def _verify(verifier, token):
    return verifier.verify(
        token, audience=API, accepted_types=ACCESS_TOKEN_TYPES, required_claims=("scp",), kind="access token"
    )


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "application/at+jwt"])
def test_access_tokens_typed_jwt_or_at_jwt_are_accepted(verifier, provider, typ):
    assert _verify(verifier, provider.token(aud=API, scp="User.MFA", headers={"typ": typ}))["scp"] == "User.MFA"


def test_an_access_token_refusal_names_the_token_kind_and_the_reason(verifier, provider):
    with pytest.raises(TokenRejected, match="^access token audience"):
        _verify(verifier, provider.token(scp="User.MFA"))  # an ID token's audience, not the API's
    with pytest.raises(TokenRejected, match="^access token is invalid: .*scp"):
        _verify(verifier, provider.token(aud=API))
    with pytest.raises(TokenRejected, match="^access token header says typ 'id\\+jwt'"):
        _verify(verifier, provider.token(aud=API, scp="x", headers={"typ": "id+jwt"}))
