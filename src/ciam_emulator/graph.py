"""The Microsoft Graph slice: bearer checks and the /me resource (read with $select, customer updates)."""

from __future__ import annotations

import re
from typing import Any

from ciam_emulator.context import Emulator
from ciam_emulator.errors import GraphError, TokenValidationError
from ciam_emulator.store import Tenant, User
from ciam_emulator.tokens import GRAPH_AUDIENCES, v1_issuer

READ_SCOPES = {"User.Read", "User.ReadWrite", "User.ReadBasic.All"}
WRITE_SCOPES = {"User.ReadWrite"}
ME_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
# Accepted clock skew on a Graph token's exp/nbf (the same five minutes as the other token checks).
_LEEWAY_SECONDS = 300
GRAPH_BEARER_CHALLENGE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
INSUFFICIENT_PRIVILEGES = "Insufficient privileges to complete the operation."

# GET /me without $select: the default property set, in the order Graph's "Get user" page lists it
# (learn.microsoft.com/graph/api/user-get, "Optional query parameters").
DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
# What the emulator stores for a user and so can return on $select: the defaults plus the address
# properties and identities (Graph's user resource page lists them all as selectable).
MODELLED_PROPERTIES = (
    *DEFAULT_PROPERTIES,
    "city",
    "country",
    "postalCode",
    "state",
    "streetAddress",
    "identities",
)
# Properties of Graph v1.0's user resource (learn.microsoft.com/graph/api/resources/user, "Properties").
# A name from this list that the emulator does not store gets a 400 saying so; any other name gets
# Graph's "no such property" answer.
USER_RESOURCE_PROPERTIES = frozenset(
    {
        *MODELLED_PROPERTIES,
        "aboutMe",
        "accountEnabled",
        "ageGroup",
        "assignedLicenses",
        "assignedPlans",
        "birthday",
        "companyName",
        "consentProvidedForMinor",
        "createdDateTime",
        "creationType",
        "deletedDateTime",
        "department",
        "employeeHireDate",
        "employeeId",
        "employeeOrgData",
        "employeeType",
        "externalUserState",
        "externalUserStateChangeDateTime",
        "faxNumber",
        "hireDate",
        "imAddresses",
        "interests",
        "isResourceAccount",
        "lastPasswordChangeDateTime",
        "legalAgeGroupClassification",
        "licenseAssignmentStates",
        "mailNickname",
        "mailboxSettings",
        "mySite",
        "onPremisesDistinguishedName",
        "onPremisesDomainName",
        "onPremisesExtensionAttributes",
        "onPremisesImmutableId",
        "onPremisesLastSyncDateTime",
        "onPremisesProvisioningErrors",
        "onPremisesSamAccountName",
        "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled",
        "onPremisesUserPrincipalName",
        "otherMails",
        "passwordPolicies",
        "passwordProfile",
        "pastProjects",
        "preferredDataLocation",
        "preferredName",
        "provisionedPlans",
        "proxyAddresses",
        "refreshTokensValidFromDateTime",
        "responsibilities",
        "schools",
        "securityIdentifier",
        "showInAddressList",
        "signInSessionsValidFromDateTime",
        "skills",
        "usageLocation",
        "userType",
    }
)

# The only properties a customer may update on their own user with User.ReadWrite: "Default user
# permissions in external tenants" (learn.microsoft.com/entra/external-id/customers/reference-user-permissions).
CUSTOMER_UPDATABLE_PROPERTIES = frozenset(
    {
        "city",
        "country",
        "displayName",
        "givenName",
        "jobTitle",
        "postalCode",
        "state",
        "streetAddress",
        "surname",
        "preferredLanguage",
    }
)
# Maximum lengths, each from that property's row of Graph's user resource page
# (learn.microsoft.com/graph/api/resources/user, "Properties").
_MAX_LENGTHS = {
    "city": 128,
    "country": 128,
    "displayName": 256,
    "givenName": 64,
    "jobTitle": 128,
    "postalCode": 40,
    "state": 128,
    "streetAddress": 1024,
    "surname": 64,
}
# preferredLanguage "should follow ISO 639-1 Code; for example en-US" (user resource page), which
# gives no maximum length. UNSURE: which tags Graph refuses; the emulator accepts `ll` and `ll-CC`.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2}(-[A-Za-z]{2})?$")


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
        raise GraphError(403, "Authorization_RequestDenied", INSUFFICIENT_PRIVILEGES)
    user = emulator.store.get_user(str(claims.get("oid", "")))
    if user is None or user.tenant_id != tenant.id:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource 'me' does not exist or one of its queried reference-property objects are not present.",
        )
    return user, claims


# --- reading /me --------------------------------------------------------------------------------


def _identities(tenant: Tenant, user: User, user_principal_name: str) -> list[dict[str, str]]:
    # A customer's sign-in email is an identity with signInType emailAddress, issued by the tenant's
    # default domain (Graph's objectIdentity resource page). UNSURE: that an external tenant also lists
    # the userPrincipalName identity for a customer, as workforce users have.
    return [
        {"signInType": "emailAddress", "issuer": tenant.domain, "issuerAssignedId": user.email},
        {"signInType": "userPrincipalName", "issuer": tenant.domain, "issuerAssignedId": user_principal_name},
    ]


