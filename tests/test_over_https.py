"""The app over HTTPS, served by itself (`tls`) and behind nginx (`nginx`): the session cookie's
`__Host-` prefix, and a Referrer-Policy that lets Flask-WTF's strict CSRF check (on over HTTPS)
accept the app's own forms while the sign-in callback never lends its URL, code included, to a
Referer. Every test before these ran over plain HTTP, where the strict check never runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

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


@pytest.mark.parametrize("site", HTTPS_SITES, indirect=True)
def test_session_cookie_over_https_is_host_prefixed(site, https_person):
    response = https_person.http.get(site.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    assert response.status_code == 302
    [cookie] = set_cookies(response)
    # A browser keeps a __Host- cookie only if it is Secure, has Path=/ and names no Domain, so no
    # other host (a sibling subdomain, a plain-HTTP page) can set or overwrite the session cookie.
    assert cookie.name == "__Host-ciam_session" and len(cookie.value) >= 32
    assert "secure" in cookie.attributes
    assert cookie.attributes.get("path") == "/"
    assert "domain" not in cookie.attributes
    assert "httponly" in cookie.attributes and cookie.attributes.get("samesite") == "Lax"


def test_session_cookie_over_plain_http_keeps_its_plain_name(webapp, person):
    # http://localhost is for development only: a browser would refuse a __Host- cookie there.
    response = person.http.get(webapp.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    [cookie] = set_cookies(response)
    assert cookie.name == "ciam_session" and "secure" not in cookie.attributes
