"""Graph's user-flow endpoints: /identity/authenticationEventsFlows (with includeApplications and the
attributes $ref), /identity/userFlowAttributes and the authentication methods policy's email method
(logic in user_flows.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ciam_emulator import graph_admin, user_flows
from ciam_emulator.store import Tenant
from ciam_emulator.web.common import emulator
from ciam_emulator.web.graph_admin_views import _handle, _json_body

blueprint = Blueprint("user_flow_graph", __name__, url_prefix="/v1.0")

# Permissions from each resource's Graph reference page (the ReadWrite one covers reading).
READ_FLOWS = frozenset({"EventListener.Read.All", "EventListener.ReadWrite.All"})
WRITE_FLOWS = frozenset({"EventListener.ReadWrite.All"})
READ_ATTRIBUTES = frozenset({"IdentityUserFlow.Read.All", "IdentityUserFlow.ReadWrite.All"})
WRITE_ATTRIBUTES = frozenset({"IdentityUserFlow.ReadWrite.All"})
READ_METHODS = frozenset({"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"})
WRITE_METHODS = frozenset({"Policy.ReadWrite.AuthenticationMethod"})

_FLOWS = "identity/authenticationEventsFlows"
_ATTRIBUTES_REF = (
    "onAttributeCollection/microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes/$ref"
)


def _context(entity_set: str) -> str:
    return f"{graph_admin.GRAPH_CONTEXT}#{entity_set}"


@blueprint.route(f"/{_FLOWS}", methods=["GET", "POST"])
def flows() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        store = emulator().store
        if request.method == "GET":
            graph_admin.require(claims, any_of=READ_FLOWS)
            clauses = graph_admin.parse_filter(request.args.get("$filter"), {"id", "displayName"})
            found = [user_flows.flow_resource(store, tenant.id, doc) for doc in store.list_user_flows(tenant.id)]
            return graph_admin.collection(_FLOWS, [f for f in found if graph_admin._matches(f, clauses)]), 200
        graph_admin.require(claims, any_of=WRITE_FLOWS)
        created = user_flows.create_flow(store, tenant.id, _json_body())
        return {"@odata.context": _context(f"{_FLOWS}/$entity"), **created}, 201

    return _handle(f"/{_FLOWS}", work)


@blueprint.route(f"/{_FLOWS}/<flow_id>", methods=["GET", "PATCH", "DELETE"])
def flow(flow_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        store = emulator().store
        if request.method == "GET":
            graph_admin.require(claims, any_of=READ_FLOWS)
            document = user_flows.find_flow(store, tenant.id, flow_id)
            return {
                "@odata.context": _context(f"{_FLOWS}/$entity"),
                **user_flows.flow_resource(store, tenant.id, document),
            }, 200
        graph_admin.require(claims, any_of=WRITE_FLOWS)
        if request.method == "DELETE":
            if not store.delete_user_flow(tenant.id, flow_id):
                raise user_flows.not_found(flow_id)
        else:
            user_flows.update_flow(store, tenant.id, flow_id, _json_body())
        return None, 204

    return _handle(f"/{_FLOWS}/{{id}}", work)


@blueprint.route(f"/{_FLOWS}/<flow_id>/conditions/applications/includeApplications", methods=["GET", "POST"])
def flow_applications(flow_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        store = emulator().store
        entity_set = f"{_FLOWS}('{flow_id}')/conditions/applications/includeApplications"
        if request.method == "GET":
            graph_admin.require(claims, any_of=READ_FLOWS)
            apps = user_flows.flow_resource(store, tenant.id, user_flows.find_flow(store, tenant.id, flow_id))
            return graph_admin.collection(entity_set, apps["conditions"]["applications"]["includeApplications"]), 200
        graph_admin.require(claims, any_of=WRITE_FLOWS)
        linked = user_flows.add_application(store, tenant.id, flow_id, _json_body())
        return {"@odata.context": _context(f"{entity_set}/$entity"), **linked}, 201

    return _handle(f"/{_FLOWS}/{{id}}/conditions/applications/includeApplications", work)


@blueprint.delete(f"/{_FLOWS}/<flow_id>/conditions/applications/includeApplications/<app_id>/$ref")
def unlink_application(flow_id: str, app_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, any_of=WRITE_FLOWS)
        store = emulator().store
        if app_id.lower() not in store.flow_app_ids(tenant.id, user_flows.find_flow(store, tenant.id, flow_id)["id"]):
            raise user_flows.not_found(app_id)
        store.unlink_app(tenant.id, app_id.lower())
        return None, 204

    return _handle(f"/{_FLOWS}/{{id}}/conditions/applications/includeApplications/{{appId}}/$ref", work)


@blueprint.post(f"/{_FLOWS}/<flow_id>/{_ATTRIBUTES_REF}")
def flow_attribute_reference(flow_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, any_of=WRITE_FLOWS)
        user_flows.add_attribute_reference(emulator().store, tenant.id, flow_id, _json_body())
        return None, 204

    return _handle(f"/{_FLOWS}/{{id}}/{_ATTRIBUTES_REF}", work)


@blueprint.route("/identity/userFlowAttributes", methods=["GET", "POST"])
def attributes() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        store = emulator().store
        if request.method == "GET":
            graph_admin.require(claims, any_of=READ_ATTRIBUTES)
            clauses = graph_admin.parse_filter(
                request.args.get("$filter"), {"id", "displayName", "userFlowAttributeType", "dataType"}
            )
            found = [a for a in user_flows.list_attributes(store, tenant.id) if graph_admin._matches(a, clauses)]
            return graph_admin.collection("identity/userFlowAttributes", found), 200
        graph_admin.require(claims, any_of=WRITE_ATTRIBUTES)
        created = user_flows.create_attribute(store, tenant.id, _json_body())
        return {"@odata.context": _context("identity/userFlowAttributes/$entity"), **created}, 201

    return _handle("/identity/userFlowAttributes", work)


_EMAIL_METHOD = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"


@blueprint.route(f"/{_EMAIL_METHOD}", methods=["GET", "PATCH"])
def email_method() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        store = emulator().store
        if request.method == "GET":
            graph_admin.require(claims, any_of=READ_METHODS)
            context = _context("policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity")
            return {"@odata.context": context, **user_flows.email_method(store, tenant.id)}, 200
        graph_admin.require(claims, any_of=WRITE_METHODS)
        user_flows.update_email_method(store, tenant.id, _json_body())
        return None, 204

    return _handle(f"/{_EMAIL_METHOD}", work)
