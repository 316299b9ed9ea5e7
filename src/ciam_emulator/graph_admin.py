"""Microsoft Graph's admin slice: applications, service principals, delegated permission grants and
conditional access policies, in Graph's shapes, backed by the emulator's store.

Only what registering this product's apps needs is modelled; anything else is refused with a
400 that says it is an emulator limit, rather than silently accepted and ignored.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ciam_emulator.context import Emulator
from ciam_emulator.directory import PermissionGrant, ServicePrincipal, first_party_service_principal_id
from ciam_emulator.errors import GraphError
from ciam_emulator.graph import granted_scopes
from ciam_emulator.store import (
    GRAPH_APP_ID,
    AppRegistration,
    AuthContext,
    ConditionalAccessPolicy,
    ContextPolicy,
    Tenant,
)

GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata"

# Delegated permissions that let a signed-in admin call each group of endpoints (Graph's
# permission tables; the ReadWrite permission always covers the Read one).
READ_APPLICATIONS = frozenset({"Application.Read.All", "Application.ReadWrite.All"})
WRITE_APPLICATIONS = frozenset({"Application.ReadWrite.All"})
READ_GRANTS = frozenset({"DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All"})
WRITE_GRANTS = frozenset({"DelegatedPermissionGrant.ReadWrite.All"})
READ_POLICIES = frozenset({"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"})
# Creating a CA policy needs both (Graph's "Policy.Read.All and Policy.ReadWrite.ConditionalAccess").
WRITE_POLICIES_ALL_OF = ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess")

# The delegated permissions Microsoft Graph's service principal publishes that the emulator knows.
# Ids are Microsoft's well-known permission ids.
GRAPH_DELEGATED_PERMISSIONS = {
    "openid": "37f7f235-527c-4136-accd-4a02d197296e",
    "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    "profile": "14dad69e-099b-42c9-810b-d002981feec1",
    "email": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
    "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
    "User.ReadWrite": "b4e74841-8e56-480b-be8b-910348b18b4c",
    "User.ReadBasic.All": "b340eb25-3456-403f-be2f-af7a0d370277",
}

_APPLICATION_PROPERTIES = {
    "displayName",
    "signInAudience",
    "identifierUris",
    "api",
    "web",
    "requiredResourceAccess",
    "optionalClaims",
}
_READ_ONLY_APPLICATION_PROPERTIES = {"id", "appId", "passwordCredentials", "createdDateTime", "publisherDomain"}
_SCOPE_VALUE = re.compile(r"^[A-Za-z0-9._\-]{1,120}$")
_POLICY_STATES = {"enabled", "disabled"}


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def _not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def require(claims: dict[str, Any], *, any_of: frozenset[str] = frozenset(), all_of: tuple[str, ...] = ()) -> None:
    """403 unless the token's delegated scopes include one of ``any_of`` and every one of ``all_of``."""
    granted = granted_scopes(claims)
    if (any_of and not granted & any_of) or not set(all_of) <= granted:
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def collection(entity_set: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@odata.context": f"{GRAPH_CONTEXT}#{entity_set}", "value": items}


# --- $filter ------------------------------------------------------------------------------------

_EQ_CLAUSE = re.compile(r"^(\w+)\s+eq\s+'((?:[^']|'')*)'$")
_ANY_CLAUSE = re.compile(r"^(\w+)/any\((\w+):\s*\2\s+eq\s+'((?:[^']|'')*)'\)$")


def parse_filter(raw: str | None, properties: set[str], collections: set[str] = frozenset()) -> list[tuple[str, str]]:
    """The ``$filter`` forms the emulator understands: ``prop eq 'v'`` and ``coll/any(x:x eq 'v')``,
    joined with ``and``. Anything else is a 400, as Graph answers an unsupported filter."""
    if raw is None or not raw.strip():
        return []
    clauses: list[tuple[str, str]] = []
    # "and" joins clauses only outside quoted values (an even number of quotes follows it).
    for part in re.split(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", raw.strip(), flags=re.IGNORECASE):
        part = part.strip()
        match = _EQ_CLAUSE.match(part)
        if match and match.group(1) in properties:
            clauses.append((match.group(1), match.group(2).replace("''", "'")))
            continue
        match = _ANY_CLAUSE.match(part)
        if match and match.group(1) in collections:
            clauses.append((f"{match.group(1)}/any", match.group(3).replace("''", "'")))
            continue
        raise bad_request(f"Invalid filter clause: '{part}' is not supported.", code="Request_UnsupportedQuery")
    return clauses


def _matches(resource: dict[str, Any], clauses: list[tuple[str, str]]) -> bool:
    for name, value in clauses:
        if name.endswith("/any"):
            values = resource.get(name.removesuffix("/any")) or []
            if not any(str(item).lower() == value.lower() for item in values):
                return False
        elif str(resource.get(name) or "").lower() != value.lower():
            return False
    return True


# --- applications ----------------------------------------------------------------------------


def _default_scope_id(app_id: str, value: str) -> str:
    # Seeded apps expose scopes by name only; give each a stable id.
    return str(uuid.uuid5(uuid.UUID(app_id), f"scope:{value}"))


def _scopes_of(app: AppRegistration, properties: dict[str, Any]) -> list[dict[str, Any]]:
    if "oauth2PermissionScopes" in properties:
        return properties["oauth2PermissionScopes"]
    return [
        {
            "adminConsentDescription": value,
            "adminConsentDisplayName": value,
            "id": _default_scope_id(app.app_id, value),
            "isEnabled": True,
            "type": "User",
            "userConsentDescription": None,
            "userConsentDisplayName": None,
            "value": value,
        }
        for value in app.exposed_scopes
    ]


def application_resource(emulator: Emulator, app: AppRegistration) -> dict[str, Any]:
    object_id, properties = emulator.directory.application_properties(app.app_id)
    identifier_uris = properties.get("identifierUris")
    if identifier_uris is None:
        identifier_uris = [app.identifier_uri] if app.exposed_scopes else []
    return {
        "id": object_id,
        "appId": app.app_id,
        "displayName": app.display_name,
        "signInAudience": "AzureADMyOrg",
        "identifierUris": identifier_uris,
        "api": {
            "requestedAccessTokenVersion": app.access_token_version,
            "oauth2PermissionScopes": _scopes_of(app, properties),
            "preAuthorizedApplications": [],
        },
        "web": {
            "homePageUrl": properties.get("homePageUrl"),
            "logoutUrl": properties.get("logoutUrl"),
            "redirectUris": list(app.redirect_uris),
            "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
        },
        "requiredResourceAccess": properties.get("requiredResourceAccess", []),
        "optionalClaims": properties.get("optionalClaims"),
        "passwordCredentials": properties.get("passwordCredentials", []),
    }


def list_applications(emulator: Emulator, tenant: Tenant, raw_filter: str | None) -> list[dict[str, Any]]:
    clauses = parse_filter(raw_filter, {"displayName", "appId"}, {"identifierUris"})
    resources = [application_resource(emulator, app) for app in emulator.store.list_apps(tenant.id)]
    return [resource for resource in resources if _matches(resource, clauses)]


def find_application(emulator: Emulator, tenant: Tenant, object_id: str) -> AppRegistration:
    app_id = emulator.directory.app_id_for_object_id(object_id)
    app = emulator.store.find_app(tenant.id, app_id) if app_id else None
    if app is None:
        raise _not_found(object_id)
    return app


def _check_redirect_uri(uri: Any) -> str:
    if not isinstance(uri, str):
        raise bad_request("Invalid value specified for property 'web.redirectUris' of resource 'Application'.")
    parts = urlsplit(uri)
    # Entra accepts https anywhere and plain http only for the local machine.
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"})
    if not parts.netloc or not secure or parts.fragment or len(uri) > 256:
        raise bad_request(
            f"Invalid value specified for property 'web.redirectUris' of resource 'Application': '{uri}' must be "
            "an absolute https URI (or http://localhost) without a fragment."
        )
    return uri


def _check_scopes(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("Property 'api.oauth2PermissionScopes' must be a collection.")
    seen_ids: set[str] = set()
    seen_values: set[str] = set()
    scopes = []
    for scope in value:
        if not isinstance(scope, dict) or not _is_guid(scope.get("id")):
            raise bad_request("Every permission scope needs an 'id' that is a GUID.")
        scope_value = scope.get("value")
        if not isinstance(scope_value, str) or not _SCOPE_VALUE.match(scope_value):
            raise bad_request(f"Permission scope value {scope_value!r} is not valid.")
        if scope.get("type") not in {"User", "Admin"}:
            raise bad_request("Permission scope 'type' must be 'User' or 'Admin'.")
        if not isinstance(scope.get("isEnabled"), bool):
            raise bad_request("Permission scope 'isEnabled' must be true or false.")
        if not scope.get("adminConsentDisplayName"):
            raise bad_request("Permission scope 'adminConsentDisplayName' is required.")
        if scope["id"].lower() in seen_ids or scope_value.lower() in seen_values:
            raise bad_request("Permission scope ids and values must be unique within an application.")
        seen_ids.add(scope["id"].lower())
        seen_values.add(scope_value.lower())
        scopes.append(
            {
                "adminConsentDescription": scope.get("adminConsentDescription"),
                "adminConsentDisplayName": scope["adminConsentDisplayName"],
                "id": scope["id"],
                "isEnabled": scope["isEnabled"],
                "type": scope["type"],
                "userConsentDescription": scope.get("userConsentDescription"),
                "userConsentDisplayName": scope.get("userConsentDisplayName"),
                "value": scope_value,
            }
        )
    return scopes


def _check_required_resource_access(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request("Property 'requiredResourceAccess' must be a collection.")
    for entry in value:
        if not isinstance(entry, dict) or not _is_guid(entry.get("resourceAppId")):
            raise bad_request("Every requiredResourceAccess entry needs a 'resourceAppId' that is a GUID.")
        accesses = entry.get("resourceAccess")
        if not isinstance(accesses, list) or not all(
            isinstance(a, dict) and _is_guid(a.get("id")) and a.get("type") in {"Scope", "Role"} for a in accesses
        ):
            raise bad_request("Every resourceAccess needs an 'id' (GUID) and a 'type' of 'Scope' or 'Role'.")
    return [
        {
            "resourceAppId": entry["resourceAppId"],
            "resourceAccess": [{"id": a["id"], "type": a["type"]} for a in entry["resourceAccess"]],
        }
        for entry in value
    ]


def _check_optional_claims(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"idToken", "accessToken", "saml2Token"}:
        raise bad_request("Property 'optionalClaims' may only have idToken, accessToken and saml2Token.")
    claims: dict[str, Any] = {}
    for token_type in ("idToken", "accessToken", "saml2Token"):
        items = value.get(token_type) or []
        if not isinstance(items, list) or not all(isinstance(c, dict) and c.get("name") for c in items):
            raise bad_request(f"Every optional claim in '{token_type}' needs a 'name'.")
        claims[token_type] = [
            {
                "additionalProperties": list(c.get("additionalProperties") or []),
                "essential": bool(c.get("essential", False)),
                "name": c["name"],
                "source": c.get("source"),
            }
            for c in items
        ]
    return claims


@dataclass
class _ApplicationState:
    """What a Graph application write changes: the store's columns and the directory's properties."""

    properties: dict[str, Any]
    redirect_uris: list[str]
    scopes: list[dict[str, Any]]
    token_version: int


def _validated_changes(app: AppRegistration, properties: dict[str, Any], body: dict[str, Any]) -> _ApplicationState:
    """Check ``body`` (a Graph application) against ``app``; nested objects merge key by key."""
    for name in body:
        if name in _READ_ONLY_APPLICATION_PROPERTIES:
            raise bad_request(f"Property '{name}' is read-only and cannot be set.")
        if name not in _APPLICATION_PROPERTIES and not name.startswith("@odata."):
            raise bad_request(f"Property '{name}' of 'microsoft.graph.application' is not supported by the emulator.")
    if body.get("signInAudience", "AzureADMyOrg") != "AzureADMyOrg":
        raise bad_request("External tenants support only signInAudience 'AzureADMyOrg'.")
    if "displayName" in body and (not isinstance(body["displayName"], str) or not body["displayName"].strip()):
        raise bad_request("Property 'displayName' must be a non-empty string.")
    state = _ApplicationState(
        properties=dict(properties),
        redirect_uris=list(app.redirect_uris),
        scopes=_scopes_of(app, properties),
        token_version=app.access_token_version,
    )
    if "identifierUris" in body:
        uris = body["identifierUris"]
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise bad_request("Property 'identifierUris' must be a collection of strings.")
        # The emulator resolves api://{appId}/{scope} only, the default form Entra suggests.
        if any(uri != app.identifier_uri for uri in uris):
            raise bad_request(
                "Values of identifierUris must be 'api://{appId}' of this application in the emulator.",
                code="HostNameNotOnVerifiedDomain",
            )
        state.properties["identifierUris"] = uris
    api = body.get("api")
    if api is not None:
        if not isinstance(api, dict):
            raise bad_request("Property 'api' must be an object.")
        if "requestedAccessTokenVersion" in api:
            state.token_version = api["requestedAccessTokenVersion"] or 1
            if state.token_version not in {1, 2}:
                raise bad_request("api.requestedAccessTokenVersion must be 1, 2 or null.")
        if "oauth2PermissionScopes" in api:
            new_scopes = _check_scopes(api["oauth2PermissionScopes"])
            kept_ids = {scope["id"].lower() for scope in new_scopes}
            # Graph refuses to drop a scope that is still enabled: it must be disabled first.
            if any(old["isEnabled"] and old["id"].lower() not in kept_ids for old in state.scopes):
                raise bad_request(
                    "Permission (scope or role) cannot be deleted or updated unless disabled first.",
                    code="CannotDeleteOrUpdateEnabledEntitlement",
                )
            state.scopes = new_scopes
            state.properties["oauth2PermissionScopes"] = new_scopes
    web = body.get("web")
    if web is not None:
        if not isinstance(web, dict):
            raise bad_request("Property 'web' must be an object.")
        if "redirectUris" in web:
            uris = web["redirectUris"] or []
            if not isinstance(uris, list):
                raise bad_request("Property 'web.redirectUris' must be a collection.")
            state.redirect_uris = list(dict.fromkeys(_check_redirect_uri(uri) for uri in uris))
        for name in ("logoutUrl", "homePageUrl"):
            if name in web:
                if web[name] is not None:
                    _check_redirect_uri(web[name])
                state.properties[name] = web[name]
    if "requiredResourceAccess" in body:
        state.properties["requiredResourceAccess"] = _check_required_resource_access(body["requiredResourceAccess"])
    if "optionalClaims" in body:
        state.properties["optionalClaims"] = _check_optional_claims(body["optionalClaims"])
    return state


def _save(emulator: Emulator, app: AppRegistration, state: _ApplicationState) -> None:
    emulator.directory.save_application_properties(app.app_id, state.properties)
    emulator.store.update_app_uris(app.app_id, state.redirect_uris, list(app.post_logout_redirect_uris))
    enabled_scopes = [scope["value"] for scope in state.scopes if scope["isEnabled"]]
    emulator.store.update_app_api(app.app_id, enabled_scopes, state.token_version)


def create_application(emulator: Emulator, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Property 'displayName' is required.")
    if emulator.store.find_app_by_name(tenant.id, name) is not None:
        # Graph allows duplicate display names; the emulator's store keeps them unique.
        raise bad_request(f"An application named '{name}' exists; the emulator keeps display names unique.")
    # Validate against a not-yet-stored registration first, so a rejected body leaves nothing behind.
    # requestedAccessTokenVersion null (v1 tokens) is Graph's default.
    draft = AppRegistration(
        app_id=str(uuid.uuid4()),
        tenant_id=tenant.id,
        display_name=name,
        redirect_uris=[],
        post_logout_redirect_uris=[],
        exposed_scopes=[],
        access_token_version=1,
    )
    state = _validated_changes(draft, {}, body)
    app = emulator.store.create_app(tenant.id, name, access_token_version=1)
    _save(emulator, app, state)
    created = emulator.store.find_app(tenant.id, app.app_id)
    assert created is not None
    return application_resource(emulator, created)


def update_application(emulator: Emulator, tenant: Tenant, object_id: str, body: dict[str, Any]) -> None:
    app = find_application(emulator, tenant, object_id)
    _, properties = emulator.directory.application_properties(app.app_id)
    state = _validated_changes(app, properties, body)
    # Graph's application update accepts a new displayName (the name customers see on hosted pages).
    new_name = body.get("displayName")
    renaming = isinstance(new_name, str) and new_name != app.display_name
    if renaming and emulator.store.find_app_by_name(tenant.id, new_name) is not None:
        raise bad_request(f"An application named '{new_name}' exists; the emulator keeps display names unique.")
    _save(emulator, app, state)
    if renaming:
        emulator.store.rename_app(app.app_id, new_name)


def add_password(emulator: Emulator, tenant: Tenant, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a client secret; its text is in this response only (the store keeps a hash)."""
    app = find_application(emulator, tenant, object_id)
    requested = body.get("passwordCredential") or {}
    if not isinstance(requested, dict):
        raise bad_request("Property 'passwordCredential' must be an object.")
    now = emulator.now()
    start = now
    end = now + 2 * 365 * 24 * 3600  # Graph's default lifetime: two years
    if requested.get("endDateTime"):
        try:
            end = dt.datetime.fromisoformat(str(requested["endDateTime"]).replace("Z", "+00:00")).timestamp()
        except ValueError as problem:
            raise bad_request("Property 'endDateTime' must be an ISO 8601 date and time.") from problem
        if end <= now:
            raise bad_request("Property 'endDateTime' must be in the future.")
    secret = emulator.store.add_client_secret(app.app_id)
    credential = {
        "customKeyIdentifier": None,
        "displayName": requested.get("displayName"),
        "endDateTime": _iso(end),
        "hint": secret[:3],
        "keyId": str(uuid.uuid4()),
        "secretText": None,
        "startDateTime": _iso(start),
    }
    _, properties = emulator.directory.application_properties(app.app_id)
    properties.setdefault("passwordCredentials", []).append(credential)
    emulator.directory.save_application_properties(app.app_id, properties)
    return {"@odata.context": f"{GRAPH_CONTEXT}#microsoft.graph.passwordCredential", **credential, "secretText": secret}


# --- service principals ----------------------------------------------------------------------


def _graph_service_principal(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": first_party_service_principal_id(tenant.id, GRAPH_APP_ID),
        "appId": GRAPH_APP_ID,
        "appDisplayName": "Microsoft Graph",
        "displayName": "Microsoft Graph",
        "accountEnabled": True,
        "servicePrincipalType": "Application",
        "servicePrincipalNames": [GRAPH_APP_ID, "https://graph.microsoft.com"],
        "appRoles": [],
        "oauth2PermissionScopes": [
            {"id": scope_id, "value": value, "type": "User", "isEnabled": True, "adminConsentDisplayName": value}
            for value, scope_id in GRAPH_DELEGATED_PERMISSIONS.items()
        ],
    }


def _service_principal_resource(emulator: Emulator, principal: ServicePrincipal) -> dict[str, Any]:
    app = emulator.store.find_app(principal.tenant_id, principal.app_id)
    assert app is not None
    application = application_resource(emulator, app)
    return {
        "id": principal.id,
        "appId": app.app_id,
        "appDisplayName": app.display_name,
        "displayName": app.display_name,
        "accountEnabled": True,
        "servicePrincipalType": "Application",
        "servicePrincipalNames": [app.app_id, *application["identifierUris"]],
        "appRoles": [],
        "oauth2PermissionScopes": application["api"]["oauth2PermissionScopes"],
    }


def service_principals(emulator: Emulator, tenant: Tenant) -> list[dict[str, Any]]:
    own = [_service_principal_resource(emulator, p) for p in emulator.directory.list_service_principals(tenant.id)]
    return [_graph_service_principal(tenant), *own]


def list_service_principals(emulator: Emulator, tenant: Tenant, raw_filter: str | None) -> list[dict[str, Any]]:
    clauses = parse_filter(raw_filter, {"appId", "displayName", "id"})
    return [sp for sp in service_principals(emulator, tenant) if _matches(sp, clauses)]


def create_service_principal(emulator: Emulator, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    app_id = body.get("appId")
    app = emulator.store.find_app(tenant.id, app_id) if _is_guid(app_id) else None
    if app is None:
        raise bad_request(
            f"The appId '{app_id}' of the service principal does not reference a valid application object.",
            code="Request_BadRequest",
        )
    principal = emulator.directory.create_service_principal(tenant.id, app.app_id)
    if principal is None:
        raise GraphError(
            409,
            "Request_MultipleObjectsWithSameKeyValue",
            "Another object with the same value for property servicePrincipalNames already exists.",
        )
    return _service_principal_resource(emulator, principal)


# --- delegated permission grants ---------------------------------------------------------------


def _grant_resource(grant: PermissionGrant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "clientId": grant.client_id,
        "consentType": grant.consent_type,
        "principalId": grant.principal_id,
        "resourceId": grant.resource_id,
        "scope": grant.scope,
    }


def list_grants(emulator: Emulator, tenant: Tenant, raw_filter: str | None) -> list[dict[str, Any]]:
    clauses = parse_filter(raw_filter, {"clientId", "resourceId", "consentType", "principalId"})
    grants = [_grant_resource(grant) for grant in emulator.directory.list_grants(tenant.id)]
    return [grant for grant in grants if _matches(grant, clauses)]


def _published_scopes(emulator: Emulator, tenant: Tenant, principal_id: str) -> set[str] | None:
    """The scope values the service principal publishes, or None if there is no such principal."""
    for principal in service_principals(emulator, tenant):
        if principal["id"].lower() == principal_id.lower():
            return {scope["value"] for scope in principal["oauth2PermissionScopes"] if scope["isEnabled"]}
    return None


def _check_grant_scope(emulator: Emulator, tenant: Tenant, resource_id: str, scope: Any) -> str:
    published = _published_scopes(emulator, tenant, resource_id) or set()
    names = scope.split() if isinstance(scope, str) else []
    unknown = [name for name in names if name not in published]
    if not names or unknown:
        raise bad_request(
            f"Permission entry {', '.join(unknown) or '(empty scope)'} is not published by the resource "
            f"service principal '{resource_id}'."
        )
    return " ".join(names)


def create_grant(emulator: Emulator, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    client_id, resource_id = body.get("clientId"), body.get("resourceId")
    for name, value in (("clientId", client_id), ("resourceId", resource_id)):
        if not _is_guid(value) or _published_scopes(emulator, tenant, value) is None:
            raise bad_request(f"Property '{name}' must be the id of a service principal in this tenant.")
    consent_type = body.get("consentType")
    principal_id = body.get("principalId")
    if consent_type not in {"AllPrincipals", "Principal"}:
        raise bad_request("Property 'consentType' must be 'AllPrincipals' or 'Principal'.")
    if (consent_type == "Principal") != bool(principal_id):
        raise bad_request("Property 'principalId' is required for consentType 'Principal' and only then.")
    scope = _check_grant_scope(emulator, tenant, resource_id, body.get("scope"))
    for existing in emulator.directory.list_grants(tenant.id):
        same = (existing.client_id, existing.resource_id, existing.consent_type, existing.principal_id)
        if same == (client_id, resource_id, consent_type, principal_id):
            raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
    grant = emulator.directory.create_grant(
        tenant.id,
        client_id=client_id,
        consent_type=consent_type,
        principal_id=principal_id,
        resource_id=resource_id,
        scope=scope,
    )
    return _grant_resource(grant)


def _find_grant(emulator: Emulator, tenant: Tenant, grant_id: str) -> PermissionGrant:
    grant = next((g for g in emulator.directory.list_grants(tenant.id) if g.id.lower() == grant_id.lower()), None)
    if grant is None:
        raise _not_found(grant_id)
    return grant


def update_grant(emulator: Emulator, tenant: Tenant, grant_id: str, body: dict[str, Any]) -> None:
    grant = _find_grant(emulator, tenant, grant_id)
    if set(body) - {"scope"}:
        raise bad_request("Only 'scope' of an oauth2PermissionGrant can be updated.")
    emulator.directory.update_grant_scope(
        grant.id, _check_grant_scope(emulator, tenant, grant.resource_id, body["scope"])
    )


def delete_grant(emulator: Emulator, tenant: Tenant, grant_id: str) -> None:
    """Revoke a delegated permission grant (Graph's "Delete oAuth2PermissionGrant", 204)."""
    emulator.directory.delete_grant(_find_grant(emulator, tenant, grant_id).id)


# --- conditional access policies ----------------------------------------------------------------


def _policy_resource(
    policy: ConditionalAccessPolicy | ContextPolicy,
) -> dict[str, Any]:
    """Graph's conditionalAccessPolicy: every policy the emulator has requires MFA for all users, in
    front of one app (includeApplications) or one authentication context
    (includeAuthenticationContextClassReferences, Graph's conditionalAccessApplications)."""
    on_context = isinstance(policy, ContextPolicy)
    return {
        "id": policy.id,
        "displayName": policy.display_name,
        "createdDateTime": None,
        "modifiedDateTime": None,
        "state": "enabled" if policy.enabled else "disabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {
                "includeApplications": [] if on_context else [policy.target_app_id],
                "excludeApplications": [],
                "includeUserActions": [],
                "includeAuthenticationContextClassReferences": [policy.context_id] if on_context else [],
            },
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": [],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
            },
            "platforms": None,
            "locations": None,
        },
        "grantControls": {
            "operator": "OR",
            "builtInControls": ["mfa"],
            "customAuthenticationFactors": [],
            "termsOfUse": [],
        },
        "sessionControls": None,
    }


def list_policies(emulator: Emulator, tenant: Tenant, raw_filter: str | None) -> list[dict[str, Any]]:
    clauses = parse_filter(raw_filter, {"displayName", "state", "id"})
    stored: list[ConditionalAccessPolicy | ContextPolicy] = [
        *emulator.store.list_ca_policies(tenant.id),
        *emulator.store.list_context_policies(tenant.id),
    ]
    policies = [_policy_resource(policy) for policy in stored]
    return [policy for policy in policies if _matches(policy, clauses)]


def _policy_target(emulator: Emulator, tenant: Tenant, applications: dict[str, Any]) -> tuple[str | None, str | None]:
    """(app id, None) or (None, context id): the one target the emulator can enforce."""
    apps = applications.get("includeApplications") or []
    contexts = applications.get("includeAuthenticationContextClassReferences") or []
    if not isinstance(apps, list) or not isinstance(contexts, list) or len(apps) + len(contexts) != 1:
        raise bad_request(
            "The emulator supports policies with exactly one target: one application in includeApplications "
            "or one context in includeAuthenticationContextClassReferences."
        )
    if contexts:
        context_id = contexts[0]
        if not isinstance(context_id, str) or emulator.store.get_auth_context(tenant.id, context_id) is None:
            raise bad_request(f"Authentication context '{context_id}' was not found in the tenant.")
        return None, context_id
    app_id = apps[0]
    # One of the tenant's apps, or Microsoft Graph (a policy on the downstream resource of OBO).
    if isinstance(app_id, str) and app_id.lower() == GRAPH_APP_ID:
        return GRAPH_APP_ID, None
    target = emulator.store.find_app(tenant.id, app_id) if _is_guid(app_id) else None
    if target is None:
        raise bad_request(f"Application '{app_id}' in includeApplications was not found in the tenant.")
    return target.app_id, None


def create_policy(emulator: Emulator, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Property 'displayName' is required.")
    state = body.get("state")
    if state not in _POLICY_STATES:
        raise bad_request("Property 'state' must be 'enabled' or 'disabled' in the emulator (no report-only).")
    conditions = body.get("conditions")
    if not isinstance(conditions, dict):
        raise bad_request("Property 'conditions' is required.")
    if not conditions.get("clientAppTypes"):
        raise bad_request("Property 'conditions.clientAppTypes' is required.")
    applications = conditions.get("applications")
    if not isinstance(applications, dict):
        raise bad_request("Property 'conditions.applications' is required.")
    users = (conditions.get("users") or {}).get("includeUsers")
    controls = body.get("grantControls") or {}
    if users != ["All"]:
        raise bad_request("The emulator supports policies with includeUsers ['All'] only.")
    # External tenants offer block, MFA and password reset as grant controls and no session controls
    # (supported features for customers, entra-notes §13); the emulator enforces MFA.
    if body.get("sessionControls"):
        raise bad_request("Session controls are not available in external tenants.")
    if controls.get("builtInControls") != ["mfa"] or controls.get("operator", "OR") not in {"OR", "AND"}:
        raise bad_request("The emulator supports grantControls builtInControls ['mfa'] only.")
    app_id, context_id = _policy_target(emulator, tenant, applications)
    enabled = state == "enabled"
    if context_id is not None:
        if emulator.store.context_policy_for(tenant.id, context_id) is not None:
            raise bad_request("The emulator keeps one conditional access policy per context; one exists already.")
        emulator.store.upsert_context_policy(tenant.id, name, context_id, enabled=enabled)
        on_context = emulator.store.context_policy_for(tenant.id, context_id)
        assert on_context is not None
        return _policy_resource(on_context)
    assert app_id is not None
    if emulator.store.ca_policy_for_app(tenant.id, app_id) is not None:
        raise bad_request("The emulator keeps one conditional access policy per application; one exists already.")
    emulator.store.upsert_ca_policy(tenant.id, name, app_id, enabled=enabled)
    on_app = emulator.store.ca_policy_for_app(tenant.id, app_id)
    assert on_app is not None
    return _policy_resource(on_app)


def delete_policy(emulator: Emulator, tenant: Tenant, policy_id: str) -> None:
    """Graph's "Delete conditionalAccessPolicy" (204)."""
    if not emulator.store.delete_ca_policy(tenant.id, policy_id):
        raise _not_found(policy_id)


# --- authentication contexts ------------------------------------------------------------------------

# Graph's authenticationContextClassReference: "c1" to "c25" in the resource page the emulator's
# sources quote (newer revisions allow up to c99). UNSURE: the emulator accepts c1 to c99.
_CONTEXT_ID = re.compile(r"^c([1-9]|[1-9][0-9])$")
# Graph's permission tables for authenticationContextClassReference: AuthenticationContext.ReadWrite.All
# or Policy.ReadWrite.ConditionalAccess to write. UNSURE: the read set (the ReadWrite ones, the
# AuthenticationContext.Read.All and Policy.Read.* ones).
READ_CONTEXTS = frozenset(
    {
        "AuthenticationContext.Read.All",
        "AuthenticationContext.ReadWrite.All",
        "Policy.Read.All",
        "Policy.Read.ConditionalAccess",
        "Policy.ReadWrite.ConditionalAccess",
    }
)
WRITE_CONTEXTS = frozenset({"AuthenticationContext.ReadWrite.All", "Policy.ReadWrite.ConditionalAccess"})


def _context_resource(context: AuthContext) -> dict[str, Any]:
    return {
        "id": context.id,
        "displayName": context.display_name,
        "description": context.description,
        "isAvailable": context.is_available,
    }


def list_auth_contexts(emulator: Emulator, tenant: Tenant, raw_filter: str | None) -> list[dict[str, Any]]:
    clauses = parse_filter(raw_filter, {"id", "isAvailable"})
    contexts = [_context_resource(context) for context in emulator.store.list_auth_contexts(tenant.id)]
    return [context for context in contexts if _matches(context, clauses)]


def get_auth_context(emulator: Emulator, tenant: Tenant, context_id: str) -> dict[str, Any]:
    context = emulator.store.get_auth_context(tenant.id, context_id)
    if context is None:
        raise _not_found(context_id)
    return _context_resource(context)


def upsert_auth_context(emulator: Emulator, tenant: Tenant, context_id: str, body: dict[str, Any]) -> bool:
    """Graph's "Create or update authenticationContextClassReference": create the context if the id
    is unused, else update it. True when it was created."""
    if not _CONTEXT_ID.match(context_id):
        raise bad_request(f"'{context_id}' is not a valid authentication context id; use c1 to c99.")
    unknown = set(body) - {"id", "displayName", "description", "isAvailable"} - {
        name for name in body if name.startswith("@odata.")
    }
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' of 'authenticationContextClassReference' is not supported.")
    if "id" in body and body["id"] != context_id:
        raise bad_request("Property 'id' must match the id in the request URL.")
    existing = emulator.store.get_auth_context(tenant.id, context_id)
    display_name = body.get("displayName", existing.display_name if existing else None)
    if not isinstance(display_name, str) or not display_name.strip():
        raise bad_request("Property 'displayName' is required.")
    description = body.get("description", existing.description if existing else None)
    if description is not None and not isinstance(description, str):
        raise bad_request("Property 'description' must be a string.")
    # isAvailable defaults to false (the resource page).
    is_available = body.get("isAvailable", existing.is_available if existing else False)
    if not isinstance(is_available, bool):
        raise bad_request("Property 'isAvailable' must be true or false.")
    return emulator.store.upsert_auth_context(tenant.id, context_id, display_name, description, is_available)
