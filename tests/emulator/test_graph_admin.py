"""The emulator's Graph admin slice: shapes, permissions, validation and secret handling."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest

from ciam_emulator.errors import GraphError
from ciam_emulator.graph_admin import parse_filter
from tests.emulator.conftest import GraphAdmin, LiveEmulator


@pytest.fixture
def graph(emulator: LiveEmulator) -> GraphAdmin:
    return GraphAdmin(emulator)


def _new_app(graph: GraphAdmin, **body: Any) -> dict[str, Any]:
    response = graph.call("POST", "applications", {"displayName": f"app-{uuid.uuid4().hex[:8]}", **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_filters_the_emulator_understands():
    assert parse_filter("displayName eq 'O''Brien'", {"displayName"}) == [("displayName", "O'Brien")]
    assert parse_filter("displayName eq 'Sign-up and sign-in' and id eq 'x'", {"displayName", "id"}) == [
        ("displayName", "Sign-up and sign-in"),
        ("id", "x"),
    ]
    assert parse_filter("identifierUris/any(x:x eq 'api://a')", set(), {"identifierUris"}) == [
        ("identifierUris/any", "api://a")
    ]
    with pytest.raises(GraphError) as raised:
        parse_filter("startswith(displayName,'a')", {"displayName"})
    assert raised.value.status == 400


def test_seeded_apps_are_listed_in_graphs_shape(graph, emulator):
    found = graph.call("GET", "applications", **{"$filter": "displayName eq 'mfa-app'"}).json()
    (mfa,) = found["value"]
    assert found["@odata.context"].endswith("$metadata#applications")
    assert mfa["appId"] == emulator.seeded.mfa_app_id and mfa["id"] != mfa["appId"]
    assert mfa["identifierUris"] == [f"api://{mfa['appId']}"]
    assert [s["value"] for s in mfa["api"]["oauth2PermissionScopes"]] == ["User.MFA"]
    by_uri = graph.call("GET", "applications", **{"$filter": f"identifierUris/any(c:c eq 'api://{mfa['appId']}')"})
    assert [a["appId"] for a in by_uri.json()["value"]] == [mfa["appId"]]


def test_add_password_shows_the_secret_once_and_stores_only_a_hash(graph, emulator):
    app = _new_app(graph)
    answer = graph.call("POST", f"applications/{app['id']}/addPassword", {"passwordCredential": {"displayName": "t"}})
    assert answer.status_code == 200
    secret = answer.json()["secretText"]
    assert secret and answer.json()["hint"] == secret[:3]
    listed = graph.call("GET", f"applications/{app['id']}").json()
    assert listed["passwordCredentials"][0]["secretText"] is None
    dump = "\n".join(sqlite3.connect(emulator.app.extensions["ciam_emulator"].store.db_path).iterdump())
    assert secret not in dump


def test_writes_need_application_readwrite_all(emulator):
    reader = GraphAdmin(emulator, ["Application.Read.All"])
    assert reader.call("GET", "applications").status_code == 200
    refused = reader.call("POST", "applications", {"displayName": "nope"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert (
        GraphAdmin(emulator, ["Policy.ReadWrite.ConditionalAccess"])
        .call("POST", "identity/conditionalAccess/policies", {})
        .status_code
        == 403
    ), "creating a CA policy needs Policy.Read.All too"


def test_validation_follows_graph(graph):
    app = _new_app(graph)
    assert graph.call("PATCH", f"applications/{app['id']}", {"identifierUris": ["api://elsewhere"]}).status_code == 400
    assert (
        graph.call(
            "PATCH", f"applications/{app['id']}", {"web": {"redirectUris": ["http://evil.example/cb"]}}
        ).status_code
        == 400
    )
    scope = {
        "id": str(uuid.uuid4()),
        "value": "Thing.Do",
        "type": "User",
        "isEnabled": True,
        "adminConsentDisplayName": "Do",
    }
    ok = graph.call("PATCH", f"applications/{app['id']}", {"api": {"oauth2PermissionScopes": [scope]}})
    assert ok.status_code == 204
    dropped = graph.call("PATCH", f"applications/{app['id']}", {"api": {"oauth2PermissionScopes": []}})
    assert dropped.json()["error"]["code"] == "CannotDeleteOrUpdateEnabledEntitlement"
    assert graph.call("POST", "servicePrincipals", {"appId": app["appId"]}).status_code == 201
    assert graph.call("POST", "servicePrincipals", {"appId": app["appId"]}).status_code == 409
    assert graph.call("POST", "servicePrincipals", {"appId": str(uuid.uuid4())}).status_code == 400


def test_grants_check_the_published_scopes(graph):
    app = _new_app(graph)
    client = graph.call("POST", "servicePrincipals", {"appId": app["appId"]}).json()
    graph_sp = graph.call(
        "GET", "servicePrincipals", **{"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}
    ).json()["value"][0]
    body = {
        "clientId": client["id"],
        "consentType": "AllPrincipals",
        "resourceId": graph_sp["id"],
        "scope": "User.Read",
    }
    assert graph.call("POST", "oauth2PermissionGrants", {**body, "scope": "Mail.Read"}).status_code == 400
    created = graph.call("POST", "oauth2PermissionGrants", body)
    assert created.status_code == 201
    assert graph.call("POST", "oauth2PermissionGrants", body).status_code == 409
    patched = graph.call(
        "PATCH", f"oauth2PermissionGrants/{created.json()['id']}", {"scope": "User.Read User.ReadWrite"}
    )
    assert patched.status_code == 204
    found = graph.call("GET", "oauth2PermissionGrants", **{"$filter": f"clientId eq '{client['id']}'"}).json()["value"]
    assert [g["scope"] for g in found] == ["User.Read User.ReadWrite"]


def test_ca_policies_outside_what_the_emulator_enforces_are_refused(graph):
    app = _new_app(graph)
    policy = {
        "displayName": "p",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {"includeApplications": [app["appId"]]},
            "users": {"includeUsers": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    refused = graph.call("POST", "identity/conditionalAccess/policies", policy)
    assert refused.status_code == 400 and "mfa" in refused.json()["error"]["message"]
    no_app_types = {**policy, "conditions": {**policy["conditions"], "clientAppTypes": []}}
    assert graph.call("POST", "identity/conditionalAccess/policies", no_app_types).status_code == 400
    policy["grantControls"]["builtInControls"] = ["mfa"]
    created = graph.call("POST", "identity/conditionalAccess/policies", policy)
    assert created.status_code == 201 and created.json()["conditions"]["applications"]["includeApplications"] == [
        app["appId"]
    ]
