"""Failing and slow services: the tenant down or slow, refresh tokens revoked, Graph failing."""

import time

import pytest

from ciam_webapp import create_app
from tests.conftest import app_settings, free_port
from tests.support.journeys import TenantPages, sign_in


@pytest.fixture()
def signed_in(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    return person


@pytest.fixture()
def short_tenant_timeout(webapp):
    """The running app's tenant calls time out after 1 s for this test."""
    entra = webapp.app.extensions["ciam"].entra
    saved = entra._timeout, entra.http.default_timeout
    entra._timeout = entra.http.default_timeout = 1.0
    yield
    entra._timeout, entra.http.default_timeout = saved


def _tenant_calls(tenant, responses):
    # Retry-After: 0 keeps MSAL's client-side throttling (which otherwise blocks the token endpoint
    # for 5 s after a 5xx, process-wide with our shared http_cache) out of the following tests.
    tenant._call("POST", "token/faults", json={"responses": [dict(r, retry_after=0) for r in responses]})


@pytest.fixture(autouse=True)
def _clear_token_faults(tenant):
    yield
    tenant._call("DELETE", "token/faults")


def test_tenant_unreachable_at_sign_in_gives_a_503_with_a_retry_link(tenant, tmp_path):
    settings = app_settings(tenant, "http://localhost:5999", tmp_path, AUTHORITY=f"https://127.0.0.1:{free_port()}/x")
    client = create_app(settings).test_client()
    response = client.get("/auth/sign-in")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "not reachable right now" in page and 'href="/auth/sign-in"' in page
    assert "Traceback" not in page
    assert response.headers["Retry-After"]


def test_token_endpoint_down_at_the_callback_gives_a_503(person, webapp, tenant, customer):
    _tenant_calls(tenant, [{"status": 503}])
    pages = TenantPages(person, tenant, customer.email, customer.password)
    page = pages.finish(person.get(webapp.url("/auth/sign-in")))
    assert page.status == 503
    assert "not reachable right now" in page.text
    response = person.http.get(webapp.url("/claims"), allow_redirects=False, timeout=10)
    assert response.status_code == 302, "no session was created"


def test_token_endpoint_down_at_refresh_gives_a_503_with_a_retry_link(signed_in, webapp, tenant):
    _tenant_calls(tenant, [{"status": 503}])
    page = signed_in.get(webapp.url("/profile/edit"))  # needs a refresh-token call for the MFA scope
    assert page.status == 503
    assert "Try again" in page.text and 'href="/profile/edit"' in page.text


def test_slow_tenant_is_cut_off_by_the_timeout(signed_in, webapp, tenant, short_tenant_timeout):
    _tenant_calls(tenant, [{"delay_seconds": 4, "status": 200}])
    started = time.monotonic()
    page = signed_in.get(webapp.url("/profile/edit"))
    assert page.status == 503
    assert time.monotonic() - started < 3.5, "the worker is not held for the tenant's whole delay"


def test_revoked_refresh_token_sends_the_user_to_sign_in_and_back(signed_in, webapp, tenant, customer):
    tenant._call("POST", "refresh-tokens/revoke", json={"email": customer.email})
    page = signed_in.get(webapp.url("/profile/edit"))
    assert page.url.startswith(tenant.base_url), "the tenant is asked again"
    page = TenantPages(signed_in, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile/edit" and page.has_field("displayName")


def test_a_revoked_grant_on_the_profile_says_sign_in_again_and_comes_back(signed_in, webapp, tenant, customer):
    """AADSTS50173 (the grant revoked, as a tenant may do at a password reset; entra-notes §13) while
    reading the profile: a clear "sign in again", then the sign-in and back to the page."""
    tenant._call("POST", "token/lifetime", json={"access_token_seconds": 60})
    try:
        fresh = sign_in(signed_in, webapp, tenant, customer.email, customer.password)  # a short-lived Graph token
        assert fresh.path == "/"
        tenant._call("POST", "refresh-tokens/revoke", json={"email": customer.email})
        page = signed_in.get(webapp.url("/profile"))
    finally:
        tenant._call("POST", "token/lifetime", json={"access_token_seconds": None})
    assert page.status == 200 and page.path == "/profile"
    assert page.soup.h1.get_text(strip=True) == "Please sign in again"
    assert "Your sign-in has ended" in page.text
    # The tenant's own sign-in session is still alive here, so signing in again needs no password.
    page = signed_in.get(page.link("Sign in again"))
    assert page.path == "/profile" and page.soup.h1.get_text(strip=True) == "Your profile"


def test_expired_access_token_is_refreshed_silently_for_the_profile(person, webapp, tenant, customer):
    tenant._call("POST", "token/lifetime", json={"access_token_seconds": 60})
    try:
        sign_in(person, webapp, tenant, customer.email, customer.password)  # gets a short-lived Graph token
        tenant.reset_stats()
        page = person.get(webapp.url("/profile"))
        assert page.status == 200 and page.path == "/profile"
        stats = tenant.stats()
        assert stats["token"].get("refresh_token") == 1, "MSAL refreshed the nearly expired token silently"
        assert stats.get("authorize", 0) == 0, "without sending the user anywhere"
    finally:
        tenant._call("POST", "token/lifetime", json={"access_token_seconds": None})
