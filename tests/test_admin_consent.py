"""The app where it meets admin consent: customers cannot consent in an external tenant, so a scope the
admin has not granted is refused by the tenant (AADSTS65001 at the token endpoint; the emulator's
/authorize then shows its admin-approval page). The app must send the customer to the tenant once and
stop there, never loop and never half-sign anyone in."""

from __future__ import annotations

from typing import Any

from tests.support.graph_admin import GraphAdminClient
from tests.support.journeys import TenantPages, on_app, sign_in


def graph_admin(tenant: Any) -> GraphAdminClient:
    token = tenant._call("POST", "admin-token", json={})["access_token"]
    return GraphAdminClient(f"{tenant.base_url}/v1.0", token, tenant.control())


def test_an_edit_whose_scope_the_admin_has_not_granted_stops_at_the_tenant_until_it_is_granted(
    person, webapp, tenant, customer
):
    admin = graph_admin(tenant)
    grant = admin.tenant_wide_grant(tenant.client_id, tenant.mfa_app_id)
    sign_in(person, webapp, tenant, customer.email, customer.password)
    admin.ok("DELETE", f"oauth2PermissionGrants/{grant['id']}")  # the admin withdraws User.MFA
    try:
        tenant.reset_stats()
        page = person.get(webapp.url("/profile/edit"))
        # The silent request for User.MFA is refused (65001), so the app sends the customer to the
        # tenant once; the tenant cannot ask a customer to consent and says an admin must approve.
        assert page.url.startswith(tenant.base_url) and not page.forms(), page.text[:1500]
        assert "90094" in page.text or "approval" in page.text.lower(), page.text[:1500]
        assert tenant.stats().get("authorize", 0) == 1, "sent to the tenant once, no loop"
        assert person.get(webapp.url("/claims")).status == 200, "still signed in, nothing else changed"
    finally:
        restored = {key: grant[key] for key in ("clientId", "consentType", "resourceId", "scope")}
        admin.ok("POST", "oauth2PermissionGrants", restored)
    page = TenantPages(person, tenant, customer.email, customer.password).finish(
        person.get(webapp.url("/profile/edit"))
    )
    assert on_app(page, webapp) and page.path == "/profile/edit" and page.has_field("displayName")
