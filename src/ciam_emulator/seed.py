"""Creates (idempotently) the demo tenant, its two app registrations, the demo user, the authentication
context and the CA policies."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values, set_key

from ciam_emulator import graph_admin, user_flows
from ciam_emulator.client_assertions import certificate_credential
from ciam_emulator.context import Emulator
from ciam_emulator.directory import Directory
from ciam_emulator.settings import EmulatorSettings
from ciam_emulator.store import GRAPH_APP_ID, AppRegistration, Store, Tenant

# Earlier releases named the web app registration "ciam-webapp"; hosted pages show the registration's
# display name to customers, so it is now a friendly name (the tenant's), and an old one is renamed.
LEGACY_WEB_APP_NAME = "ciam-webapp"
MFA_APP_NAME = "mfa-app"
MFA_SCOPE_NAME = "User.MFA"
MFA_POLICY_NAME = "Require MFA for mfa-app"
DEMO_EMAIL_LOCAL_PART = "demo"
DEMO_DISPLAY_NAME = "Demo User"
# A documented demo password (this is a local emulator), so re-seeding never needs to print a new one.
DEMO_PASSWORD = "Demo-Passw0rd!"  # noqa: S105 - documented demo credential
# The web app's admin consent on Microsoft Graph: sign-in (MSAL always asks for openid, profile and
# offline_access, and customers cannot consent to them), then reading and editing the profile.
WEB_APP_GRAPH_PERMISSIONS = ("openid", "profile", "offline_access", "User.Read", "User.ReadWrite")
# The mfa-app as a web API edits the profile on behalf of the customer (on-behalf-of): its own
# delegated Graph permission, consented by the admin (customers cannot consent), plus the OpenID
# Connect scopes MSAL adds to every request.
MFA_APP_GRAPH_PERMISSIONS = ("openid", "profile", "offline_access", "User.ReadWrite")
# The authentication context the API can require, and the policy that makes it mean "MFA done".
AUTH_CONTEXT_ID = "c1"
AUTH_CONTEXT_NAME = "Profile changes"
AUTH_CONTEXT_DESCRIPTION = "Changing the customer's profile requires multifactor authentication."
AUTH_CONTEXT_POLICY_NAME = "Require MFA for profile changes (c1)"


@dataclass(frozen=True)
class SeedResult:
    tenant_id: str
    tenant_subdomain: str
    client_id: str
    # Plaintext only when a secret was created by this call; None means "keep the one you have".
    client_secret: str | None
    mfa_app_id: str
    # The mfa-app API's secret, likewise only when this call created one.
    api_client_secret: str | None
    demo_email: str
    demo_password: str
    redirect_uri: str
    post_logout_redirect_uri: str

    @property
    def mfa_scope(self) -> str:
        return f"api://{self.mfa_app_id}/{MFA_SCOPE_NAME}"


def _merged(existing: list[str], wanted: Iterable[str]) -> list[str]:
    merged = list(existing)
    merged.extend(uri for uri in wanted if uri not in merged)
    return merged


def web_app_display_name(subdomain: str) -> str:
    """The name customers see for the web app: the tenant's own (``contoso`` -> ``Contoso``)."""
    return subdomain.capitalize()


def _find_web_app(store: Store, tenant_id: str, display_name: str) -> AppRegistration | None:
    """The web app registration under its name, or under the old name (then renamed): never a second one."""
    found = store.find_app_by_name(tenant_id, display_name)
    if found is None and display_name != LEGACY_WEB_APP_NAME:
        found = store.find_app_by_name(tenant_id, LEGACY_WEB_APP_NAME)
        if found is not None:
            store.rename_app(found.app_id, display_name)
            found = store.find_app(tenant_id, found.app_id)
    return found


def _ask_for_optional_claim(store: Store, app_id: str, token_type: str, name: str) -> None:
    """Add an optional claim to the registration, keeping any other; stored where Graph's admin
    endpoints keep optionalClaims."""
    directory = Directory(store)
    _, properties = directory.application_properties(app_id)
    optional = dict(properties.get("optionalClaims") or {})
    claims = list(optional.get(token_type) or [])
    if not any(claim.get("name") == name for claim in claims):
        claims.append({"additionalProperties": [], "essential": False, "name": name, "source": None})
        for other in ("idToken", "accessToken", "saml2Token"):
            optional.setdefault(other, [])
        properties["optionalClaims"] = {**optional, token_type: claims}
        directory.save_application_properties(app_id, properties)


def _ask_for_login_hint(store: Store, app_id: str) -> None:
    """The ID token's optional claim login_hint: sign-out sends it back as logout_hint."""
    _ask_for_optional_claim(store, app_id, "idToken", "login_hint")


