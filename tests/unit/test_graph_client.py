import base64
import json

from ciam_core.graph import claims_from_challenge


def _challenge(claims: dict, encoder=base64.b64encode) -> str:
    encoded = encoder(json.dumps(claims).encode()).decode()
    return (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        f'error="insufficient_claims", claims="{encoded}"'
    )


def test_claims_challenge_is_decoded():
    claims = {"access_token": {"nbf": {"essential": True, "value": "1604106651"}}}
    assert json.loads(claims_from_challenge(_challenge(claims))) == claims


def test_url_safe_and_unpadded_claims_are_decoded():
    claims = {"access_token": {"acrs": {"essential": True, "value": "c1"}}, "pad": "??>>"}
    header = _challenge(claims, lambda b: base64.urlsafe_b64encode(b).rstrip(b"="))
    assert json.loads(claims_from_challenge(header)) == claims


def test_other_401s_are_not_challenges():
    assert claims_from_challenge('Bearer error="invalid_token"') is None
    assert claims_from_challenge("") is None
    assert claims_from_challenge('Basic realm="x"') is None
