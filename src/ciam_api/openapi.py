"""The API's OpenAPI 3.1 document, built from the same property list the API validates against,
so the document cannot drift from what `PATCH /profile` accepts. Served at `GET /openapi.json`."""

from __future__ import annotations

from typing import Any

from ciam_core.customer_profile import EDITABLE_PROPERTIES, LANGUAGE_CODES
from ciam_core.discovery import discovery_url
from ciam_core.graph import PROFILE_FIELDS

from .config import Settings

_JSON = "application/json"


def _error(description: str, *, codes: tuple[str, ...], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}, "example": {"error": codes[0]}}},
    }
    if headers:
        response["headers"] = headers
    return response


def openapi_document(settings: Settings) -> dict[str, Any]:
    scope = f"api://{settings.client_id}/{settings.required_scope}"
    www_authenticate = {
        "WWW-Authenticate": {
            "description": 'RFC 6750 challenge: bare `Bearer` without a token; `error="invalid_token"`; '
            '`error="insufficient_scope", scope=...`; or `error="insufficient_claims", claims="<base64>"` '
            "with `authorization_uri` (Microsoft's claims-challenge format).",
            "schema": {"type": "string"},
        }
    }
    unauthorized = _error(
        "No token, a refused token (invalid_token), or a token lacking claims the tenant must add "
        "(insufficient_claims: the required authentication context, or conditional access on Graph).",
        codes=("invalid_token", "unauthorized", "insufficient_claims"),
        headers=www_authenticate,
    )
    insufficient_scope = _error(
        f"The token lacks the scope {settings.required_scope} (or the required authentication context, for a "
        "client that did not declare the cp1 capability).",
        codes=("insufficient_scope",),
        headers=www_authenticate,
    )
    unavailable = _error(
        "The tenant or Microsoft Graph is unreachable or throttling beyond the retry budget.",
        codes=("temporarily_unavailable",),
        headers={"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    )
    server_error = _error(
        "The API is not set up right (e.g. no admin consent for its Graph permission); an administrator "
        "must act. No detail is given.",
        codes=("server_error",),
    )
    properties: dict[str, Any] = {}
    for prop in EDITABLE_PROPERTIES:
        schema: dict[str, Any] = {
            "type": "string" if prop.required else ["string", "null"],
            "maxLength": prop.max_length,
        }
        if prop.name == "preferredLanguage":
            schema["enum"] = [*sorted(LANGUAGE_CODES), None]
        schema["description"] = prop.label + (" (cannot be cleared)" if prop.required else '; null or "" clears it')
        properties[prop.name] = schema
    profile_properties = {name: {"type": ["string", "null"]} for name in PROFILE_FIELDS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mfa-app profile API",
            "version": "1.0.0",
            "description": "Reads and changes the signed-in customer's own profile in Microsoft Graph, on "
            "behalf of the customer. Every call needs a v2 access token for this API, issued by the tenant "
            f"to an allowed client app, with the scope {settings.required_scope}"
            + (
                f" and the authentication context {settings.required_auth_context} in `acrs`."
                if settings.required_auth_context
                else "."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"entra": [scope]}],
        "paths": {
            "/profile": {
                "get": {
                    "operationId": "getProfile",
                    "summary": "The caller's profile (Graph's property names).",
                    "responses": {
                        "200": {
                            "description": "The profile.",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ProfileResponse"}}},
                        },
                        "401": unauthorized,
                        "403": insufficient_scope,
                        "500": server_error,
                        "503": unavailable,
                    },
                },
                "patch": {
                    "operationId": "updateProfile",
                    "summary": "Change some of the caller's profile properties (one Graph PATCH /me).",
                    "description": "Only the properties to change; a string sets, null (or an empty string) "
                    "clears. An empty object changes nothing and calls nothing.",
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ProfileChange"}}},
                    },
                    "responses": {
                        "204": {"description": "Saved (or nothing to change)."},
                        "400": {
                            "description": "The body is not acceptable; `fields` says why, per property.",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/InvalidRequest"}}},
                        },
                        "401": unauthorized,
                        "403": {
                            "description": "insufficient_scope (see the WWW-Authenticate header), or "
                            "forbidden_fields: Graph refused to change these properties for this user.",
                            "headers": www_authenticate,
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "anyOf": [
                                            {"$ref": "#/components/schemas/Error"},
                                            {"$ref": "#/components/schemas/ForbiddenFields"},
                                        ]
                                    }
                                }
                            },
                        },
                        "413": _error("The body is larger than 64 KiB.", codes=("request_too_large",)),
                        "500": server_error,
                        "503": unavailable,
                    },
                },
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document.", "content": {_JSON: {}}}},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "getHealth",
                    "summary": "Liveness: the process answers (checks nothing else).",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Alive.",
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"const": "ok"}},
                                        "required": ["status"],
                                    }
                                }
                            },
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "entra": {
                    "type": "openIdConnect",
                    "openIdConnectUrl": discovery_url(settings.authority),
                    "description": "A v2 access token for this API (aud = its client id), sent as "
                    "`Authorization: Bearer <token>`.",
                }
            },
            "schemas": {
                "ProfileChange": {
                    "type": "object",
                    "properties": properties,
                    "additionalProperties": False,
                },
                "ProfileResponse": {
                    "type": "object",
                    "properties": {"profile": {"type": "object", "properties": profile_properties, "required": ["id"]}},
                    "required": ["profile"],
                },
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "InvalidRequest": {
                    "type": "object",
                    "properties": {
                        "error": {"const": "invalid_request"},
                        "error_description": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "required": ["error", "error_description", "fields"],
                },
                "ForbiddenFields": {
                    "type": "object",
                    "properties": {
                        "error": {"const": "forbidden_fields"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "required": ["error", "fields"],
                },
            },
        },
    }
