"""Graph's answers as typed errors, one reading for the web app and the API (ciam_core.graph)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from ciam_core import graph as core_graph
from ciam_core.graph import (
    GraphBadRequest,
    GraphClaimsChallenge,
    GraphError,
    GraphForbidden,
    GraphUnauthorized,
    GraphUnavailable,
    error_from,
)
from ciam_webapp import graph as webapp_graph

CHALLENGE = 'Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ"'  # {"access_token":{}}


def answer(status: int, body: Any = None, text: str | None = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if text is None else text).encode()
    response.headers.update(headers)
    return response


def envelope(code: str, message: str = "", request_id: str | None = "req-1") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": request_id}}}


def test_throttling_tells_how_long_to_wait_within_bounds() -> None:
    throttled = error_from(answer(429, envelope("TooManyRequests"), **{"Retry-After": "7200"}))
    assert isinstance(throttled, GraphUnavailable) and throttled.retry_after == 3600
    assert error_from(answer(503, envelope("serviceNotAvailable"))).retry_after == 5  # type: ignore[attr-defined]


def test_a_claims_challenge_is_an_unauthorized_with_its_claims() -> None:
    challenged = error_from(answer(401, envelope("InvalidAuthenticationToken"), **{"WWW-Authenticate": CHALLENGE}))
    assert isinstance(challenged, GraphClaimsChallenge) and isinstance(challenged, GraphUnauthorized)
    assert challenged.claims == '{"access_token":{}}' and challenged.request_id == "req-1"
    refused = error_from(answer(401, envelope("InvalidAuthenticationToken")))
    assert type(refused) is GraphUnauthorized and refused.claims is None


@pytest.mark.parametrize(
    ("status", "kind"), [(400, GraphBadRequest), (403, GraphForbidden), (404, GraphError), (502, GraphUnavailable)]
)
def test_each_status_has_its_type(status: int, kind: type[GraphError]) -> None:
    error = error_from(answer(status, envelope("Code", "Invalid value specified for property 'city'")))
    assert type(error) is kind and error.code == "Code" and str(error) == f"Graph {status} Code"


def test_a_body_that_is_not_graphs_envelope_keeps_the_status_and_the_start_of_the_text() -> None:
    error = error_from(answer(400, text="<html>bad gateway page</html>" + "x" * 500, **{"request-id": "hdr-1"}))
    assert isinstance(error, GraphBadRequest)
    assert (error.code, error.message[:30], len(error.message), error.request_id) == (
        "400",
        "<html>bad gateway page</html>x",
        200,
        "hdr-1",
    )


class OneAnswer(requests.Session):
    def __init__(self, response: requests.Response) -> None:
        super().__init__()
        self.response = response

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        return self.response


@pytest.mark.parametrize("text", ["<html>proxy page</html>", "[1, 2]"])
def test_a_200_that_is_no_json_object_is_graph_unavailable_for_the_api_and_the_web_app(text: str) -> None:
    http = OneAnswer(answer(200, text=text))
    with pytest.raises(GraphUnavailable):
        core_graph.GraphClient("https://graph.example/v1.0", http).read_me("token")  # the API's
    with pytest.raises(GraphUnavailable):
        webapp_graph.GraphClient("https://graph.example/v1.0", http).get_me("token")
