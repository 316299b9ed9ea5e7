"""Consent: a client gets a delegated scope only if the admin granted it.

Customers of an external tenant are never asked to consent; an admin grants the app's permissions
for all users ("Grant admin consent" in the tutorials that prepare an external tenant,
learn.microsoft.com/entra/external-id/customers/tutorial-web-app-node-sign-in-prepare-tenant).
A grant is an oAuth2PermissionGrant (Graph's oauth2PermissionGrant resource page) from the client's
service principal to the resource's, whose `scope` lists the permissions. The OpenID Connect
scopes (openid, profile, email, offline_access) are Microsoft Graph permissions too, so they need
a grant on Graph's service principal whichever resource the request is for.

The grants are the ones the Graph admin endpoints manage (directory.py); this module only reads them.
"""

from __future__ import annotations

from dataclasses import replace

from ciam_emulator.context import Emulator
from ciam_emulator.directory import first_party_service_principal_id
from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.scopes import KNOWN_GRAPH_SCOPES, ScopeRequest
from ciam_emulator.store import GRAPH_APP_ID, AppRegistration

# Graph's own permissions the emulator can issue, in the order a token lists them.
_GRAPH_RESOURCE_PERMISSIONS = tuple(name for name in KNOWN_GRAPH_SCOPES.values() if name != ".default")


def consent_required_error(client: AppRegistration) -> EntraProtocolError:
    """AADSTS65001 as the token endpoint answers it (Entra's error-code reference: DelegationDoesNotExist)."""
    return EntraProtocolError(
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID '{client.app_id}' named "
        f"'{client.display_name}'. Send an interactive authorization request for this user and resource.",
        extra={"suberror": "consent_required"},
    )


def _granted_scopes(
    emulator: Emulator, tenant_id: str, client_principal_id: str | None, resource_principal_id: str | None, user_id: str
) -> set[str]:
    """What the grants from the client to the resource allow for this user: the tenant-wide one
    (consentType AllPrincipals) plus any an admin made for this user alone (consentType Principal)."""
    if client_principal_id is None or resource_principal_id is None:
        return set()
    granted: set[str] = set()
    for grant in emulator.directory.list_grants(tenant_id):
        if grant.client_id.lower() != client_principal_id.lower():
            continue
        if grant.resource_id.lower() != resource_principal_id.lower():
            continue
        if grant.consent_type == "AllPrincipals" or (
            grant.consent_type == "Principal" and (grant.principal_id or "").lower() == user_id.lower()
        ):
            granted.update(grant.scope.split())
    return granted


def _asks_for_default(scopes: ScopeRequest) -> bool:
    return any(form.rsplit("/", 1)[-1].lower() == ".default" for form in scopes.requested_forms)


def consented_request(
    emulator: Emulator, tenant_id: str, client: AppRegistration, user_id: str, scopes: ScopeRequest
) -> ScopeRequest | None:
    """``scopes`` as the grants allow them for this user, or None when any requested scope lacks a grant.

    `.default` (and a request with OpenID Connect scopes only, for Graph) gets what was consented, as
    the static-consent model of `.default` says (Entra's "scopes and permissions" page). UNSURE: that an
    OIDC-only request's Graph token carries every consented Graph permission.
    """
    client_principal = emulator.directory.service_principal_for_app(tenant_id, client.app_id)
    client_principal_id = client_principal.id if client_principal else None
    graph_granted = _granted_scopes(
        emulator, tenant_id, client_principal_id, first_party_service_principal_id(tenant_id, GRAPH_APP_ID), user_id
    )
    if any(scope not in graph_granted for scope in scopes.oidc_scopes):
        return None
    if scopes.api is None:
        if _asks_for_default(scopes) or not scopes.requested_forms:
            consented = tuple(name for name in _GRAPH_RESOURCE_PERMISSIONS if name in graph_granted)
            if _asks_for_default(scopes) and not consented:
                return None
            return replace(scopes, resource_scopes=consented)
        return scopes if all(scope in graph_granted for scope in scopes.resource_scopes) else None
    api_principal = emulator.directory.service_principal_for_app(tenant_id, scopes.api.app_id)
    api_granted = _granted_scopes(
        emulator, tenant_id, client_principal_id, api_principal.id if api_principal else None, user_id
    )
    if _asks_for_default(scopes):
        consented = tuple(name for name in scopes.api.exposed_scopes if name in api_granted)
        return replace(scopes, resource_scopes=consented) if consented else None
    return scopes if all(scope in api_granted for scope in scopes.resource_scopes) else None


def require_consent(
    emulator: Emulator, tenant_id: str, client: AppRegistration, user_id: str, scopes: ScopeRequest
) -> ScopeRequest:
    """Like consented_request, but a missing grant is AADSTS65001 (no consent, no token)."""
    allowed = consented_request(emulator, tenant_id, client, user_id, scopes)
    if allowed is None:
        raise consent_required_error(client)
    return allowed
