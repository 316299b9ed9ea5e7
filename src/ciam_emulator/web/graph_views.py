"""Microsoft Graph's /v1.0/me (and the OIDC userinfo endpoint Graph hosts)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

from flask import Blueprint, Response, jsonify, request

from ciam_emulator import graph
from ciam_emulator.controls import InjectedResponse
from ciam_emulator.errors import GraphError
from ciam_emulator.tokens import pairwise_subject
from ciam_emulator.web.common import emulator

blueprint = Blueprint("graph", __name__)

_FAULT_CODES = {
    400: ("Request_BadRequest", "Injected bad request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource not found."),
    429: ("TooManyRequests", "Too many requests. Please retry after the time in the Retry-After header."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


def _request_ids() -> tuple[str, str]:
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    return str(uuid.uuid4()), client_request_id


def _with_ids(response: Response, request_id: str, client_request_id: str) -> Response:
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_request_id
    return response


def graph_error_response(error: GraphError) -> Response:
    request_id, client_request_id = _request_ids()
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return _with_ids(response, request_id, client_request_id)


def _injected(fault: InjectedResponse) -> GraphError:
    assert fault.status is not None
    code, message = _FAULT_CODES.get(fault.status, ("UnknownError", "Injected test failure."))
    message = fault.error_description or message  # a test may script Graph's exact message
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if fault.status == 401 and fault.claims is not None:
        # A claims challenge (CAE / conditional access), as Graph sends it.
        encoded = base64.b64encode(json.dumps(fault.claims, separators=(",", ":")).encode()).decode()
        headers["WWW-Authenticate"] = (
            'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
            f'error="insufficient_claims", claims="{encoded}"'
        )
        code, message = "InvalidAuthenticationToken", "Continuous access evaluation resulted in claims challenge."
    elif fault.status == 401:
        headers["WWW-Authenticate"] = graph.invalid_token("").headers["WWW-Authenticate"]
    return GraphError(fault.status, code, message, headers=headers)


def _apply_fault() -> GraphError | None:
    fault = emulator().controls.next_graph_fault()
    if fault is None:
        return None
    if fault.delay_seconds:
        time.sleep(fault.delay_seconds)
    return _injected(fault) if fault.status is not None else None


@blueprint.route("/v1.0/me", methods=["GET", "PATCH"])
def me() -> Response:
    emu = emulator()
    emu.controls.count(f"graph:{request.method} /me")
    try:
        injected = _apply_fault()
        if injected is not None:
            raise injected
        user, _ = graph.authenticate(emu, request.headers.get("Authorization"), write=request.method == "PATCH")
        if request.method == "GET":
            request_id, client_request_id = _request_ids()
            resource = graph.selected_user_resource(emu, user, request.args.get("$select"))
            return _with_ids(jsonify(resource), request_id, client_request_id)
        body = request.get_json(silent=True)
        if body is None:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                "is of valid JSON format.",
            )
        emu.store.update_user_profile(user.id, graph.validate_customer_patch(body))
    except GraphError as error:
        return graph_error_response(error)
    request_id, client_request_id = _request_ids()
    return _with_ids(Response(status=204), request_id, client_request_id)


@blueprint.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    emu = emulator()
    try:
        user, claims = graph.authenticate(emu, request.headers.get("Authorization"), write=False)
    except GraphError as error:
        return graph_error_response(error)
    return jsonify(
        {
            "sub": pairwise_subject(user.id, str(claims.get("appid", ""))),
            "name": user.display_name,
            "family_name": user.surname,
            "given_name": user.given_name,
            "email": user.mail,
        }
    )


@blueprint.route("/v1.0/<path:rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown_graph_path(rest: str) -> Response:
    segment = rest.split("/", 1)[0]
    return graph_error_response(GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'."))
