"""The emulator's Microsoft Graph admin endpoints, called as the tenant's admin would (as ciam-register does)."""

from __future__ import annotations

from typing import Any

import requests


class GraphAdminClient:
    def __init__(self, graph_base_url: str, token: str, http: requests.Session) -> None:
        self.base = graph_base_url.rstrip("/")
        self.token = token
        self.http = http

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return self.http.request(
            method,
            f"{self.base}/{path}",
            json=body,
            params=params or None,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def ok(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self.call(method, path, body, **params)
        assert response.status_code in (200, 201, 204), response.text
        return response.json() if response.content else None

    def service_principal_id(self, app_id: str) -> str:
        (principal,) = self.ok("GET", "servicePrincipals", **{"$filter": f"appId eq '{app_id}'"})["value"]
        return principal["id"]

    def tenant_wide_grant(self, client_app_id: str, resource_app_id: str) -> dict[str, Any]:
        """The AllPrincipals grant from one app's service principal to another's."""
        client = self.service_principal_id(client_app_id)
        resource = self.service_principal_id(resource_app_id)
        odata_filter = f"clientId eq '{client}' and resourceId eq '{resource}' and consentType eq 'AllPrincipals'"
        (grant,) = self.ok("GET", "oauth2PermissionGrants", **{"$filter": odata_filter})["value"]
        return grant
