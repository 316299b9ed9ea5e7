"""The Microsoft Graph slice: bearer checks and the /me resource."""

from __future__ import annotations

import re
from typing import Any

from ciam_emulator.context import Emulator
from ciam_emulator.errors import GraphError, TokenValidationError
from ciam_emulator.store import USER_PROFILE_COLUMNS, Tenant, User
from ciam_emulator.tokens import GRAPH_AUDIENCES, v1_issuer

READ_SCOPES = {"User.Read", "User.ReadWrite", "User.ReadBasic.All"}
WRITE_SCOPES = {"User.ReadWrite"}
ME_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Maximum lengths Graph documents for these user properties.
_MAX_LENGTHS = {
    "displayName": 256,
    "givenName": 64,
    "surname": 64,
    "mail": 254,
    "jobTitle": 128,
    "mobilePhone": 64,
    "officeLocation": 128,
    "preferredLanguage": 10,
}
GRAPH_BEARER_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
_READ_ONLY = {"id", "userPrincipalName", "@odata.context"}
# Accepted clock skew on a Graph token's exp/nbf (the same five minutes as the other token checks).
_LEEWAY_SECONDS = 300


def invalid_token(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": GRAPH_BEARER_CHALLENGE},
    )


def _check_graph_claims(claims: dict[str, Any], now: float) -> None:
    # Graph checks audience and lifetime itself (Entra access-token docs: the resource validates its tokens).
    audience = claims.get("aud")
    if audience not in GRAPH_AUDIENCES:
        raise invalid_token("Access token validation failure. Invalid audience.")
    expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(expires, int | float) or now > expires + _LEEWAY_SECONDS:
        raise invalid_token("Lifetime validation failed, the token is expired.")
    if isinstance(not_before, int | float) and now < not_before - _LEEWAY_SECONDS:
        raise invalid_token("Lifetime validation failed, the token is not yet valid.")


def verify_bearer(emulator: Emulator, authorization: str | None) -> tuple[Tenant, dict[str, Any]]:
    """Check that the bearer token is a Graph access token this tenant issued; return tenant and claims."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise invalid_token("Access token is empty.")
    token = authorization[7:].strip()
    if not token:
        raise invalid_token("Access token is empty.")
    try:
        claims = emulator.graph_token_key.open(token)
    except TokenValidationError as problem:
        raise invalid_token(f"Access token validation failure. {problem}") from problem
    _check_graph_claims(claims, emulator.now())
    tenant_id = str(claims.get("tid", ""))
    tenant = emulator.store.find_tenant(tenant_id) if tenant_id else None
    if tenant is None or claims.get("iss") != v1_issuer(tenant.id):
        raise invalid_token("Access token validation failure. Invalid issuer.")
    return tenant, claims


def granted_scopes(claims: dict[str, Any]) -> set[str]:
    return set(str(claims.get("scp", "")).split())


def authenticate(emulator: Emulator, authorization: str | None, *, write: bool) -> tuple[User, dict[str, Any]]:
    """Validate the bearer token for Graph; return the signed-in user and the token's claims."""
    tenant, claims = verify_bearer(emulator, authorization)
    granted = granted_scopes(claims)
    if not granted & (WRITE_SCOPES if write else READ_SCOPES):
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    user = emulator.store.get_user(str(claims.get("oid", "")))
    if user is None or user.tenant_id != tenant.id:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource 'me' does not exist or one of its queried reference-property objects are not present.",
        )
    return user, claims


def user_resource(emulator: Emulator, user: User) -> dict[str, Any]:
    tenant = emulator.store.get_tenant(user.tenant_id)
    return {
        "@odata.context": ME_CONTEXT,
        "businessPhones": list(user.business_phones),
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname,
        "userPrincipalName": f"{user.id}@{tenant.domain}",
        "id": user.id,
    }


def _bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def validate_patch(body: Any) -> dict[str, Any]:
    """Return the profile changes in a PATCH /me body, or raise a 400 Request_BadRequest."""
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object with the properties to update.")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in _READ_ONLY:
            raise _bad_request(f"Property '{name}' is read-only and cannot be set.")
        if name not in USER_PROFILE_COLUMNS:
            raise _bad_request(f"Property '{name}' does not exist on type 'microsoft.graph.user'.")
        if name == "businessPhones":
            if not isinstance(value, list) or len(value) > 1 or not all(isinstance(v, str) and v for v in value):
                raise _bad_request("Invalid value specified for property 'businessPhones' of resource 'User'.")
            changes[name] = value
            continue
        if value is None:
            if name == "displayName":
                raise _bad_request("Invalid value specified for property 'displayName' of resource 'User'.")
            changes[name] = None
            continue
        if not isinstance(value, str):
            raise _bad_request(f"Cannot convert the value of property '{name}' to type 'Edm.String'.")
        value = value.strip()
        if name == "displayName" and not value:
            raise _bad_request("Invalid value specified for property 'displayName' of resource 'User'.")
        if len(value) > _MAX_LENGTHS[name]:
            raise _bad_request(
                f"Invalid value specified for property '{name}' of resource 'User': "
                f"it must be at most {_MAX_LENGTHS[name]} characters."
            )
        if name == "mail" and value and not _EMAIL.match(value):
            raise _bad_request("Invalid value specified for property 'mail' of resource 'User'.")
        changes[name] = value or None
    if not changes:
        raise _bad_request("The request body has no properties to update.")
    return changes
