"""API mode end to end at the HTTP level: the web app, the real mfa-app API (ciam_api) and the emulated
tenant, with the on-behalf-of exchange and Graph behind the API, over HTTP and over HTTPS.

The API requires the authentication context c1 (as `make run` configures it), so the first save meets
its claims challenge: the app steps up with those claims and applies the edit that waited. The browser
journey through the API is in tests/browser/test_browser_journey.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import API_SITES, PROFILE_API_AUTH_CONTEXT
from tests.support.journeys import TenantPages, on_app, sign_in
from tests.support.person import Page, form_values


@pytest.fixture()
def visitor(api_site, person, https_person):
    """A client that trusts the site's certificate when the app is served over HTTPS."""
    return https_person if api_site.base_url.startswith("https://") else person


def _edit_form_after_mfa(visitor, api_site, tenant, customer) -> Page:
    sign_in(visitor, api_site, tenant, customer.email, customer.password)
    page = visitor.get(api_site.url("/profile/edit"))
    page = TenantPages(visitor, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/profile/edit" and page.has_field("displayName"), page.text[:500]
    return page


@pytest.mark.parametrize("api_site", API_SITES, indirect=True)
def test_an_edit_reaches_graph_through_the_api_after_its_claims_challenge(api_site, visitor, tenant, customer):
    form_page = _edit_form_after_mfa(visitor, api_site, tenant, customer)
    tenant.reset_stats()
    response = visitor.http.post(
        api_site.url("/profile/edit"),
        data={**form_values(form_page.form_with("displayName")), "displayName": "Through The API", "city": "York"},
        headers={"Referer": form_page.url},  # as the browser sends it (Flask-WTF requires it over HTTPS)
        allow_redirects=False,
        timeout=15,
    )
    # The API wanted the authentication context: the app's step-up asks the tenant for exactly that.
    assert response.status_code == 302 and response.headers["Location"].startswith(tenant.base_url)
    claims = json.loads(parse_qs(urlsplit(response.headers["Location"]).query)["claims"][0])
    assert claims["access_token"]["acrs"] == {"essential": True, "value": PROFILE_API_AUTH_CONTEXT}
    assert tenant.user(customer.email)["displayName"] == customer.display_name, "nothing saved yet"

    page = TenantPages(visitor, tenant, customer.email, customer.password).finish(
        visitor.get(response.headers["Location"])
    )
    assert on_app(page, api_site) and page.path == "/profile" and "Your profile was saved." in page.text
    saved = tenant.user(customer.email)
    assert (saved["displayName"], saved["city"]) == ("Through The API", "York")
    stats = tenant.stats()
    # One Graph write, made by the API with its on-behalf-of token (the app's own token could not).
    assert stats["graph"]["PATCH /me"] == 1 and stats["token"]["on_behalf_of"] == 1


def test_a_second_edit_within_the_tokens_lifetime_asks_the_tenant_for_nothing(
    api_mode_webapp, person, tenant, customer
):
    """The API's on-behalf-of cache: the second save reuses the Graph token, and the app its API token."""
    form_page = _edit_form_after_mfa(person, api_mode_webapp, tenant, customer)
    page = TenantPages(person, tenant, customer.email, customer.password).finish(
        person.submit(form_page, {"displayName": "First Save"})
    )
    assert "Your profile was saved." in page.text
    form_page = person.get(api_mode_webapp.url("/profile/edit"))
    tenant.reset_stats()
    page = person.submit(form_page, {"displayName": "Second Save"})
    assert page.path == "/profile" and "Your profile was saved." in page.text
    stats = tenant.stats()
    assert stats["token"] == {"authorization_code": 0, "refresh_token": 0, "on_behalf_of": 0}
    assert stats["authorize"] == 0 and stats["graph"]["PATCH /me"] == 1
    assert tenant.user(customer.email)["displayName"] == "Second Save"


@pytest.mark.parametrize("api_site", ("http", "tls"), indirect=True)
def test_two_tabs_saving_at_once_both_reach_graph_through_one_cached_exchange(api_site, visitor, tenant, customer):
    """Overlapping saves of one session (two tabs): each goes to the API with the session's token, both
    are saved, and neither asks the tenant for a token (the app's cache and the API's on-behalf-of cache)."""
    form_page = _edit_form_after_mfa(visitor, api_site, tenant, customer)
    page = TenantPages(visitor, tenant, customer.email, customer.password).finish(
        visitor.submit(form_page, {"displayName": "Before The Tabs"})
    )
    assert "Your profile was saved." in page.text
    tabs = [visitor.get(api_site.url("/profile/edit")) for _ in range(2)]
    tenant.reset_stats()

    def save(tab: Page, field: str, value: str) -> Page:
        data = {**form_values(tab.form_with("displayName")), field: value}
        response = visitor.http.post(api_site.url("/profile/edit"), data=data, headers={"Referer": tab.url}, timeout=30)
        return Page(response)

    with ThreadPoolExecutor(max_workers=2) as pool:
        saved = list(pool.map(save, tabs, ["city", "jobTitle"], ["Tab One City", "Tab Two Title"]))
    assert all(p.path == "/profile" and "Your profile was saved." in p.text for p in saved)
    user = tenant.user(customer.email)
    assert (user["city"], user["jobTitle"]) == ("Tab One City", "Tab Two Title"), "each tab sent only its change"
    stats = tenant.stats()
    assert stats["graph"]["PATCH /me"] == 2
    assert stats["token"] == {"authorization_code": 0, "refresh_token": 0, "on_behalf_of": 0}
