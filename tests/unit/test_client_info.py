"""client_info (Entra's uid/utid for the account MSAL caches) must name the ID token's user."""

import base64
import json

import pytest

from ciam_webapp.identity import SignInError
from ciam_webapp.identity.client import _home_account_id

OID = "0b7e4bd1-58f5-4b51-9f1d-6a0f3bd9e3b1"
TID = "5d1e0b87-0a44-4f0e-a5d8-8c0c4b4e4c11"
CLAIMS = {"sub": "pairwise", "oid": OID, "tid": TID}


def client_info(**values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=").decode()


def test_client_info_of_the_id_tokens_user_keys_the_account():
    result = {"client_info": client_info(uid=OID.upper(), utid=TID)}
    assert _home_account_id(result, CLAIMS, is_entra=True) == f"{OID.upper()}.{TID}"


@pytest.mark.parametrize(
    "info",
    [
        {"uid": "11111111-2222-4333-8444-555555555555", "utid": TID},  # another user
        {"uid": OID, "utid": "11111111-2222-4333-8444-555555555555"},  # another tenant
        {"uid": OID},  # no tenant
        {"uid": 7, "utid": TID},
    ],
)
def test_client_info_naming_someone_else_is_refused(info):
    with pytest.raises(SignInError, match="client_info"):
        _home_account_id({"client_info": client_info(**info)}, CLAIMS, is_entra=True)


def test_an_id_token_without_oid_cannot_be_matched_and_is_refused():
    with pytest.raises(SignInError, match="another user"):
        _home_account_id({"client_info": client_info(uid=OID, utid=TID)}, {"sub": "x", "tid": TID}, is_entra=True)


def test_without_client_info_the_account_is_keyed_on_sub():
    assert _home_account_id({}, CLAIMS, is_entra=True) == "pairwise"


def test_a_generic_provider_has_no_oid_to_match():
    info = client_info(uid="ada", utid="example")
    assert _home_account_id({"client_info": info}, {"sub": "ada"}, is_entra=False) == "ada.example"
