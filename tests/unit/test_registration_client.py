"""The registration tool's Graph client, token helpers and .env writer, with fake HTTP."""

from __future__ import annotations

import stat
from typing import Any

import pytest
import requests

from ciam_registration import admin_token
from ciam_registration.env_file import read_env_values, update_env_file
from ciam_registration.errors import (
    AdminSignInError,
    GraphPermissionError,
    GraphThrottledError,
    GraphUnavailableError,
)
from ciam_registration.graph_client import GraphClient

TOKEN = "eyJ.fake-admin-token.sig"


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else requests.compat.json.dumps(body).encode()
    response.headers.update(headers or {})
    response.reason = "reason"
    return response


class FakeSession:
    def __init__(self, *responses: requests.Response) -> None:
        self.responses = list(responses)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        return self.responses.pop(0)


def _client(session: FakeSession, sleeps: list[float] | None = None) -> GraphClient:
    return GraphClient(
        TOKEN,
        base_url="https://graph.example/v1.0/",
        ca_bundle="/etc/local-ca.pem",
        timeout=(1, 2),
        session=session,  # type: ignore[arg-type]
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )


def test_every_call_has_a_timeout_the_ca_bundle_and_the_bearer_token():
    session = FakeSession(
        _response(200, {"value": [{"id": "1"}], "@odata.nextLink": "https://graph.example/v1.0/next"}),
        _response(200, {"value": [{"id": "2"}]}),
    )
    items = _client(session).list("applications", permission="P", odata_filter="displayName eq 'x'")
    assert [item["id"] for item in items] == ["1", "2"]
    first, second = session.calls
    assert first["url"] == "https://graph.example/v1.0/applications"
    assert first["params"] == {"$filter": "displayName eq 'x'"}
    assert second["url"] == "https://graph.example/v1.0/next"
    for call in session.calls:
        assert call["timeout"] == (1, 2) and call["verify"] == "/etc/local-ca.pem"
        assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(_client(session))


def test_403_names_the_missing_permission_and_keeps_graphs_details():
    body = {
        "error": {
            "code": "Authorization_RequestDenied",
            "message": "Insufficient privileges to complete the operation.",
            "innerError": {"request-id": "req-1"},
        }
    }
    with pytest.raises(GraphPermissionError) as raised:
        _client(FakeSession(_response(403, body))).post("applications", {}, permission="Application.ReadWrite.All")
    message = str(raised.value)
    assert "The signed-in admin lacks Application.ReadWrite.All" in message
    assert "Authorization_RequestDenied" in message and "req-1" in message
    assert raised.value.status == 403 and raised.value.request_id == "req-1"
    assert TOKEN not in message


def test_429_is_retried_after_retry_after_then_reported():
    sleeps: list[float] = []
    throttled = _response(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "2"})
    session = FakeSession(throttled, _response(200, {"ok": True}))
    assert _client(session, sleeps).get("me", permission="P") == {"ok": True}
    assert sleeps == [2.0]
    session = FakeSession(throttled, throttled, throttled)
    with pytest.raises(GraphThrottledError):
        _client(session, []).get("me", permission="P")
    assert len(session.calls) == 3


def test_a_post_that_got_a_5xx_is_not_repeated():
    session = FakeSession(_response(503, {"error": {"code": "ServiceUnavailable", "message": "later"}}))
    with pytest.raises(GraphUnavailableError):
        _client(session).post("applications", {"displayName": "x"}, permission="P")
    assert len(session.calls) == 1


def test_no_connection_is_a_typed_error():
    class Down(FakeSession):
        def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
            raise requests.ConnectionError("refused")

    with pytest.raises(GraphUnavailableError, match="could not be reached"):
        _client(Down()).get("applications", permission="P")


