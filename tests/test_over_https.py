"""The app over HTTPS, served by itself (`tls`) and behind nginx (`nginx`): the session cookie's
`__Host-` prefix, and a Referrer-Policy that lets Flask-WTF's strict CSRF check (on over HTTPS)
accept the app's own forms while the sign-in callback never lends its URL, code included, to a
Referer. Every test before these ran over plain HTTP, where the strict check never runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from tests.support.journeys import TenantPages, callback_url_after, sign_in
from tests.support.referrer import referrer_for

HTTPS_SITES = ["tls", "nginx"]


@dataclass
class SetCookie:
    name: str
    value: str
    attributes: dict[str, str]  # lower-cased attribute names; flags map to ""


def set_cookies(response: requests.Response) -> list[SetCookie]:
    """Every Set-Cookie header of one response (not of the redirects before it), parsed."""
    cookies = []
    for header in response.raw.headers.getlist("Set-Cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        parsed = {}
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            parsed[key.lower()] = attribute_value
        cookies.append(SetCookie(name, value, parsed))
    return cookies


def logged(site, app_logs) -> str:
    """What the app logged: the server's output behind nginx, the captured log in this process."""
    served = getattr(site, "served", None)
    return served.log_text() if served is not None else app_logs.text


def sign_out_form(page):
    return page.soup.find("form", attrs={"action": "/auth/sign-out"})


@pytest.mark.parametrize("site", HTTPS_SITES, indirect=True)
def test_cookies_over_https_are_host_prefixed(site, https_person, tenant, customer):
    # A browser keeps a __Host- cookie only if it is Secure, has Path=/ and names no Domain, so no
    # other host (a sibling subdomain, a plain-HTTP page) can set or overwrite it.
    def assert_host_only(cookie: SetCookie) -> None:
        assert cookie.name.startswith("__Host-ciam") and len(cookie.value) >= 32
        assert "secure" in cookie.attributes
        assert cookie.attributes.get("path") == "/"
        assert "domain" not in cookie.attributes
        assert "httponly" in cookie.attributes and cookie.attributes.get("samesite") == "Lax"

    start = https_person.http.get(site.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    assert start.status_code == 302
    [flow] = set_cookies(start)  # the sign-in in progress; no session exists before sign-in
    assert flow.name.startswith("__Host-ciam.auth.")
    assert_host_only(flow)

    callback_url = callback_url_after(https_person, start, site, customer.email, customer.password)
    finish = https_person.http.get(callback_url, allow_redirects=False, timeout=15)
    session = [c for c in set_cookies(finish) if c.name == "__Host-ciam_session"]
    assert len(session) == 1, set_cookies(finish)
    assert_host_only(session[0])


def test_cookies_over_plain_http_keep_their_plain_names(webapp, person):
    # http://localhost is for development only: a browser would refuse a __Host- cookie there.
    response = person.http.get(webapp.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    [cookie] = set_cookies(response)
    assert cookie.name.startswith("ciam.auth.") and "secure" not in cookie.attributes


@pytest.mark.parametrize("site", HTTPS_SITES, indirect=True)
def test_forms_are_accepted_over_https_and_would_not_be_under_no_referrer(
    site, https_person, tenant, customer, app_logs
):
    home = sign_in(https_person, site, tenant, customer.email, customer.password)
    assert home.url == site.url("/") and "Signed in as" in home.text
    assert home.response.headers["Referrer-Policy"] == "same-origin"
    action = site.url("/auth/sign-out")

    # The bug: under `no-referrer` the browser sends no Referer with this form, and the strict
    # check refuses it ("This form has expired"), over HTTPS only.
    assert referrer_for("no-referrer", home.url, action) is None
    refused = https_person.submit(home, form=sign_out_form(home), referer=None)
    assert refused.status == 400 and refused.heading() == "This form has expired"
    assert "CSRF check failed: The referrer header is missing." in logged(site, app_logs)

    # The check is really on: a Referer from another site is refused as well.
    foreign = https_person.submit(home, form=sign_out_form(home), referer="https://evil.example/profile")
    assert foreign.status == 400 and foreign.heading() == "This form has expired"
    assert "CSRF check failed: The referrer does not match the host." in logged(site, app_logs)
    assert "Signed in as" in https_person.get(site.url("/claims")).text, "refused forms changed nothing"

    # With the page's own policy the browser sends the page's URL, and the form is accepted.
    signed_out = https_person.submit(home, form=sign_out_form(home))
    assert https_person.referers_sent[-1] == home.url
    assert signed_out.status == 200 and signed_out.url == site.url("/")
    assert "You have been signed out." in signed_out.text and "Signed in as" not in signed_out.text


@pytest.mark.parametrize("site", ["tls"], indirect=True)
def test_a_page_at_the_callback_address_keeps_its_code_out_of_referers_and_its_forms_working(
    site, https_person, tenant, customer
):
    home = sign_in(https_person, site, tenant, customer.email, customer.password)
    # A successful callback answers with a redirect, which carries the policy too.
    callback = next(r for r in home.response.history if r.url.startswith(site.url("/auth/redirect?")))
    assert callback.status_code == 303 and callback.headers["Referrer-Policy"] == "strict-origin"

    # The next sign-in is refused (the ID token's signature is wrong) while the customer is still
    # signed in: the "Sign-in failed" page renders at the callback URL, which holds the code.
    tenant.misbehave("bad_signature")
    page = TenantPages(https_person, tenant, customer.email, customer.password).finish(
        https_person.get(site.url("/auth/sign-in"))
    )
    assert page.status == 400 and page.heading() == "Sign-in failed"
    assert page.path == "/auth/redirect" and "code" in page.query
    assert page.response.headers["Referrer-Policy"] == "strict-origin"

    # Its stylesheet, links and forms get the origin alone as Referer: no code, and still enough
    # for the strict check, so the customer can sign out from this page.
    for target in (site.url("/static/css/site.css"), site.url("/auth/sign-in"), "https://elsewhere.example/"):
        assert referrer_for("strict-origin", page.url, target) == site.url("/")
    signed_out = https_person.submit(page, form=sign_out_form(page))
    assert https_person.referers_sent[-1] == site.url("/")
    assert signed_out.status == 200 and "You have been signed out." in signed_out.text
