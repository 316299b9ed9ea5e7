"""`/profile` through the on-behalf-of grant, against the fake tenant: what reaches the token endpoint
and Graph, the per-assertion cache, and how each answer of the tenant and Graph becomes the API's."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from flask.testing import FlaskClient

from ciam_api.on_behalf_of import MemoryOboCacheStore, cache_lookup
from tests.api.conftest import FAKE_API_SECRET, bearer
from tests.api.fake_tenant import FakeTenant, graph_error


def test_patch_exchanges_the_callers_token_and_patches_graph_once(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    token = fake_tenant.token()
    response = client.patch("/profile", headers=bearer(token), json={"city": "  Paris ", "jobTitle": None})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"
    [exchange] = fake_tenant.recorded.token_requests
    assert exchange["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert exchange["requested_token_use"] == "on_behalf_of"
    assert exchange["assertion"] == token
    assert exchange["client_id"] == fake_tenant.api_client_id
    assert exchange["client_secret"] == FAKE_API_SECRET
    assert "User.ReadWrite" in exchange["scope"].split()
    [patch] = fake_tenant.recorded.graph_requests
    assert patch["method"] == "PATCH"
    assert patch["json"] == {"city": "Paris", "jobTitle": None}
    # Graph got the exchanged token, never the caller's.
    assert patch["authorization"].startswith("Bearer graph-token-")
    assert fake_tenant.profile["city"] == "Paris"


def test_a_second_edit_with_the_same_token_makes_no_token_call(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    token = fake_tenant.token()
    assert client.patch("/profile", headers=bearer(token), json={"city": "Paris"}).status_code == 204
    assert client.patch("/profile", headers=bearer(token), json={"city": "Lyon"}).status_code == 204
    assert client.get("/profile", headers=bearer(token)).get_json()["profile"]["city"] == "Lyon"
    assert len(fake_tenant.recorded.token_requests) == 1
    authorizations = {r["authorization"] for r in fake_tenant.recorded.graph_requests}
    assert len(fake_tenant.recorded.graph_requests) == 3 and len(authorizations) == 1


def test_another_token_is_exchanged_on_its_own(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Lyon"})
    assert len(fake_tenant.recorded.token_requests) == 2


def test_an_empty_change_calls_nothing(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert client.patch("/profile", headers=bearer(fake_tenant.token()), json={}).status_code == 204
    assert fake_tenant.recorded.token_requests == [] and fake_tenant.recorded.graph_requests == []


def test_get_profile_returns_graphs_names(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    response = client.get("/profile", headers=bearer(fake_tenant.token()))
    profile = response.get_json()["profile"]
    assert profile["id"] == fake_tenant.user_id and profile["mail"] == "ada@example.com"
    assert profile["displayName"] == "Ada" and profile["preferredLanguage"] == "en-GB"
    assert "@odata.context" not in profile
    [get] = fake_tenant.recorded.graph_requests
    assert "streetAddress" in get["args"]["$select"].split(",")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mail": "eve@example.com"}, "mail"),
        ({"city": 42}, "city"),
        ({"city": ["Paris"]}, "city"),
        ({"displayName": None}, "displayName"),
        ({"displayName": "   "}, "displayName"),
        ({"surname": "x" * 65}, "surname"),
        ({"givenName": "Ada\u202eecalevol"}, "givenName"),
        ({"city": "Par\nis"}, "city"),
        ({"preferredLanguage": "xx-XX"}, "preferredLanguage"),
    ],
)
def test_a_bad_property_is_refused_per_field_before_any_call(
    client: FlaskClient, fake_tenant: FakeTenant, body: dict[str, object], field: str
) -> None:
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "invalid_request" and answer["error_description"]
    assert list(answer["fields"]) == [field] and answer["fields"][field]
    assert fake_tenant.recorded.token_requests == [] and fake_tenant.recorded.graph_requests == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("[]", "application/json"),
        ('"Paris"', "application/json"),
        ("null", "application/json"),
        ("{not json", "application/json"),
        ("city=Paris", "application/x-www-form-urlencoded"),
        ('{"city": "Paris"}', "text/plain"),
    ],
)
def test_a_body_that_is_not_a_json_object(
    client: FlaskClient, fake_tenant: FakeTenant, data: str, content_type: str
) -> None:
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert fake_tenant.recorded.graph_requests == []


def test_a_body_over_64_kib(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    body = json.dumps({"city": "x" * (65 * 1024)})
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "request_too_large"}


def test_the_body_is_not_read_before_the_token_is_checked(client: FlaskClient) -> None:
    response = client.patch("/profile", data="{not json", content_type="application/json")
    assert response.status_code == 401


def test_graph_400_naming_a_property(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.graph_answers.append(
        (
            400,
            graph_error(400, "Request_BadRequest", "Invalid value specified for property 'city' of resource 'User'."),
            {},
        )
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris", "state": "IdF"})
    assert response.status_code == 400
    assert list(response.get_json()["fields"]) == ["city"]


def test_graph_403_becomes_forbidden_fields(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.graph_answers.append(
        (403, graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."), {})
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"jobTitle": "CEO"})
    assert response.status_code == 403
    answer = response.get_json()
    assert answer["error"] == "forbidden_fields" and list(answer["fields"]) == ["jobTitle"]
    assert "Job title" in answer["fields"]["jobTitle"]
    assert "WWW-Authenticate" not in response.headers


def test_graph_throttling_beyond_the_retry_budget_is_503(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    for _ in range(4):
        fake_tenant.graph_answers.append((429, graph_error(429, "TooManyRequests"), {"Retry-After": "1"}))
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 503
    assert response.get_json() == {"error": "temporarily_unavailable"}
    assert response.headers["Retry-After"] == "1"
    assert len(fake_tenant.recorded.graph_requests) == 4  # the first try and three bounded retries


def test_graph_throttling_within_the_budget_is_retried(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.graph_answers.append((429, graph_error(429, "TooManyRequests"), {"Retry-After": "1"}))
    assert client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"}).status_code == 204
    assert fake_tenant.profile["city"] == "Paris"


def test_a_graph_that_does_not_answer_in_time_is_503(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    client = make_api(HTTP_TIMEOUT="0.5").test_client()
    fake_tenant.graph_delay = 2.0
    started = time.monotonic()
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 503 and response.get_json() == {"error": "temporarily_unavailable"}
    # One read timeout, not retried: a PATCH that may have landed is not sent again blindly.
    assert time.monotonic() - started < 2.0
    assert len(fake_tenant.recorded.graph_requests) == 1


def test_interaction_required_becomes_a_claims_challenge(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    claims = '{"access_token":{"capolids":{"essential":true,"values":["9c4f0f2e"]}}}'
    fake_tenant.token_answers.append(
        (
            400,
            {
                "error": "interaction_required",
                "error_description": "AADSTS50076: Due to a configuration change made by your administrator...",
                "error_codes": [50076],
                "suberror": "basic_action",
                "claims": claims,
            },
        )
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "insufficient_claims"}
    challenge = response.headers["WWW-Authenticate"]
    authorize = f"{fake_tenant.authority}/oauth2/v2.0/authorize"
    encoded = base64.b64encode(claims.encode()).decode()
    assert challenge == (
        f'Bearer realm="", authorization_uri="{authorize}", error="insufficient_claims", claims="{encoded}"'
    )
    assert fake_tenant.recorded.graph_requests == []
    assert fake_tenant.profile["city"] == "London"


def test_a_refused_assertion_is_invalid_token(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.token_answers.append(
        (
            400,
            {
                "error": "invalid_grant",
                "error_description": "AADSTS50013: Assertion failed signature validation.",
                "error_codes": [50013],
            },
        )
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_missing_consent_is_a_loud_server_error(
    client: FlaskClient, fake_tenant: FakeTenant, caplog: pytest.LogCaptureFixture
) -> None:
    fake_tenant.token_answers.append(
        (
            400,
            {
                "error": "invalid_grant",
                "suberror": "consent_required",
                "error_codes": [65001],
                "error_description": "AADSTS65001: The user or administrator has not consented...",
            },
        )
    )
    with caplog.at_level(logging.ERROR, logger="ciam_api"):
        response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 500
    assert response.get_json() == {"error": "server_error"}
    assert any("DEPLOYMENT ERROR" in r.getMessage() and "consent" in r.getMessage() for r in caplog.records)


def test_a_refused_api_credential_is_a_server_error(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.token_answers.append(
        (
            401,
            {"error": "invalid_client", "error_codes": [7000215], "error_description": "AADSTS7000215: Invalid secret"},
        )
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 500 and response.get_json() == {"error": "server_error"}


def test_the_tenant_failing_is_503(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    fake_tenant.token_answers.append((503, {"error": "temporarily_unavailable"}))
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


def test_a_claims_challenge_from_graph_is_answered_with_a_new_exchange(
    client: FlaskClient, fake_tenant: FakeTenant
) -> None:
    claims = '{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}'
    header = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        f'error="insufficient_claims", claims="{base64.b64encode(claims.encode()).decode()}"'
    )
    fake_tenant.graph_answers.append(
        (401, graph_error(401, "InvalidAuthenticationToken"), {"WWW-Authenticate": header})
    )
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Paris"})
    assert response.status_code == 204
    first, second = fake_tenant.recorded.token_requests
    assert "claims" not in first
    assert json.loads(second["claims"]) == json.loads(claims)
    assert fake_tenant.profile["city"] == "Paris"


def test_no_token_in_a_cache_key_in_the_store_or_in_a_log(
    fake_tenant: FakeTenant,
    make_api,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    app = make_api()
    client = app.test_client()
    token = fake_tenant.token()
    with caplog.at_level(logging.DEBUG):
        assert client.patch("/profile", headers=bearer(token), json={"city": "Paris"}).status_code == 204
        fake_tenant.token_answers.append((400, {"error": "invalid_grant", "error_codes": [500133]}))
        client.patch("/profile", headers=bearer(fake_tenant.token()), json={"city": "Lyon"})
    graph_token = fake_tenant.recorded.graph_requests[0]["authorization"].removeprefix("Bearer ")
    store = app.extensions["ciam_api"].obo._store
    assert isinstance(store, MemoryOboCacheStore) and len(store) == 1
    [(lookup, (_, sealed))] = store._entries.items()
    assert lookup == cache_lookup(token)
    for secret in (token, graph_token, token.split(".")[2]):
        assert secret not in lookup
        assert secret.encode() not in sealed
        assert all(secret not in r.getMessage() and secret not in str(vars(r)) for r in caplog.records)


def test_the_memory_store_is_bounded_and_expires() -> None:
    now = [0.0]
    store = MemoryOboCacheStore(max_entries=2, clock=lambda: now[0])
    store.save("a", b"1", 10)
    store.save("b", b"2", 10)
    assert store.load("a") == b"1"  # a is now the most recently used
    store.save("c", b"3", 10)
    assert store.load("b") is None and store.load("a") == b"1" and store.load("c") == b"3"
    now[0] = 11
    assert store.load("a") is None and len(store) == 1
