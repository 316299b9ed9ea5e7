"""Customer journeys through the app and the tenant's hosted pages, for the HTTP-level tests."""

from __future__ import annotations

from urllib.parse import urlsplit

from .person import Page, Person


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