def user_properties(emulator: Emulator, user: User) -> dict[str, Any]:
    """Every property the emulator models for ``user``, by Graph name."""
    tenant = emulator.store.get_tenant(user.tenant_id)
    user_principal_name = f"{user.id}@{tenant.domain}"
    return {
        "businessPhones": list(user.business_phones),
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        # UNSURE: whether an external tenant fills `mail` at self-service sign-up; the emulator does.
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname,
        "userPrincipalName": user_principal_name,
        "id": user.id,
        "city": user.city,
        "country": user.country,
        "postalCode": user.postal_code,
        "state": user.state,
        "streetAddress": user.street_address,
        "identities": _identities(tenant, user, user_principal_name),
    }


def user_resource(emulator: Emulator, user: User) -> dict[str, Any]:
    """GET /me without $select: Graph's default property set."""
    properties = user_properties(emulator, user)
    return {"@odata.context": ME_CONTEXT, **{name: properties[name] for name in DEFAULT_PROPERTIES}}


def parse_select(raw: str | None) -> list[str] | None:
    """The property names of a `$select` value (None: no $select). Unknown names are a 400."""
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",")]
    if not raw.strip() or any(not name for name in names):
        raise GraphError(400, "BadRequest", f"Invalid $select value '{raw}'.")  # UNSURE: Graph's exact answer
    selected: list[str] = []
    for name in names:
        # UNSURE: Graph matches $select names case-sensitively here (OData does); the emulator does too.
        if name not in USER_RESOURCE_PROPERTIES and not name.startswith("extension_"):
            # UNSURE: code and message as Graph's directory answers an unknown property (not in the docs).
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.User'.",
            )
        if name not in MODELLED_PROPERTIES:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"The emulator does not model the user property '{name}'; it can select only: "
                f"{', '.join(MODELLED_PROPERTIES)}.",
            )
        if name not in selected:
            selected.append(name)
    return selected


def selected_user_resource(emulator: Emulator, user: User, raw_select: str | None) -> dict[str, Any]:
    """GET /me: the default set, or with `$select=a,b` exactly those properties.

    The context URL names the selection, as in Graph's "Get user" example 3
    (learn.microsoft.com/graph/api/user-get): `$metadata#users(a,b)/$entity`.
    """
    selected = parse_select(raw_select)
    if selected is None:
        return user_resource(emulator, user)
    properties = user_properties(emulator, user)
    context = f"https://graph.microsoft.com/v1.0/$metadata#users({','.join(selected)})/$entity"
    return {"@odata.context": context, **{name: properties[name] for name in selected}}


# --- PATCH /me ----------------------------------------------------------------------------------


def _bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def _invalid_value(name: str, detail: str = "") -> GraphError:
    return _bad_request(f"Invalid value specified for property '{name}' of resource 'User'.{detail}")


def _checked_value(name: str, value: Any) -> str | None:
    """One updatable property's new value (None clears it), or a 400 Request_BadRequest."""
    if value is None:
        # displayName "cannot be cleared during updates" (user resource page); null clears the others.
        if name == "displayName":
            raise _invalid_value(name)
        return None
    if not isinstance(value, str):
        raise _bad_request(f"Cannot convert the value of property '{name}' to type 'Edm.String'.")
    value = value.strip()
    if name == "displayName" and not value:
        raise _invalid_value(name)
    maximum = _MAX_LENGTHS.get(name)
    if maximum is not None and len(value) > maximum:
        raise _invalid_value(name, f" It must be at most {maximum} characters.")
    if name == "preferredLanguage" and value and not _LANGUAGE_TAG.match(value):
        raise _invalid_value(name, " Use an ISO 639-1 language code such as 'en' or 'en-US'.")
    return value or None


def validate_customer_patch(body: Any) -> dict[str, Any]:
    """The changes in a customer's PATCH /me body, or the GraphError Graph answers with.

    All or nothing: a body naming any property the customer may not change is refused whole (403),
    even when it also names allowed ones, so nothing is written. UNSURE: the docs say only which
    properties are updatable; that Graph rejects such a mixed body whole rather than applying part
    of it is the emulator's reading (a PATCH of one object is one operation).
    """
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object with the properties to update.")
    if not body:
        raise _bad_request("The request body has no properties to update.")
    for name in body:
        if name not in USER_RESOURCE_PROPERTIES and not name.startswith("extension_"):
            # UNSURE: Graph's exact code and message for a property the user type does not have.
            raise _bad_request(f"Property '{name}' does not exist on type 'microsoft.graph.user'.")
    if any(name not in CUSTOMER_UPDATABLE_PROPERTIES for name in body):
        # Customers may update only the listed properties ("Default user permissions in external tenants");
        # anything else is Authorization_RequestDenied (Graph's 403, entra-notes §12).
        raise GraphError(403, "Authorization_RequestDenied", INSUFFICIENT_PRIVILEGES)
    return {name: _checked_value(name, value) for name, value in body.items()}
