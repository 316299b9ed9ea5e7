"""What the two registrations, the consent, the authentication context and the policies should look
like, as Graph request bodies.

Pure functions (no HTTP), so the shapes can be unit-tested. ``merge_*`` functions add what is
missing to what the tenant already has and never remove anything a person added.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

# Microsoft Graph's delegated permission (scope) ids; they are the same in every tenant. Checked
# against several independent public app-registration scripts and templates (Terraform, Bicep,
# az CLI), which agree; not re-read on Microsoft's permissions reference page itself. At run time
# the tool also reads Graph's service principal and stops if an id is not published there.
GRAPH_SCOPE_IDS = {
    "openid": "37f7f235-527c-4136-accd-4a02d197296e",
    "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    "profile": "14dad69e-099b-42c9-810b-d002981feec1",
    "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
    "User.ReadWrite": "b4e74841-8e56-480b-be8b-910348b18b4c",
}
# The web app signs users in (openid, profile, offline_access: MSAL asks for all three at every
# sign-in, and in an external tenant customers cannot consent, so these need admin consent too) and
# reads/edits their profile.
WEB_APP_GRAPH_SCOPES = ("openid", "profile", "offline_access", "User.Read", "User.ReadWrite")

# The mfa-app, a web API, edits the profile through Graph on behalf of the customer (on-behalf-of):
# its own delegated User.ReadWrite, with the OpenID Connect scopes MSAL adds to every request.
MFA_APP_GRAPH_SCOPES = ("openid", "profile", "offline_access", "User.ReadWrite")

MFA_SCOPE_VALUE = "User.MFA"
LOGIN_HINT_CLAIM = "login_hint"
# The API's access tokens carry the client's capabilities (cp1) only when the API's registration asks
# for this optional claim (Entra's claims-challenge doc); the API sends claims challenges only then.
CLIENT_CAPABILITIES_CLAIM = "xms_cc"
AUTH_CONTEXT_ID = "c1"
# What earlier releases named the web app registration; a registration under it is renamed, not duplicated.
LEGACY_WEB_APP_NAME = "ciam-webapp"


def default_web_app_name(tenant_subdomain: str) -> str:
    """Customers see the web app's display name on the tenant's pages: the tenant's name by default."""
    return tenant_subdomain.strip().capitalize()


def odata_string(value: str) -> str:
    """A string literal for $filter: single quotes, with embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def filter_display_name(name: str) -> str:
    return f"displayName eq {odata_string(name)}"


def filter_identifier_uri(uri: str) -> str:
    return f"identifierUris/any(x:x eq {odata_string(uri)})"


def filter_app_id(app_id: str) -> str:
    return f"appId eq {odata_string(app_id)}"


def filter_tenant_wide_grant(client_principal_id: str, resource_principal_id: str) -> str:
    return (
        f"clientId eq {odata_string(client_principal_id)} and consentType eq 'AllPrincipals' "
        f"and resourceId eq {odata_string(resource_principal_id)}"
    )


def identifier_uri(app_id: str) -> str:
    return f"api://{app_id}"


# --- mfa-app ----------------------------------------------------------------------------------


def mfa_scope_definition(scope_id: str | None = None) -> dict[str, Any]:
    return {
        "id": scope_id or str(uuid.uuid4()),
        "value": MFA_SCOPE_VALUE,
        "type": "User",
        "isEnabled": True,
        "adminConsentDisplayName": "Edit the profile after multifactor authentication",
        "adminConsentDescription": "Lets the web app edit the signed-in customer's profile once they have done MFA.",
        "userConsentDisplayName": "Edit your profile after multifactor authentication",
        "userConsentDescription": "Lets the app edit your profile once you have done MFA.",
    }


def mfa_app_resource_access() -> list[dict[str, Any]]:
    return [
        {
            "resourceAppId": GRAPH_APP_ID,
            "resourceAccess": [{"id": GRAPH_SCOPE_IDS[name], "type": "Scope"} for name in MFA_APP_GRAPH_SCOPES],
        }
    ]


def new_mfa_app_body(display_name: str) -> dict[str, Any]:
    # identifierUris needs the appId, which exists only after creation: it is set by a PATCH.
    return {
        "displayName": display_name,
        "signInAudience": "AzureADMyOrg",
        "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [mfa_scope_definition()]},
        "requiredResourceAccess": mfa_app_resource_access(),
        "optionalClaims": merge_optional_claim(None, "accessToken", CLIENT_CAPABILITIES_CLAIM),
    }


def mfa_app_changes(application: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body that brings an existing mfa-app to the wanted shape ({} if it is already)."""
    changes: dict[str, Any] = {}
    wanted_uri = identifier_uri(application["appId"])
    uris = list(application.get("identifierUris") or [])
    if wanted_uri not in uris:
        changes["identifierUris"] = [*uris, wanted_uri]
    api = application.get("api") or {}
    scopes = [dict(scope) for scope in api.get("oauth2PermissionScopes") or []]
    mfa_scope = next((scope for scope in scopes if scope.get("value") == MFA_SCOPE_VALUE), None)
    api_changes: dict[str, Any] = {}
    if mfa_scope is None:
        api_changes["oauth2PermissionScopes"] = [*scopes, mfa_scope_definition()]
    elif not mfa_scope.get("isEnabled"):
        mfa_scope["isEnabled"] = True
        api_changes["oauth2PermissionScopes"] = scopes
    if api.get("requestedAccessTokenVersion") != 2:
        api_changes["requestedAccessTokenVersion"] = 2
    if api_changes:
        changes["api"] = api_changes
    have_access = application.get("requiredResourceAccess") or []
    merged_access = merge_resource_access(have_access, mfa_app_resource_access())
    if merged_access != merge_resource_access(have_access, []):
        changes["requiredResourceAccess"] = merged_access
    have_claims = application.get("optionalClaims")
    merged_claims = merge_optional_claim(have_claims, "accessToken", CLIENT_CAPABILITIES_CLAIM)
    if len(merged_claims["accessToken"]) != len((have_claims or {}).get("accessToken") or []):
        changes["optionalClaims"] = merged_claims
    return changes


