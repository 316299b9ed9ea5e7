"""Customer journeys through the app and the tenant's hosted pages, for the HTTP-level tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from .person import Page, Person, form_values


class TenantPages:
    """Fills in whatever the tenant's hosted page asks for, as the customer would."""

    def __init__(self, person: Person, tenant, email: str, password: str, display_name: str = "New Customer"):
        self.person = person
        self.tenant = tenant
        self.email = email
        self.password = password
        self.display_name = display_name
        self.seen: list[str] = []

    def on_tenant(self, page: Page) -> bool:
        return page.url.startswith(self.tenant.base_url)

    def step(self, page: Page, *, mfa_code: str | None = None) -> Page:
        """Answer one hosted page."""
        self.seen.append(page.path)
        if page.has_field("code"):
            code = mfa_code or self.tenant.latest_code(self.email)  # the code just sent
            fields = {"code": code}
            if page.has_field("password"):
                fields.update(password=self.password)
            if page.has_field("password_confirmation"):
                fields.update(password_confirmation=self.password)
            if page.has_field("display_name"):
                fields.update(display_name=self.display_name)
            return self.person.submit(page, fields, form=page.form_with("code"))
        if page.has_field("password"):
            fields = {"password": self.password}
            if page.has_field("email"):
                fields["email"] = self.email
            return self.person.submit(page, fields, form=page.form_with("password"))
        if page.has_field("email"):
            return self.person.submit(page, {"email": self.email}, form=page.form_with("email"))
        forms = page.forms()
        assert forms, f"hosted page with nothing to do: {page.url}\n{page.text[:2000]}"
        return self.person.submit(page, form=forms[0])

    def finish(self, page: Page, *, max_steps: int = 8) -> Page:
        """Answer hosted pages until the tenant sends the browser back to the app."""
        for _ in range(max_steps):
            if not self.on_tenant(page):
                return page
            page = self.step(page)
        raise AssertionError(f"still on the tenant after {max_steps} pages: {self.seen}")


def sign_in(person: Person, webapp, tenant, email: str, password: str, *, next_path: str | None = None) -> Page:
    url = webapp.url("/auth/sign-in") + (f"?next={next_path}" if next_path else "")
    page = person.get(url)
    return TenantPages(person, tenant, email, password).finish(page)


def on_app(page: Page, webapp) -> bool:
    return urlsplit(page.url).netloc == urlsplit(webapp.base_url).netloc


def callback_url_after(person: Person, response: requests.Response, app: Any, email: str, password: str) -> str:
    """From `response` (a redirect to the tenant), answer the tenant's pages by hand as the customer, up to
    the tenant's redirect back to the app, which is returned and not followed (so a test can send it
    when and how it likes)."""
    for _ in range(10):
        location = response.headers.get("Location")
        if location:
            url = urljoin(response.url, location)
            if url.startswith(app.base_url):
                return url
            response = person.http.get(url, allow_redirects=False, timeout=15)
            continue
        page = Page(response)  # a hosted page: answer it as the customer would
        form = page.forms()[0]
        fields = form_values(form)
        if page.has_field("password"):
            fields["password"] = password
        if page.has_field("email"):
            fields["email"] = email
        action = urljoin(page.url, form.get("action") or page.url)
        response = person.http.post(action, data=fields, allow_redirects=False, timeout=15)
    raise AssertionError("the tenant never sent us back")


def sign_in_up_to_the_callback(person: Person, app: Any, email: str, password: str) -> str:
    """Start a sign-in and go through the tenant by hand; returns the callback URL, not yet visited."""
    start = person.http.get(app.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    return callback_url_after(person, start, app, email, password)
