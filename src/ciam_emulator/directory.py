"""Directory objects that exist only for Microsoft Graph's admin API.

The sign-in code needs little of an app registration (its redirect URIs, secrets, exposed
scopes), and Store keeps exactly that. Graph shows and accepts more: an object id distinct from
the appId, identifierUris, scope ids, requiredResourceAccess, optionalClaims, the metadata of
password credentials; and it has service principals and delegated permission grants. Those live
here, in their own tables of the same SQLite file, so the store's schema stays as the sign-in
code needs it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ciam_emulator.store import Store, new_guid

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_applications (
    app_id TEXT PRIMARY KEY REFERENCES apps(app_id),
    object_id TEXT NOT NULL UNIQUE,
    properties TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_service_principals (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant_id, app_id)
);
CREATE TABLE IF NOT EXISTS graph_permission_grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    consent_type TEXT NOT NULL,
    principal_id TEXT,
    resource_id TEXT NOT NULL,
    scope TEXT NOT NULL
);
"""

# Service principals of Microsoft's own apps exist in every tenant; their object ids differ per
# tenant, so the emulator derives them from the tenant id.
_FIRST_PARTY_NAMESPACE = uuid.UUID("6f3c1f2e-8d8b-4c55-9a44-2f1c0c6e7b10")


def first_party_service_principal_id(tenant_id: str, app_id: str) -> str:
    return str(uuid.uuid5(_FIRST_PARTY_NAMESPACE, f"{tenant_id}:{app_id}"))


@dataclass(frozen=True)
class ServicePrincipal:
    id: str
    tenant_id: str
    app_id: str


@dataclass(frozen=True)
class PermissionGrant:
    id: str
    tenant_id: str
    client_id: str
    consent_type: str
    principal_id: str | None
    resource_id: str
    scope: str


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.connection().executescript(_SCHEMA)

    # --- Graph properties of applications ------------------------------------------------

    def application_properties(self, app_id: str) -> tuple[str, dict[str, Any]]:
        """The app's Graph object id and stored Graph properties (created on first use)."""
        conn = self.store.connection()
        conn.execute(
            "INSERT INTO graph_applications (app_id, object_id, properties) VALUES (?, ?, '{}') "
            "ON CONFLICT (app_id) DO NOTHING",
            (app_id, new_guid()),
        )
        row = conn.execute(
            "SELECT object_id, properties FROM graph_applications WHERE app_id = ?", (app_id,)
        ).fetchone()
        return row["object_id"], json.loads(row["properties"])

    def save_application_properties(self, app_id: str, properties: dict[str, Any]) -> None:
        self.application_properties(app_id)  # make sure the row exists
        self.store.connection().execute(
            "UPDATE graph_applications SET properties = ? WHERE app_id = ?", (json.dumps(properties), app_id)
        )

    def optional_claim_names(self, app_id: str, token_type: str = "idToken") -> frozenset[str]:  # noqa: S107 - a token type, not a secret
        """The names in the registration's ``optionalClaims.{token_type}`` (Graph's optionalClaims):
        the one place the token code and Graph's admin endpoints read and write them."""
        _, properties = self.application_properties(app_id)
        claims = (properties.get("optionalClaims") or {}).get(token_type) or []
        return frozenset(str(claim["name"]) for claim in claims if isinstance(claim, dict) and claim.get("name"))

    def app_id_for_object_id(self, object_id: str) -> str | None:
        row = (
            self.store.connection()
            .execute("SELECT app_id FROM graph_applications WHERE lower(object_id) = ?", (object_id.strip().lower(),))
            .fetchone()
        )
        return row["app_id"] if row else None

    # --- service principals ----------------------------------------------------------------

    def create_service_principal(self, tenant_id: str, app_id: str) -> ServicePrincipal | None:
        """None when the app already has one (Graph answers that with a conflict)."""
        principal = ServicePrincipal(id=new_guid(), tenant_id=tenant_id, app_id=app_id)
        cursor = self.store.connection().execute(
            "INSERT INTO graph_service_principals (id, tenant_id, app_id, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, app_id) DO NOTHING",
            (principal.id, tenant_id, app_id, time.time()),
        )
        return principal if cursor.rowcount == 1 else None

    def list_service_principals(self, tenant_id: str) -> list[ServicePrincipal]:
        rows = self.store.connection().execute(
            "SELECT id, tenant_id, app_id FROM graph_service_principals WHERE tenant_id = ? ORDER BY created_at",
            (tenant_id,),
        )
        return [ServicePrincipal(id=row["id"], tenant_id=row["tenant_id"], app_id=row["app_id"]) for row in rows]

    def service_principal_for_app(self, tenant_id: str, app_id: str) -> ServicePrincipal | None:
        """The service principal of one of the tenant's own apps (Microsoft's first-party ones are not stored)."""
        row = (
            self.store.connection()
            .execute(
                "SELECT id, tenant_id, app_id FROM graph_service_principals WHERE tenant_id = ? AND lower(app_id) = ?",
                (tenant_id, app_id.strip().lower()),
            )
            .fetchone()
        )
        return ServicePrincipal(id=row["id"], tenant_id=row["tenant_id"], app_id=row["app_id"]) if row else None

    # --- delegated permission grants (oauth2PermissionGrants) ---------------------------------

    def create_grant(
        self,
        tenant_id: str,
        *,
        client_id: str,
        consent_type: str,
        principal_id: str | None,
        resource_id: str,
        scope: str,
    ) -> PermissionGrant:
        grant = PermissionGrant(
            id=new_guid(),
            tenant_id=tenant_id,
            client_id=client_id,
            consent_type=consent_type,
            principal_id=principal_id,
            resource_id=resource_id,
            scope=scope,
        )
        self.store.connection().execute(
            "INSERT INTO graph_permission_grants (id, tenant_id, client_id, consent_type, principal_id, "
            "resource_id, scope) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (grant.id, tenant_id, client_id, consent_type, principal_id, resource_id, scope),
        )
        return grant

    def list_grants(self, tenant_id: str) -> list[PermissionGrant]:
        rows = self.store.connection().execute(
            "SELECT * FROM graph_permission_grants WHERE tenant_id = ? ORDER BY rowid", (tenant_id,)
        )
        return [PermissionGrant(**{name: row[name] for name in PermissionGrant.__dataclass_fields__}) for row in rows]

    def update_grant_scope(self, grant_id: str, scope: str) -> None:
        self.store.connection().execute("UPDATE graph_permission_grants SET scope = ? WHERE id = ?", (scope, grant_id))

    def delete_grant(self, grant_id: str) -> None:
        self.store.connection().execute("DELETE FROM graph_permission_grants WHERE id = ?", (grant_id,))
