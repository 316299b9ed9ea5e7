"""Microsoft Graph's admin endpoints used to register apps: /applications, /servicePrincipals,
/oauth2PermissionGrants, /identity/conditionalAccess/policies and
/identity/conditionalAccess/authenticationContextClassReferences (logic in graph_admin.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ciam_emulator import graph, graph_admin
from ciam_emulator.errors import GraphError
from ciam_emulator.store import Tenant
from ciam_emulator.web.common import emulator
from ciam_emulator.web.graph_views import _apply_fault, _request_ids, _with_ids, graph_error_response

blueprint = Blueprint("graph_admin", __name__, url_prefix="/v1.0")


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GraphError(
            400,
            "Request_BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
            "is of valid JSON format.",
        )
    return body


def _respond(body: dict[str, Any] | None, status: int) -> Response:
    request_id, client_request_id = _request_ids()
    response = jsonify(body) if body is not None else Response(status=status)
    response.status_code = status
    return _with_ids(response, request_id, client_request_id)


def _handle(operation: str, work: Callable[[Tenant, dict[str, Any]], tuple[dict[str, Any] | None, int]]) -> Response:
    """Count the call, apply any injected fault, check the bearer token, run ``work``, shape errors."""
    emu = emulator()
    emu.controls.count(f"graph:{request.method} {operation}")
    try:
        injected = _apply_fault()
        if injected is not None:
            raise injected
        tenant, claims = graph.verify_bearer(emu, request.headers.get("Authorization"))
        body, status = work(tenant, claims)
    except GraphError as error:
        return graph_error_response(error)
    return _respond(body, status)


@blueprint.route("/applications", methods=["GET", "POST"])
def applications() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_APPLICATIONS)
            found = graph_admin.list_applications(emu, tenant, request.args.get("$filter"))
            return graph_admin.collection("applications", found), 200
        graph_admin.require(claims, any_of=graph_admin.WRITE_APPLICATIONS)
        created = graph_admin.create_application(emu, tenant, _json_body())
        return {"@odata.context": f"{graph_admin.GRAPH_CONTEXT}#applications/$entity", **created}, 201

    return _handle("/applications", work)


@blueprint.route("/applications/<object_id>", methods=["GET", "PATCH"])
def application(object_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_APPLICATIONS)
            app = graph_admin.find_application(emu, tenant, object_id)
            resource = graph_admin.application_resource(emu, app)
            return {"@odata.context": f"{graph_admin.GRAPH_CONTEXT}#applications/$entity", **resource}, 200
        graph_admin.require(claims, any_of=graph_admin.WRITE_APPLICATIONS)
        graph_admin.update_application(emu, tenant, object_id, _json_body())
        return None, 204

    return _handle("/applications/{id}", work)


@blueprint.post("/applications/<object_id>/addPassword")
def add_password(object_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, any_of=graph_admin.WRITE_APPLICATIONS)
        body = request.get_json(silent=True) or {}
        if not isinstance(body, dict):
            raise graph_admin.bad_request("The request body must be a JSON object.")
        return graph_admin.add_password(emulator(), tenant, object_id, body), 200

    return _handle("/applications/{id}/addPassword", work)


@blueprint.route("/servicePrincipals", methods=["GET", "POST"])
def service_principals() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_APPLICATIONS)
            found = graph_admin.list_service_principals(emu, tenant, request.args.get("$filter"))
            return graph_admin.collection("servicePrincipals", found), 200
        graph_admin.require(claims, any_of=graph_admin.WRITE_APPLICATIONS)
        created = graph_admin.create_service_principal(emu, tenant, _json_body())
        return {"@odata.context": f"{graph_admin.GRAPH_CONTEXT}#servicePrincipals/$entity", **created}, 201

    return _handle("/servicePrincipals", work)


@blueprint.route("/oauth2PermissionGrants", methods=["GET", "POST"])
def permission_grants() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_GRANTS)
            found = graph_admin.list_grants(emu, tenant, request.args.get("$filter"))
            return graph_admin.collection("oauth2PermissionGrants", found), 200
        graph_admin.require(claims, any_of=graph_admin.WRITE_GRANTS)
        created = graph_admin.create_grant(emu, tenant, _json_body())
        return {"@odata.context": f"{graph_admin.GRAPH_CONTEXT}#oauth2PermissionGrants/$entity", **created}, 201

    return _handle("/oauth2PermissionGrants", work)


@blueprint.route("/oauth2PermissionGrants/<grant_id>", methods=["PATCH", "DELETE"])
def permission_grant(grant_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, any_of=graph_admin.WRITE_GRANTS)
        if request.method == "DELETE":
            graph_admin.delete_grant(emulator(), tenant, grant_id)
        else:
            graph_admin.update_grant(emulator(), tenant, grant_id, _json_body())
        return None, 204

    return _handle("/oauth2PermissionGrants/{id}", work)


@blueprint.route("/identity/conditionalAccess/policies", methods=["GET", "POST"])
def conditional_access_policies() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_POLICIES)
            found = graph_admin.list_policies(emu, tenant, request.args.get("$filter"))
            return graph_admin.collection("identity/conditionalAccess/policies", found), 200
        graph_admin.require(claims, all_of=graph_admin.WRITE_POLICIES_ALL_OF)
        created = graph_admin.create_policy(emu, tenant, _json_body())
        context = f"{graph_admin.GRAPH_CONTEXT}#identity/conditionalAccess/policies/$entity"
        return {"@odata.context": context, **created}, 201

    return _handle("/identity/conditionalAccess/policies", work)


@blueprint.delete("/identity/conditionalAccess/policies/<policy_id>")
def conditional_access_policy(policy_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, all_of=graph_admin.WRITE_POLICIES_ALL_OF)
        graph_admin.delete_policy(emulator(), tenant, policy_id)
        return None, 204

    return _handle("/identity/conditionalAccess/policies/{id}", work)


_CONTEXTS = "identity/conditionalAccess/authenticationContextClassReferences"


@blueprint.get(f"/{_CONTEXTS}")
def authentication_contexts() -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        graph_admin.require(claims, any_of=graph_admin.READ_CONTEXTS)
        found = graph_admin.list_auth_contexts(emulator(), tenant, request.args.get("$filter"))
        return graph_admin.collection(_CONTEXTS, found), 200

    return _handle(f"/{_CONTEXTS}", work)


@blueprint.route(f"/{_CONTEXTS}/<context_id>", methods=["GET", "PATCH"])
def authentication_context(context_id: str) -> Response:
    def work(tenant: Tenant, claims: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        emu = emulator()
        context_url = f"{graph_admin.GRAPH_CONTEXT}#{_CONTEXTS}/$entity"
        if request.method == "GET":
            graph_admin.require(claims, any_of=graph_admin.READ_CONTEXTS)
            return {"@odata.context": context_url, **graph_admin.get_auth_context(emu, tenant, context_id)}, 200
        graph_admin.require(claims, any_of=graph_admin.WRITE_CONTEXTS)
        created = graph_admin.upsert_auth_context(emu, tenant, context_id, _json_body())
        # UNSURE: Graph's page calls this "create or update" without showing the created case's answer;
        # the emulator answers 201 with the object when it created one and 204 when it updated one.
        if created:
            return {"@odata.context": context_url, **graph_admin.get_auth_context(emu, tenant, context_id)}, 201
        return None, 204

    return _handle(f"/{_CONTEXTS}/{{id}}", work)
