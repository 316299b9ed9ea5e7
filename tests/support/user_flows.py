"""User flows for tests: Graph bodies for externalUsersSelfServiceSignUpEventsFlow, and a flow linked to an
app for the duration of a test (through the tenant's Graph, as an admin would)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.graph_admin import GraphAdminClient

FLOWS = "identity/authenticationEventsFlows"


def flow_body(method: str, inputs: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    attributes = [{"id": "email"}, *({"id": item["attribute"]} for item in inputs)]
    return {
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "displayName": name or f"flow-{secrets.token_hex(4)}",
        "onAuthenticationMethodLoadStart": {
            "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
            "identityProviders": [{"id": method}],
        },
        "onAttributeCollection": {
            "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
            "attributes": attributes,
            "attributeCollectionPage": {"views": [{"inputs": inputs}]},
        },
    }


def text_input(attribute: str, label: str, *, required: bool = False, regex: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"attribute": attribute, "label": label, "inputType": "text", "required": required}
    if regex:
        item["validationRegEx"] = regex
    return item


@contextmanager
def linked_flow(graph: GraphAdminClient, app_id: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A flow linked to ``app_id`` for the duration (deleting it unlinks the app)."""
    flow = graph.ok("POST", FLOWS, body)
    link = {"@odata.type": "#microsoft.graph.authenticationConditionApplication", "appId": app_id}
    graph.ok("POST", f"{FLOWS}/{flow['id']}/conditions/applications/includeApplications", link)
    try:
        yield flow
    finally:
        graph.ok("DELETE", f"{FLOWS}/{flow['id']}")


def custom_attribute(graph: GraphAdminClient, name: str, data_type: str = "string") -> str:
    """The id of the tenant's custom attribute ``name`` (created if missing)."""
    found = graph.ok("GET", "identity/userFlowAttributes", **{"$filter": f"displayName eq '{name}'"})["value"]
    if found:
        return found[0]["id"]
    body = {"displayName": name, "description": f"The customer's {name}", "dataType": data_type}
    return graph.ok("POST", "identity/userFlowAttributes", body)["id"]


@contextmanager
def id_token_claim_mapped(graph: GraphAdminClient, app_id: str, claim: str) -> Iterator[None]:
    """The app's registration maps ``claim`` (a directory extension) into its ID token, for the duration."""
    (application,) = graph.ok("GET", "applications", **{"$filter": f"appId eq '{app_id}'"})["value"]
    before = application["optionalClaims"]
    extra = {"name": claim, "source": "user", "essential": False, "additionalProperties": []}
    graph.ok(
        "PATCH",
        f"applications/{application['id']}",
        {"optionalClaims": {**before, "idToken": [*before["idToken"], extra]}},
    )
    try:
        yield
    finally:
        graph.ok("PATCH", f"applications/{application['id']}", {"optionalClaims": before})
