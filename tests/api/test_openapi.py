"""The OpenAPI document: valid OpenAPI 3.1, served, and true: every route the app has is in it, and
every answer the app gives (each one provoked below) is documented, with a body matching its schema."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jsonschema
import pytest
from flask import Flask
from openapi_spec_validator import validate

from tests.api.conftest import bearer
from tests.api.fake_tenant import FakeTenant, graph_error

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _document(api: Flask) -> dict[str, Any]:
    response = api.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def test_the_document_is_valid_openapi(api: Flask) -> None:
    document = _document(api)
    validate(document)
    assert document["openapi"].startswith("3.")


def test_the_document_is_served_without_a_token(api: Flask) -> None:
    assert api.test_client().get("/openapi.json").status_code == 200


def test_every_route_is_documented_and_nothing_else(api: Flask) -> None:
    document = _document(api)
    routes = {
        (rule.rule, method.lower())
        for rule in api.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


def test_the_documented_scope_and_properties_follow_the_settings(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    document = _document(make_api(REQUIRED_SCOPE="Profile.Edit"))
    assert document["security"] == [{"entra": [f"api://{fake_tenant.api_client_id}/Profile.Edit"]}]
    change = document["components"]["schemas"]["ProfileChange"]
    assert change["additionalProperties"] is False
    assert "mail" not in change["properties"] and "city" in change["properties"]


def _provoke_every_answer(api: Flask, tenant: FakeTenant) -> list[tuple[str, str, Any]]:
    """(method, path, response) for each kind of answer the API gives."""
    client = api.test_client()
    ok = bearer(tenant.token())
    now = int(time.time())
    answers: list[tuple[str, str, Any]] = []

    def call(method: str, path: str, **kwargs: Any) -> None:
        answers.append((method, path, client.open(path, method=method.upper(), **kwargs)))

    call("get", "/healthz")
    call("get", "/openapi.json")
    call("get", "/profile", headers=ok)
    for method, extra in (("get", {}), ("patch", {"json": {"city": "Paris"}})):
        call(method, "/profile", **extra)  # no token
        call(method, "/profile", headers=bearer(tenant.token(exp=now - 3600, iat=now - 7200, nbf=now - 7200)), **extra)
        call(method, "/profile", headers=bearer(tenant.token(scp="User.Read")), **extra)
        tenant.token_answers.append((400, {"error": "interaction_required", "error_codes": [50076], "claims": "{}"}))
        call(method, "/profile", headers=bearer(tenant.token()), **extra)
        tenant.token_answers.append((400, {"error": "invalid_grant", "error_codes": [65001]}))
        call(method, "/profile", headers=bearer(tenant.token()), **extra)
    call("patch", "/profile", headers=ok, json={"city": "Paris"})
    call("patch", "/profile", headers=ok, json={"mail": "x@example.com"})
    call("patch", "/profile", headers=ok, data="x" * (65 * 1024), content_type="application/json")
    tenant.graph_answers.append((403, graph_error(403, "Authorization_RequestDenied"), {}))
    call("patch", "/profile", headers=ok, json={"jobTitle": "CEO"})
    # Last: after a 5xx MSAL holds back every exchange of this process for a few seconds.
    for method, extra in (("get", {}), ("patch", {"json": {"city": "Paris"}})):
        tenant.token_answers.append((503, {"error": "temporarily_unavailable"}))
        call(method, "/profile", headers=bearer(tenant.token()), **extra)
    return answers


def test_every_answer_is_documented_with_its_schema(api: Flask, fake_tenant: FakeTenant) -> None:
    document = _document(api)
    seen = set()
    for method, path, response in _provoke_every_answer(api, fake_tenant):
        status = str(response.status_code)
        documented = document["paths"][path][method]["responses"]
        assert status in documented, f"{method.upper()} {path} answered {status}, not documented"
        seen.add((method, path, status))
        content = documented[status].get("content", {}).get("application/json")
        if response.get_data():
            assert response.mimetype == "application/json"
            schema = (content or {}).get("schema")
            if schema is not None:
                jsonschema.validate(
                    response.get_json(),
                    {**schema, "components": document["components"]},
                    cls=jsonschema.Draft202012Validator,
                )
        for header in documented[status].get("headers", {}):
            if header == "Retry-After":
                assert header in response.headers
        if status == "401":
            assert "WWW-Authenticate" in response.headers
    # and nothing documented is left unprovoked
    documented_all = {
        (method, path, status)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    assert documented_all == seen


@pytest.mark.parametrize("path", ["/nowhere", "/profile/x"])
def test_unknown_paths_answer_json(api: Flask, path: str) -> None:
    response = api.test_client().get(path)
    assert response.status_code == 404 and response.get_json() == {"error": "not_found"}
    assert response.headers["Cache-Control"] == "no-store"


def test_unsupported_methods_answer_json(api: Flask) -> None:
    response = api.test_client().delete("/profile")
    assert response.status_code == 405 and response.get_json() == {"error": "method_not_allowed"}
    assert "PATCH" in response.headers["Allow"]


def test_an_unexpected_failure_is_json_without_a_traceback(api: Flask, fake_tenant: FakeTenant) -> None:
    services = api.extensions["ciam_api"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom " + str(uuid.uuid4()))

    object.__setattr__(services.profiles, "read", broken)
    response = api.test_client().get("/profile", headers=bearer(fake_tenant.token()))
    assert response.status_code == 500
    assert response.get_json() == {"error": "server_error"}
    assert b"boom" not in response.get_data() and b"Traceback" not in response.get_data()
    assert json.loads(response.get_data()) == {"error": "server_error"}