def test_env_file_sets_our_keys_and_keeps_the_rest(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# comment\nSECRET_KEY=abc\nCLIENT_ID=old\nCLIENT_ID=older-duplicate\nexport OTHER=1\n")
    update_env_file(path, {"CLIENT_ID": "new", "CLIENT_SECRET": "a~b.c-d_e", "REDIRECT_URI": "http://x/a b"})
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# comment", "SECRET_KEY=abc"] and "export OTHER=1" in lines
    assert read_env_values(path) == {
        "SECRET_KEY": "abc",
        "CLIENT_ID": "new",
        "OTHER": "1",
        "CLIENT_SECRET": "a~b.c-d_e",
        "REDIRECT_URI": "http://x/a b",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_env_values(path)["REDIRECT_URI"] == "http://x/a b"


def test_token_from_environment():
    assert admin_token.token_from_environment("T", {"T": " tok "}) == "tok"
    with pytest.raises(AdminSignInError, match="T is empty"):
        admin_token.token_from_environment("T", {})


class FakePublicClient:
    def __init__(self, flow: dict[str, Any], result: dict[str, Any]) -> None:
        self.flow, self.result = flow, result
        self.built_with: dict[str, Any] = {}
        self.scopes: list[str] = []

    def __call__(self, client_id: str, **kwargs: Any) -> FakePublicClient:
        self.built_with = {"client_id": client_id, **kwargs}
        return self

    def initiate_device_flow(self, scopes: list[str]) -> dict[str, Any]:
        self.scopes = scopes
        return self.flow

    def acquire_token_by_device_flow(self, flow: dict[str, Any]) -> dict[str, Any]:
        return self.result


def test_device_code_shows_the_message_and_returns_the_token():
    fake = FakePublicClient(
        {"user_code": "ABC", "message": "Go to https://login.example and enter ABC"}, {"access_token": "tok"}
    )
    shown: list[str] = []
    token = admin_token.token_by_device_code(
        authority=admin_token.ciam_authority("contoso"),
        show=shown.append,
        application_factory=fake,
        ca_bundle="/ca.pem",
    )
    assert token == "tok" and shown == ["Go to https://login.example and enter ABC"]
    assert fake.built_with["client_id"] == admin_token.GRAPH_COMMAND_LINE_TOOLS_CLIENT_ID
    assert fake.built_with["authority"] == "https://contoso.ciamlogin.com/"
    assert set(fake.scopes) == {
        "https://graph.microsoft.com/Application.ReadWrite.All",
        "https://graph.microsoft.com/DelegatedPermissionGrant.ReadWrite.All",
        "https://graph.microsoft.com/Policy.Read.All",
        "https://graph.microsoft.com/Policy.ReadWrite.ConditionalAccess",
        "https://graph.microsoft.com/EventListener.ReadWrite.All",
        "https://graph.microsoft.com/IdentityUserFlow.ReadWrite.All",
        "https://graph.microsoft.com/Policy.ReadWrite.AuthenticationMethod",
    }


def test_device_code_failures_are_typed():
    refused = FakePublicClient({"error": "invalid_client", "error_description": "AADSTS700016: not found"}, {})
    with pytest.raises(AdminSignInError, match="AADSTS700016"):
        admin_token.token_by_device_code(authority="https://a/", show=print, application_factory=refused)
    declined = FakePublicClient({"user_code": "X", "message": "m"}, {"error": "authorization_declined"})
    with pytest.raises(AdminSignInError, match="authorization_declined"):
        admin_token.token_by_device_code(authority="https://a/", show=lambda _: None, application_factory=declined)


def test_msal_requests_carry_verify_and_timeout_even_with_requests_ca_bundle_set(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    session = admin_token._VerifyingSession("/ca.pem", 7)
    seen: dict[str, Any] = {}

    def fake_send(request: Any, **kwargs: Any) -> requests.Response:
        seen.update(kwargs)
        return _response(200, {})

    monkeypatch.setattr(session, "send", fake_send)
    session.get("https://login.example/x")
    assert seen["verify"] == "/ca.pem" and seen["timeout"] == 7
