"""Scope parsing: which resource a request is for, as Entra's v2.0 endpoint decides it.

A v2.0 token request targets exactly one resource. Bare scopes (``User.Read``) and
``https://graph.microsoft.com/...`` are Microsoft Graph; ``api://{appId}/{scope}`` belongs to
that app registration; ``openid profile offline_access email`` are OpenID Connect only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.store import GRAPH_APP_ID, AppRegistration, Store

OIDC_SCOPES = ("openid", "profile", "offline_access", "email")
GRAPH_RESOURCE_URIS = ("https://graph.microsoft.com", GRAPH_APP_ID)
# Delegated Graph permissions the emulator knows; anything else is "not valid" (AADSTS70011).
KNOWN_GRAPH_SCOPES = {
    "user.read": "User.Read",
    "user.readwrite": "User.ReadWrite",
    "user.readbasic.all": "User.ReadBasic.All",
    ".default": ".default",
}
# What the tenant grants for OIDC-only requests and for Graph's .default (consented permission).
DEFAULT_GRAPH_SCOPES = ("User.Read",)


@dataclass(frozen=True)
class ScopeRequest:
    """The parsed ``scope`` parameter of an authorize or token request."""

    raw: str
    oidc_scopes: tuple[str, ...]
    # None = Microsoft Graph; otherwise the API's app registration.
    api: AppRegistration | None
    # Resource scope names as granted (canonical case, no resource prefix).
    resource_scopes: tuple[str, ...]
    # Resource scopes as the client wrote them; echoed in the token response's "scope".
    requested_forms: tuple[str, ...]

    @property
    def is_graph(self) -> bool:
        return self.api is None

    @property
    def audience(self) -> str:
        return GRAPH_APP_ID if self.api is None else self.api.app_id

    def response_scope(self) -> str:
        """The ``scope`` member of the token response (resource scopes first, then OIDC)."""
        granted = list(self.requested_forms) if self.requested_forms else list(self.resource_scopes)
        oidc = [scope for scope in ("openid", "profile", "email", "offline_access") if scope in self.oidc_scopes]
        return " ".join(granted + oidc)


def invalid_scope(raw: str, detail: str | None = None) -> EntraProtocolError:
    message = (
        "The provided request must include a 'scope' input parameter. The provided value for the input "
        f"parameter 'scope' is not valid. The scope {raw} is not valid."
    )
    if detail:
        message = f"{message} {detail}"
    return EntraProtocolError("invalid_scope", 70011, message)


def parse_scope(store: Store, tenant_id: str, raw: str) -> ScopeRequest:
    """Split ``raw`` into OIDC and resource scopes, rejecting what Entra rejects."""
    items = [item for item in raw.split() if item]
    if not items:
        raise EntraProtocolError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
        )
    oidc: list[str] = []
    # resource key -> (app or None, canonical names, forms as written)
    resources: dict[str, tuple[AppRegistration | None, list[str], list[str]]] = {}
    for item in items:
        lowered = item.lower()
        if lowered in OIDC_SCOPES:
            if lowered not in oidc:
                oidc.append(lowered)
            continue
        resource_uri, _, name = item.rpartition("/")
        if not resource_uri:
            resource_key, api, canonical = "graph", None, _graph_scope(raw, name)
        elif resource_uri.lower() in GRAPH_RESOURCE_URIS:
            resource_key, api, canonical = "graph", None, _graph_scope(raw, name)
        else:
            api = _find_api(store, tenant_id, resource_uri)
            if api is None:
                raise EntraProtocolError(
                    "invalid_resource",
                    500011,
                    f"The resource principal named {resource_uri} was not found in the tenant named "
                    f"{tenant_id}. This can happen if the application has not been installed by the "
                    "administrator of the tenant or consented to by any user in the tenant. You might have "
                    "sent your authentication request to the wrong tenant.",
                )
            canonical = _api_scope(raw, api, name)
            resource_key = api.app_id
        entry = resources.setdefault(resource_key, (api, [], []))
        if canonical not in entry[1]:
            entry[1].append(canonical)
            entry[2].append(item)
    if len(resources) > 1:
        raise EntraProtocolError(
            "invalid_scope",
            28000,
            "Provided value for the input parameter scope is not valid because it contains more than one "
            f"resource. Scope {raw} is not valid.",
        )
    if not resources:
        return ScopeRequest(raw, tuple(oidc), None, DEFAULT_GRAPH_SCOPES, ())
    api, canonical_names, forms = next(iter(resources.values()))
    if ".default" in canonical_names:
        granted = tuple(DEFAULT_GRAPH_SCOPES) if api is None else tuple(api.exposed_scopes)
        return ScopeRequest(raw, tuple(oidc), api, granted, tuple(forms))
    return ScopeRequest(raw, tuple(oidc), api, tuple(canonical_names), tuple(forms))


def _graph_scope(raw: str, name: str) -> str:
    canonical = KNOWN_GRAPH_SCOPES.get(name.lower())
    if canonical is None:
        raise invalid_scope(raw)
    return canonical


def _find_api(store: Store, tenant_id: str, resource_uri: str) -> AppRegistration | None:
    lowered = resource_uri.lower()
    app_id = lowered.removeprefix("api://")
    return store.find_app(tenant_id, app_id)


def _api_scope(raw: str, api: AppRegistration, name: str) -> str:
    if name == ".default":
        return ".default"
    for exposed in api.exposed_scopes:
        if exposed.lower() == name.lower():
            return exposed
    raise invalid_scope(raw)
