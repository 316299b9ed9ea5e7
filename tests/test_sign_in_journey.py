"""Issue 3's journey over HTTP: sign-up, sign-in, claims, sign-out, through the tenant's pages."""

import secrets

import jwt

from tests.support.journeys import TenantPages, on_app, sign_in


def _session_cookie(person, webapp):
    return person.http.cookies.get("ciam_session", domain="localhost.local") or next(
        (c.value for c in person.http.cookies if c.name == "ciam_session"), None
    )


def test_new_customer_signs_up_with_the_code_from_the_outbox(person, webapp, tenant):
    email = f"new-{secrets.token_hex(4)}@contoso.example"
    page = person.get(webapp.url("/auth/sign-up"))
    assert page.url.startswith(tenant.base_url), "sign-up starts at the tenant"
    pages = TenantPages(person, tenant, email, "Str0ng-" + secrets.token_urlsafe(10), display_name="Grace Hopper")
    page = pages.finish(page)
    assert on_app(page, webapp)
    assert page.status == 200
    assert "Welcome, Grace Hopper" in page.text
    assert any(m["purpose"] == "signup" for m in tenant.outbox(email))

    claims = person.get(webapp.url("/claims"))
    assert claims.status == 200
    created = tenant.user(email)
    assert created["id"] in claims.text  # oid
    assert "Grace Hopper" in claims.text  # name


def test_sign_in_shows_claims_then_sign_out_ends_both_sessions(person, webapp, tenant, customer):
    page = sign_in(person, webapp, tenant, customer.email, customer.password)
    assert on_app(page, webapp) and page.path == "/"
    assert f"Welcome, {customer.display_name}" in page.text

    claims_page = person.get(webapp.url("/claims"))
    values = {td["data-claim"]: td.get_text() for td in claims_page.soup.select("td[data-claim]")}
    assert values["oid"] == tenant.user(customer.email)["id"]
    assert values["name"] == customer.display_name
    assert values["tid"] == tenant.tenant_id
    assert values["aud"] == tenant.client_id

    sign_out_form = claims_page.form_with("csrf_token")
    signed_out = person.submit(claims_page, form=sign_out_form)
    assert on_app(signed_out, webapp) and signed_out.path == "/"
    assert "Sign in" in signed_out.text and "Welcome, " + customer.display_name not in signed_out.text
    assert "You have been signed out." in signed_out.text
    assert person.get(webapp.url("/claims")).url.startswith(tenant.base_url), "claims need a new sign-in"

    # The tenant's session is gone too: signing in again asks for the password.
    again = person.get(webapp.url("/auth/sign-in"))
    assert again.url.startswith(tenant.base_url)
    assert again.has_field("password")


def test_sign_out_redirect_carries_the_post_logout_uri(person, webapp, tenant, customer):
    home = sign_in(person, webapp, tenant, customer.email, customer.password)
    response = person.http.post(
        webapp.url("/auth/sign-out"),
        data={"csrf_token": home.form_with("csrf_token").find("input", attrs={"name": "csrf_token"})["value"]},
        allow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{tenant.base_url}/{tenant.tenant_id}/oauth2/v2.0/logout?")
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost" in location
    assert "logout_hint=" in location and "id_token_hint" not in location


def test_logout_hint_ends_the_tenant_session_it_names(person, webapp, tenant, customer):
    home = sign_in(person, webapp, tenant, customer.email, customer.password)
    csrf = home.soup.find("input", attrs={"name": "csrf_token"})["value"]
    response = person.http.post(webapp.url("/auth/sign-out"), data={"csrf_token": csrf}, allow_redirects=False)
    # Another client, without the tenant's cookie, follows the logout URL: the hint alone ends the session.
    stranger = type(person)(tenant.ca_bundle)
    assert stranger.get(response.headers["Location"]).path == "/"
    again = person.get(webapp.url("/auth/sign-in"))
    assert again.url.startswith(tenant.base_url) and again.has_field("password")


def test_sign_out_needs_the_csrf_token(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    response = person.http.post(webapp.url("/auth/sign-out"), allow_redirects=False)
    assert response.status_code == 400
    assert person.get(webapp.url("/claims")).status == 200, "still signed in"


def test_starting_a_sign_in_stores_nothing_and_sign_in_gets_a_new_locked_down_session(
    person, webapp, tenant, customer
):
    person.get(webapp.url("/auth/sign-in"))
    # The sign-in in progress travels in a sealed cookie of its own; no server-side session exists yet.
    assert not [c for c in person.http.cookies if c.name == "ciam_session"]
    flows = [c for c in person.http.cookies if c.name.startswith("ciam.auth.")]
    assert len(flows) == 1 and flows[0].has_nonstandard_attr("HttpOnly")
    abandoned = flows[0].name
    # A session id planted before sign-in (session fixation) is not adopted.
    planted = "planted-" + "x" * 40
    person.http.cookies.set("ciam_session", planted, domain="localhost.local", path="/")
    page = TenantPages(person, tenant, customer.email, customer.password).finish(
        person.get(webapp.url("/auth/sign-in"))
    )
    assert on_app(page, webapp)
    after = [c for c in person.http.cookies if c.name == "ciam_session" and c.value != planted]
    assert len(after) == 1
    assert after[0].has_nonstandard_attr("HttpOnly")
    assert (after[0].get_nonstandard_attr("SameSite") or "").lower() == "lax"
    # The used flow is forgotten; the abandoned first one waits for its expiry (10 minutes at most).
    assert [c.name for c in person.http.cookies if c.name.startswith("ciam.auth.")] == [abandoned]
    stranger = type(person)(tenant.ca_bundle)
    stranger.http.cookies.set("ciam_session", planted, domain="localhost.local", path="/")
    assert stranger.get(webapp.url("/claims")).url.startswith(tenant.base_url), "the planted id is worthless"


def test_sign_in_makes_exactly_one_token_call(person, webapp, tenant, customer):
    tenant.reset_stats()
    sign_in(person, webapp, tenant, customer.email, customer.password)
    stats = tenant.stats()
    assert stats["token"]["authorization_code"] == 1
    assert stats["token"].get("refresh_token", 0) == 0


def test_id_token_is_validated_with_the_tenant_keys(person, webapp, tenant, customer):
    """The nonce the app sent comes back verbatim and the signature verifies with the JWKS."""
    page = sign_in(person, webapp, tenant, customer.email, customer.password)
    assert page.status == 200
    jwks = person.http.get(f"{tenant.base_url}/{tenant.tenant_id}/discovery/v2.0/keys", timeout=10).json()
    assert len(jwks["keys"]) == 2
    assert all(jwt.PyJWK(k).key_id for k in jwks["keys"])


def test_return_to_after_sign_in_is_kept(person, webapp, tenant, customer):
    first = person.get(webapp.url("/claims"))
    assert first.url.startswith(tenant.base_url)
    page = TenantPages(person, tenant, customer.email, customer.password).finish(first)
    assert page.path == "/claims"