def mfa_scope_id(application: dict[str, Any]) -> str:
    for scope in (application.get("api") or {}).get("oauth2PermissionScopes") or []:
        if scope.get("value") == MFA_SCOPE_VALUE:
            return scope["id"]
    raise KeyError(MFA_SCOPE_VALUE)


# --- web app ---------------------------------------------------------------------------------


def wanted_resource_access(mfa_app_id: str, mfa_scope_id_: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceAppId": GRAPH_APP_ID,
            "resourceAccess": [{"id": GRAPH_SCOPE_IDS[name], "type": "Scope"} for name in WEB_APP_GRAPH_SCOPES],
        },
        {"resourceAppId": mfa_app_id, "resourceAccess": [{"id": mfa_scope_id_, "type": "Scope"}]},
    ]


def merge_resource_access(existing: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = [
        {"resourceAppId": entry["resourceAppId"], "resourceAccess": [dict(a) for a in entry.get("resourceAccess", [])]}
        for entry in existing
    ]
    for want in wanted:
        entry = next((e for e in merged if e["resourceAppId"].lower() == want["resourceAppId"].lower()), None)
        if entry is None:
            merged.append({"resourceAppId": want["resourceAppId"], "resourceAccess": []})
            entry = merged[-1]
        have = {(a["id"].lower(), a["type"]) for a in entry["resourceAccess"]}
        entry["resourceAccess"].extend(a for a in want["resourceAccess"] if (a["id"].lower(), a["type"]) not in have)
    return merged


def merge_optional_claim(existing: dict[str, Any] | None, token_type: str, name: str) -> dict[str, Any]:
    """``existing`` optional claims plus ``name`` in ``token_type``, keeping everything a person added."""
    merged = {
        kind: [dict(claim) for claim in (existing or {}).get(kind) or []]
        for kind in ("idToken", "accessToken", "saml2Token")
    }
    if not any(claim.get("name") == name for claim in merged[token_type]):
        merged[token_type].append({"name": name, "source": None, "essential": False, "additionalProperties": []})
    return merged


def merge_optional_claims(existing: dict[str, Any] | None) -> dict[str, Any]:
    """Add the ID token's login_hint claim: sign-out sends it back as logout_hint."""
    return merge_optional_claim(existing, "idToken", LOGIN_HINT_CLAIM)


def wanted_redirect_uris(redirect_uri: str, post_logout_redirect_uri: str) -> list[str]:
    # Entra accepts a post_logout_redirect_uri only if it is one of the app's redirect URIs; Graph's
    # web.logoutUrl is something else (the front-channel logout URL), so it is left alone.
    return list(dict.fromkeys([redirect_uri, post_logout_redirect_uri]))


def new_web_app_body(
    display_name: str, redirect_uris: list[str], resource_access: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "displayName": display_name,
        "signInAudience": "AzureADMyOrg",
        "web": {"redirectUris": redirect_uris},
        "requiredResourceAccess": resource_access,
        "optionalClaims": merge_optional_claims(None),
    }


def web_app_changes(
    application: dict[str, Any],
    redirect_uris: list[str],
    resource_access: list[dict[str, Any]],
    *,
    display_name: str | None = None,
) -> dict[str, Any]:
    """The PATCH body that brings an existing web app to the wanted shape ({} if it is already)."""
    changes: dict[str, Any] = {}
    if display_name and application.get("displayName") != display_name:
        changes["displayName"] = display_name
    have_uris = list((application.get("web") or {}).get("redirectUris") or [])
    if any(uri not in have_uris for uri in redirect_uris):
        changes["web"] = {"redirectUris": have_uris + [uri for uri in redirect_uris if uri not in have_uris]}
    have_access = application.get("requiredResourceAccess") or []
    merged_access = merge_resource_access(have_access, resource_access)
    if merged_access != merge_resource_access(have_access, []):
        changes["requiredResourceAccess"] = merged_access
    merged_claims = merge_optional_claims(application.get("optionalClaims"))
    have_id_claims = ((application.get("optionalClaims") or {}).get("idToken")) or []
    if len(merged_claims["idToken"]) != len(have_id_claims):
        changes["optionalClaims"] = merged_claims
    return changes


def password_body(display_name: str, end_date_time: str) -> dict[str, Any]:
    return {"passwordCredential": {"displayName": display_name, "endDateTime": end_date_time}}


# --- consent and conditional access ------------------------------------------------------------


def tenant_wide_grant_body(client_principal_id: str, resource_principal_id: str, scopes: list[str]) -> dict[str, Any]:
    return {
        "clientId": client_principal_id,
        "consentType": "AllPrincipals",
        "resourceId": resource_principal_id,
        "scope": " ".join(scopes),
    }


def missing_scopes(granted: str | None, wanted: list[str]) -> list[str]:
    have = set((granted or "").split())
    return [scope for scope in wanted if scope not in have]


def mfa_policy_body(display_name: str, mfa_app_id: str) -> dict[str, Any]:
    return {
        "displayName": display_name,
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {"includeApplications": [mfa_app_id]},
            "users": {"includeUsers": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


def policy_requires_mfa_for(policy: dict[str, Any], mfa_app_id: str) -> bool:
    conditions = policy.get("conditions") or {}
    apps = (conditions.get("applications") or {}).get("includeApplications") or []
    controls = (policy.get("grantControls") or {}).get("builtInControls") or []
    return mfa_app_id in apps and "mfa" in controls


# --- authentication context and its policy -------------------------------------------------------


def auth_context_body(context_id: str) -> dict[str, Any]:
    """Graph's authenticationContextClassReference, published to apps (isAvailable)."""
    return {
        "id": context_id,
        "displayName": "Profile changes",
        "description": "Changing the customer's profile requires multifactor authentication.",
        "isAvailable": True,
    }


def context_policy_body(display_name: str, context_id: str) -> dict[str, Any]:
    return {
        "displayName": display_name,
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "applications": {"includeAuthenticationContextClassReferences": [context_id]},
            "users": {"includeUsers": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


def policy_requires_mfa_for_context(policy: dict[str, Any], context_id: str) -> bool:
    conditions = policy.get("conditions") or {}
    contexts = (conditions.get("applications") or {}).get("includeAuthenticationContextClassReferences") or []
    controls = (policy.get("grantControls") or {}).get("builtInControls") or []
    return context_id in contexts and "mfa" in controls


# --- the user flow, its custom attributes, and email one-time passcode ---------------------------------
# Graph's shapes for these are from its v1.0 reference pages (authenticationEventsFlow,
# externalUsersSelfServiceSignUpEventsFlow, identityUserFlowAttribute, emailAuthenticationMethodConfiguration);
# they were checked against the local emulator only, not against a real tenant (see the README).

FLOW_TYPE = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow"
SIGN_IN_METHODS = {"email_password": "EmailPassword-OAUTH", "email_otp": "EmailOtpSignup-OAUTH"}
EMAIL_METHOD_PATH = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
ALL_USERS = "all_users"


@dataclass(frozen=True)
class CustomAttribute:
    name: str
    description: str
    data_type: str


# The product's own custom attribute: an optional membership number collected at sign-up.
MEMBERSHIP_NUMBER = CustomAttribute("MembershipNumber", "The customer's membership number", "string")
CUSTOM_ATTRIBUTES = (MEMBERSHIP_NUMBER,)


def default_user_flow_name(web_app_name: str) -> str:
    return f"{web_app_name} sign-up and sign-in"


def sign_up_inputs(custom_ids: dict[str, str]) -> list[dict[str, Any]]:
    """What sign-up asks for, in order (built-in attributes by id, custom ones by their extension id)."""

    def text(attribute: str, label: str, *, required: bool = False) -> dict[str, Any]:
        return {
            "attribute": attribute,
            "label": label,
            "inputType": "text",
            "required": required,
            "editable": True,
            "hidden": False,
            "writeToDirectory": True,
        }

    return [
        text("displayName", "Display name", required=True),
        text("givenName", "Given name"),
        text("surname", "Surname"),
        text("city", "City"),
        text("country", "Country or region"),
        text(custom_ids[MEMBERSHIP_NUMBER.name], "Membership number"),
    ]


def attribute_collection(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
        "attributes": [{"id": "email"}, *({"id": item["attribute"]} for item in inputs)],
        "attributeCollectionPage": {"views": [{"inputs": inputs}]},
    }


def method_handler(sign_in_method: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
        "identityProviders": [{"id": SIGN_IN_METHODS[sign_in_method]}],
    }


def new_user_flow_body(name: str, sign_in_method: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@odata.type": FLOW_TYPE,
        "displayName": name,
        "onInteractiveAuthFlowStart": {
            "@odata.type": "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp",
            "isSignUpAllowed": True,
        },
        "onAuthenticationMethodLoadStart": method_handler(sign_in_method),
        "onAttributeCollection": attribute_collection(inputs),
        "onUserCreateStart": {
            "@odata.type": "#microsoft.graph.onUserCreateStartExternalUsersSelfServiceSignUp",
            "userTypeToCreate": "member",
        },
    }


def user_flow_changes(flow: dict[str, Any], sign_in_method: str, wanted: list[dict[str, Any]]) -> dict[str, Any]:
    """The PATCH body ({} when nothing is missing). A PATCH of the inputs replaces the list, so the
    inputs a person added are sent again, and the wanted ones that are missing are added after them."""
    changes: dict[str, Any] = {}
    handler = flow.get("onAuthenticationMethodLoadStart") or {}
    providers = [provider.get("id") for provider in handler.get("identityProviders") or []]
    if providers != [SIGN_IN_METHODS[sign_in_method]]:
        changes["onAuthenticationMethodLoadStart"] = method_handler(sign_in_method)
    views = ((flow.get("onAttributeCollection") or {}).get("attributeCollectionPage") or {}).get("views") or [{}]
    have = list(views[0].get("inputs") or [])
    have_ids = {item.get("attribute", "").lower() for item in have}
    missing = [item for item in wanted if item["attribute"].lower() not in have_ids]
    if missing:
        changes["onAttributeCollection"] = attribute_collection(have + missing)
    if changes:
        changes = {"@odata.type": FLOW_TYPE, **changes}
    return changes


def email_method_changes(configuration: dict[str, Any]) -> dict[str, Any]:
    """Email one-time passcode enabled for all users (what SSPR and email OTP as MFA need), keeping targets."""
    targets = list(configuration.get("includeTargets") or [])
    if configuration.get("state") == "enabled" and any(t.get("id") == ALL_USERS for t in targets):
        return {}
    if not any(t.get("id") == ALL_USERS for t in targets):
        targets.append({"targetType": "group", "id": ALL_USERS, "isRegistrationRequired": False})
    return {
        "@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration",
        "state": "enabled",
        "includeTargets": targets,
    }


def mapped_claim(existing: dict[str, Any] | None, extension_id: str) -> dict[str, Any]:
    """``existing`` optional claims plus the custom attribute in the ID token (a directory extension,
    source "user", as Entra's optional-claims doc configures them)."""
    merged = merge_optional_claim(existing, "idToken", extension_id)
    for claim in merged["idToken"]:
        if claim["name"] == extension_id:
            claim["source"] = "user"
    return merged
