"""The app's links to the tenant's password reset: from the home page, the profile and the edit form,
each opens the tenant's sign-in page (even for a signed-in customer), where "Forgot password?" is."""

from tests.support.journeys import TenantPages, on_app, sign_in


def test_home_page_links_to_the_tenants_sign_in_page_with_forgot_password(person, webapp, tenant):
    home = person.get(webapp.url("/"))
    page = person.get(home.link("Reset it"))
    assert page.url.startswith(tenant.base_url) and "/login/signin" in page.url
    assert "/login/reset" in page.link("Forgot password?")


def test_profile_link_shows_the_sign_in_page_despite_the_tenant_session_and_comes_back(
    person, webapp, tenant, customer
):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    profile = person.get(webapp.url("/profile"))
    page = person.get(profile.link("reset it"))
    # prompt=login: the tenant shows its sign-in page although its session would sign the customer in.
    assert page.url.startswith(tenant.base_url) and "/login/signin" in page.url
    assert "/login/reset" in page.link("Forgot password?")
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, webapp) and page.path == "/profile"
