"""Walking through oidc-provider's own development pages the way a person would, over HTTP."""

from __future__ import annotations

from urllib.parse import urljoin

from tests.support.person import Page, Person, form_values

# oidc-provider's development login page takes any password for a login its findAccount knows.
ANY_PASSWORD = "any password will do"


def walk_to_callback(person: Person, start_url: str, login: str, redirect_uri: str, *, max_steps: int = 20) -> str:
    """Follow redirects and answer the provider's login and consent pages until the provider sends the
    browser back to `redirect_uri`; return that URL without loading it (the test decides what to do)."""
    response = person.http.get(start_url, allow_redirects=False, timeout=15)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(redirect_uri):
                return location
            response = person.http.get(location, allow_redirects=False, timeout=15)
            continue
        page = Page(response)
        assert page.status == 200, f"{page.url} answered {page.status}:\n{page.text[:2000]}"
        form = page.form_with("login") if page.has_field("login") else page.form_with("prompt")
        data = form_values(form)
        if "login" in data:
            data.update(login=login, password=ANY_PASSWORD)
        action = urljoin(page.url, form.get("action") or page.url)
        response = person.http.post(action, data=data, allow_redirects=False, timeout=15)
    raise AssertionError(f"the provider did not send the browser back to {redirect_uri} within {max_steps} steps")


def sign_in(person: Person, webapp, login: str) -> Page:
    """Sign in through the app and the provider; the page the app shows afterwards."""
    callback = walk_to_callback(person, webapp.url("/auth/sign-in"), login, webapp.settings.redirect_uri)
    return person.get(callback)