def seed(
    instance_dir: Path,
    *,
    app_base_url: str = "http://localhost:5000",
    subdomain: str = "contoso",
    extra_redirect_uris: Iterable[str] = (),
    extra_post_logout_redirect_uris: Iterable[str] = (),
    rotate_secret: bool = False,
    client_certificate_pem: str | None = None,
    rotate_api_secret: bool = False,
) -> SeedResult:
    """Create what is missing; keep what exists (new redirect URIs are added to the web app).

    ``client_certificate_pem`` (a certificate's public part) is registered as a certificate credential of
    the web app, next to its secret, as uploading it under "Certificates & secrets" would.
    """
    app_base_url = app_base_url.rstrip("/")
    redirect_uri = f"{app_base_url}/auth/redirect"
    post_logout_redirect_uri = f"{app_base_url}/"
    store = Store(Path(instance_dir) / "emulator.sqlite3")
    try:
        tenant = store.find_tenant_by_subdomain(subdomain)
        if tenant is None:
            tenant = store.create_tenant(subdomain, subdomain.capitalize())

        client_secret: str | None = None
        web_app_name = web_app_display_name(tenant.subdomain)
        web_app = _find_web_app(store, tenant.id, web_app_name)
        if web_app is None:
            web_app = store.create_app(
                tenant.id,
                web_app_name,
                redirect_uris=_merged([redirect_uri], extra_redirect_uris),
                post_logout_redirect_uris=_merged([post_logout_redirect_uri], extra_post_logout_redirect_uris),
            )
            client_secret = store.add_client_secret(web_app.app_id)
        else:
            store.update_app_uris(
                web_app.app_id,
                _merged(web_app.redirect_uris, [redirect_uri, *extra_redirect_uris]),
                _merged(
                    web_app.post_logout_redirect_uris, [post_logout_redirect_uri, *extra_post_logout_redirect_uris]
                ),
            )
            if rotate_secret:
                client_secret = store.add_client_secret(web_app.app_id)
        if client_certificate_pem is not None:
            store.add_client_certificate(certificate_credential(web_app.app_id, client_certificate_pem))
        _ask_for_login_hint(store, web_app.app_id)

        mfa_app = store.find_app_by_name(tenant.id, MFA_APP_NAME)
        if mfa_app is None:
            mfa_app = store.create_app(tenant.id, MFA_APP_NAME, exposed_scopes=[MFA_SCOPE_NAME], access_token_version=2)
        elif mfa_app.access_token_version != 2:
            store.update_app_api(mfa_app.app_id, list(mfa_app.exposed_scopes), 2)
        api_client_secret: str | None = None
        if rotate_api_secret or not store.has_client_secret(mfa_app.app_id):
            api_client_secret = store.add_client_secret(mfa_app.app_id)
        _ask_for_optional_claim(store, mfa_app.app_id, "accessToken", "xms_cc")
        store.upsert_ca_policy(tenant.id, MFA_POLICY_NAME, mfa_app.app_id, enabled=True)
        if store.get_auth_context(tenant.id, AUTH_CONTEXT_ID) is None:
            store.upsert_auth_context(
                tenant.id, AUTH_CONTEXT_ID, AUTH_CONTEXT_NAME, AUTH_CONTEXT_DESCRIPTION, is_available=True
            )
        store.upsert_context_policy(tenant.id, AUTH_CONTEXT_POLICY_NAME, AUTH_CONTEXT_ID, enabled=True)
        # Self-service password reset needs email OTP enabled for all users (notes §13), as ciam-register sets it.
        if not user_flows.email_otp_for_all_users(store, tenant.id):
            user_flows.update_email_method(
                store, tenant.id, {"state": "enabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]}
            )

        demo_email = f"{DEMO_EMAIL_LOCAL_PART}@{tenant.subdomain}.example"
        if store.find_user_by_email(tenant.id, demo_email) is None:
            store.create_user(
                tenant.id, demo_email, DEMO_PASSWORD, DEMO_DISPLAY_NAME, given_name="Demo", surname="User"
            )
    finally:
        store.close_thread_connection()
    grant_admin_consent(Path(instance_dir), tenant, web_app_id=web_app.app_id, mfa_app_id=mfa_app.app_id)
    return SeedResult(
        tenant_id=tenant.id,
        tenant_subdomain=tenant.subdomain,
        client_id=web_app.app_id,
        client_secret=client_secret,
        mfa_app_id=mfa_app.app_id,
        api_client_secret=api_client_secret,
        demo_email=demo_email,
        demo_password=DEMO_PASSWORD,
        redirect_uri=redirect_uri,
        post_logout_redirect_uri=post_logout_redirect_uri,
    )


def grant_admin_consent(instance_dir: Path, tenant: Tenant, *, web_app_id: str, mfa_app_id: str) -> None:
    """Service principals and tenant-wide grants, as `ciam-register` makes them through Graph.

    Customers cannot consent in an external tenant, so without these no token is issued. The same
    Graph admin code the emulator's endpoints run does the work (graph_admin.py); like ciam-register,
    this creates what is missing and only ever adds scopes to an existing grant.
    """
    emulator = Emulator.open(EmulatorSettings(instance_dir=instance_dir, base_url="https://localhost"))
    try:
        web_principal = _ensure_service_principal(emulator, tenant, web_app_id)
        mfa_principal = _ensure_service_principal(emulator, tenant, mfa_app_id)
        graph_principal = _ensure_service_principal(emulator, tenant, GRAPH_APP_ID)
        _ensure_tenant_wide_grant(emulator, tenant, web_principal, graph_principal, WEB_APP_GRAPH_PERMISSIONS)
        _ensure_tenant_wide_grant(emulator, tenant, web_principal, mfa_principal, (MFA_SCOPE_NAME,))
        _ensure_tenant_wide_grant(emulator, tenant, mfa_principal, graph_principal, MFA_APP_GRAPH_PERMISSIONS)
    finally:
        emulator.store.close_thread_connection()


def _ensure_service_principal(emulator: Emulator, tenant: Tenant, app_id: str) -> str:
    found = graph_admin.list_service_principals(emulator, tenant, f"appId eq '{app_id}'")
    if found:
        return str(found[0]["id"])
    return str(graph_admin.create_service_principal(emulator, tenant, {"appId": app_id})["id"])


def _ensure_tenant_wide_grant(
    emulator: Emulator, tenant: Tenant, client_id: str, resource_id: str, scopes: Iterable[str]
) -> None:
    wanted = list(scopes)
    existing = graph_admin.list_grants(
        emulator,
        tenant,
        f"clientId eq '{client_id}' and resourceId eq '{resource_id}' and consentType eq 'AllPrincipals'",
    )
    if not existing:
        body = {"clientId": client_id, "consentType": "AllPrincipals", "resourceId": resource_id}
        graph_admin.create_grant(emulator, tenant, {**body, "scope": " ".join(wanted)})
        return
    granted = str(existing[0]["scope"]).split()
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        graph_admin.update_grant(emulator, tenant, existing[0]["id"], {"scope": " ".join([*granted, *missing])})


def env_values(result: SeedResult, emulator_base_url: str, ca_bundle_path: Path) -> dict[str, str | None]:
    base = emulator_base_url.rstrip("/")
    return {
        "CLIENT_ID": result.client_id,
        "CLIENT_SECRET": result.client_secret,
        "TENANT_SUBDOMAIN": result.tenant_subdomain,
        "TENANT_ID": result.tenant_id,
        "AUTHORITY": f"{base}/{result.tenant_id}/",
        "REDIRECT_URI": result.redirect_uri,
        "POST_LOGOUT_REDIRECT_URI": result.post_logout_redirect_uri,
        "GRAPH_ENDPOINT": f"{base}/v1.0",
        "MFA_SCOPE": result.mfa_scope,
        "CA_BUNDLE": str(Path(ca_bundle_path).resolve()),
    }


def api_env_values(result: SeedResult, emulator_base_url: str, ca_bundle_path: Path) -> dict[str, str | None]:
    """The mfa-app API's settings (the names of ciam_api's Settings)."""
    base = emulator_base_url.rstrip("/")
    return {
        "API_CLIENT_ID": result.mfa_app_id,
        "API_CLIENT_SECRET": result.api_client_secret,
        "TENANT_ID": result.tenant_id,
        "AUTHORITY": f"{base}/{result.tenant_id}/",
        "ALLOWED_CLIENT_APPS": result.client_id,
        "REQUIRED_AUTH_CONTEXT": AUTH_CONTEXT_ID,
        "GRAPH_ENDPOINT": f"{base}/v1.0",
        "CA_BUNDLE": str(Path(ca_bundle_path).resolve()),
    }


def write_api_env_file(path: Path, result: SeedResult, emulator_base_url: str, ca_bundle_path: Path) -> None:
    """Like write_env_file, for the API's env file: API_CLIENT_SECRET only when ``result`` has a new one."""
    _set_keys(Path(path), api_env_values(result, emulator_base_url, ca_bundle_path))


def _set_keys(path: Path, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is not None:
            set_key(path, key, value, quote_mode="auto")
    os.chmod(path, 0o600)


def read_env_keys(path: Path) -> set[str]:
    return set(dotenv_values(path)) if Path(path).is_file() else set()


def write_env_file(path: Path, result: SeedResult, emulator_base_url: str, ca_bundle_path: Path) -> None:
    """Set the emulator's keys in a .env file, keeping every other line as it was.

    CLIENT_SECRET is only written when ``result`` carries a new secret. python-dotenv rewrites
    the file atomically; it is left readable by its owner only, as it holds a client secret.
    """
    _set_keys(Path(path), env_values(result, emulator_base_url, ca_bundle_path))
