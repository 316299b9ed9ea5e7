"""The API's HTTP surface: thin views that turn requests into calls and typed errors into answers.

Authentication: `Authorization: Bearer <token>` only (RFC 6750 §2.1). A request without it gets 401
with a bare `Bearer` challenge (§3.1: no error code when no credentials were sent); a refused token
gets `error="invalid_token"`, a missing scope 403 `error="insufficient_scope"`, never more detail:
the reason goes to the log. Every answer is JSON (or empty) and `Cache-Control: no-store`.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from ciam_core.errors import ProviderUnavailable

from .access_tokens import AccessToken
from .errors import (
    ClaimsChallenge,
    DeploymentError,
    ForbiddenFields,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    TemporarilyUnavailable,
)
from .openapi import openapi_document

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token.
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)


class _NoCredentials(Exception):
    """No bearer token in the request (or another authentication scheme)."""


def _services() -> Any:
    return current_app.extensions["ciam_api"]


def requires_token(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization")
        if header is None or not header.lower().startswith("bearer"):
            raise _NoCredentials()
        match = _BEARER.match(header)
        if match is None:
            raise InvalidToken("Authorization header is not `Bearer <token>`")
        g.caller = _services().access_tokens.validate(match.group(1))
        return view(*args, **kwargs)

    return wrapper


@bp.get("/profile")
@requires_token
def get_profile() -> Response:
    caller: AccessToken = g.caller
    return jsonify(profile=_services().profiles.read(caller))


@bp.patch("/profile")
@requires_token
def patch_profile() -> Response:
    caller: AccessToken = g.caller
    if request.mimetype != "application/json":
        raise InvalidRequest("Content-Type must be application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidRequest("The body must be a JSON object of profile properties.")
    changes = _services().profiles.update(caller, body)
    log.info(
        "profile updated" if changes else "nothing to change",
        extra={"user": caller.user, "properties": sorted(changes)},
    )
    return Response(status=204)


@bp.get("/openapi.json")
def get_openapi() -> Response:
    return jsonify(openapi_document(_services().settings))


@bp.get("/healthz")
def health() -> Response:
    return jsonify(status="ok")


def _json(status: int, body: dict[str, Any], *, challenge: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def install(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(_NoCredentials)
    def no_credentials(exc: _NoCredentials) -> Response:
        log.info("request without a bearer token")
        return _json(401, {"error": "unauthorized"}, challenge="Bearer")

    @app.errorhandler(InvalidToken)
    def invalid_token(exc: InvalidToken) -> Response:
        log.info("access token refused", extra={"reason": exc.reason})
        return _json(401, {"error": "invalid_token"}, challenge='Bearer error="invalid_token"')

    @app.errorhandler(InsufficientScope)
    def insufficient_scope(exc: InsufficientScope) -> Response:
        log.info("access token lacks scope", extra={"reason": exc.reason})
        scope = _services().settings.required_scope
        return _json(
            403, {"error": "insufficient_scope"}, challenge=f'Bearer error="insufficient_scope", scope={_quoted(scope)}'
        )

    @app.errorhandler(ClaimsChallenge)
    def claims_challenge(exc: ClaimsChallenge) -> Response:
        log.info("claims challenge sent", extra={"reason": exc.reason})
        try:
            authorization_uri = _services().metadata.get().authorization_endpoint
        except ProviderUnavailable as unavailable:
            return tenant_unavailable(TemporarilyUnavailable(unavailable.reason))
        # Microsoft's claims-challenge guidance: the claims JSON, base64-encoded, in the header.
        encoded = base64.b64encode(exc.claims.encode("utf-8")).decode("ascii")
        challenge = (
            f'Bearer realm="", authorization_uri={_quoted(authorization_uri)}, '
            f'error="insufficient_claims", claims={_quoted(encoded)}'
        )
        return _json(401, {"error": "insufficient_claims"}, challenge=challenge)

    @app.errorhandler(TemporarilyUnavailable)
    def tenant_unavailable(exc: TemporarilyUnavailable) -> Response:
        log.warning("answering 503", extra={"reason": exc.reason})
        response = _json(503, {"error": "temporarily_unavailable"})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(DeploymentError)
    def deployment_error(exc: DeploymentError) -> Response:
        log.error("answering 500: the API's deployment needs an administrator", extra={"reason": exc.reason})
        return _json(500, {"error": "server_error"})

    @app.errorhandler(InvalidRequest)
    def invalid_request(exc: InvalidRequest) -> Response:
        return _json(400, {"error": "invalid_request", "error_description": exc.description, "fields": exc.fields})

    @app.errorhandler(ForbiddenFields)
    def forbidden_fields(exc: ForbiddenFields) -> Response:
        log.info("Graph refused the change", extra={"reason": exc.reason, "properties": sorted(exc.fields)})
        return _json(403, {"error": "forbidden_fields", "fields": exc.fields})

    @app.errorhandler(InternalServerError)
    def internal_error(exc: InternalServerError) -> Response:
        # An unhandled exception: logged with its traceback, answered without one.
        log.error("unhandled error", exc_info=exc.original_exception or exc)
        return _json(500, {"error": "server_error"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        names = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        response = _json(code, {"error": names.get(code, "invalid_request")})
        if code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response
