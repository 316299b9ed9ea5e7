"""The profile API client's reading of every answer the API contract names (no network: requests'
Response objects built here), and that each request carries the token and a timeout."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from ciam_webapp.outbound import OutboundSession
from ciam_webapp.profile_api import (
    ProfileApiBadRequest,
    ProfileApiClaimsChallenge,
    ProfileApiClient,
    ProfileApiError,
    ProfileApiForbiddenFields,
    ProfileApiInsufficientScope,
    ProfileApiInvalidToken,
    ProfileApiUnavailable,
    error_from,
)

INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope", scope="User.MFA"'


def _response(status: int, body: Any = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if not isinstance(body, str) else body).encode() if body is not None else b""
    response.headers.update(headers)
    return response


def test_a_claims_challenge_carries_the_decoded_claims():
    claims = {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    header = (
        'Bearer realm="", authorization_uri="https://t/authorize", error="insufficient_claims", '
        f'claims="{base64.b64encode(json.dumps(claims).encode()).decode()}"'
    )
    error = error_from(_response(401, {"error": "insufficient_claims"}, **{"WWW-Authenticate": header}))
    assert isinstance(error, ProfileApiClaimsChallenge) and json.loads(error.claims) == claims


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, ProfileApiInvalidToken),
        (401, None, {"WWW-Authenticate": "Bearer"}, ProfileApiInvalidToken),
        (403, None, {"WWW-Authenticate": INSUFFICIENT_SCOPE}, ProfileApiInsufficientScope),
        (503, {"error": "temporarily_unavailable"}, {"Retry-After": "5"}, ProfileApiUnavailable),
        (502, "<html>Bad gateway</html>", {}, ProfileApiUnavailable),
        (500, {"error": "server_error"}, {}, ProfileApiError),
        (413, None, {}, ProfileApiError),
    ],
)
def test_each_refusal_is_its_own_error(status, body, headers, kind):
    error = error_from(_response(status, body, **headers))
    assert type(error) is kind and error.status == status


def test_field_messages_come_through_for_400_and_403():
    bad = error_from(_response(400, {"error": "invalid_request", "error_description": "d", "fields": {"city": "m"}}))
    assert isinstance(bad, ProfileApiBadRequest) and bad.fields == {"city": "m"} and bad.description == "d"
    refused = error_from(_response(403, {"error": "forbidden_fields", "fields": {"jobTitle": "no"}}))
    assert isinstance(refused, ProfileApiForbiddenFields) and refused.fields == {"jobTitle": "no"}
    odd = error_from(_response(400, {"error": "invalid_request", "fields": ["not", "a", "map"]}))
    assert isinstance(odd, ProfileApiBadRequest) and odd.fields == {}


def test_the_patch_carries_the_token_only_the_changes_and_a_timeout(monkeypatch):
    sent: dict[str, Any] = {}

    def fake_send(self, request, **kwargs):
        sent.update(method=request.method, url=request.url, body=request.body, headers=request.headers, **kwargs)
        return _response(204)

    monkeypatch.setattr(requests.Session, "send", fake_send)
    client = ProfileApiClient("https://api.example/", OutboundSession(timeout=4.0))
    client.update_profile("the-token", {"city": "York", "jobTitle": None})
    assert (sent["method"], sent["url"]) == ("PATCH", "https://api.example/profile")
    assert sent["headers"]["Authorization"] == "Bearer the-token"
    assert json.loads(sent["body"]) == {"city": "York", "jobTitle": None}
    assert sent["timeout"] == 4.0


def test_no_answer_is_unavailable(monkeypatch):
    def refuse(self, request, **kwargs):
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests.Session, "send", refuse)
    with pytest.raises(ProfileApiUnavailable):
        ProfileApiClient("http://localhost:1", OutboundSession(timeout=1.0)).update_profile("t", {"city": "x"})
