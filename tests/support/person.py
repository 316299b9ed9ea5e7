"""An HTTP client that uses the app and the tenant's hosted pages the way a person does.

It follows redirects, reads the page it lands on, fills in the form a person would fill in
(hidden fields included) and submits it. Cookies are kept per host, as a browser keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from bs4 import BeautifulSoup, Tag


@dataclass
class Page:
    response: requests.Response

    @property
    def url(self) -> str:
        return self.response.url

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        return self.response.text

    @cached_property
    def soup(self) -> BeautifulSoup:
        # Parsed once per page (a page is read many times: each has_field, form_with and link).
        return BeautifulSoup(self.response.text, "html.parser")

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    def title(self) -> str:
        return self.soup.title.get_text(strip=True) if self.soup.title else ""

    def heading(self) -> str:
        h1 = self.soup.find("h1")
        return h1.get_text(" ", strip=True) if h1 else ""

    def forms(self) -> list[Tag]:
        return self.soup.find_all("form")

    def form_with(self, field: str) -> Tag:
        for form in self.forms():
            if form.find(["input", "select", "textarea", "button"], attrs={"name": field}):
                return form
        raise AssertionError(f"no form with a field {field!r} on {self.url}:\n{self.text[:3000]}")

    def has_field(self, field: str) -> bool:
        return any(form.find(["input", "button"], attrs={"name": field}) for form in self.forms())

    def link(self, text: str) -> str:
        for anchor in self.soup.find_all("a"):
            if text.lower() in anchor.get_text(" ", strip=True).lower():
                return urljoin(self.url, anchor["href"])
        raise AssertionError(f"no link {text!r} on {self.url}")


class Person:
    def __init__(self, ca_bundle: str) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= otherwise
        self.http.verify = ca_bundle

    def get(self, url: str, **kwargs: Any) -> Page:
        return Page(self.http.get(url, timeout=15, **kwargs))

    def submit(
        self, page: Page, fields: dict[str, str] | None = None, *, form: Tag | None = None, button: str | None = None
    ) -> Page:
        """Fill `fields` into the form that has the first of them (or `form`) and submit it."""
        fields = fields or {}
        if form is None:
            form = page.form_with(next(iter(fields))) if fields else page.forms()[0]
        data = form_values(form)
        if button:
            clicked = form.find(["button", "input"], attrs={"name": button})
            assert clicked is not None, f"no button {button!r}"
        else:  # pressing Enter submits with the form's first submit button, as a browser does
            clicked = next((b for b in form.find_all(["button", "input"]) if _is_submit(b)), None)
        if clicked is not None and clicked.get("name"):
            data[clicked["name"]] = clicked.get("value", "")
        data.update(fields)
        action = urljoin(page.url, form.get("action") or page.url)
        method = (form.get("method") or "get").lower()
        if method == "post":
            return Page(self.http.post(action, data=data, timeout=15))
        return Page(self.http.get(action, params=data, timeout=15))


def form_values(form: Tag) -> dict[str, str]:
    values: dict[str, str] = {}
    for element in form.find_all("input"):
        name = element.get("name")
        kind = (element.get("type") or "text").lower()
        if not name or kind in ("submit", "button", "image"):
            continue
        if kind in ("checkbox", "radio") and not element.has_attr("checked"):
            continue
        values[name] = element.get("value", "")
    for element in form.find_all("textarea"):
        if element.get("name"):
            values[element["name"]] = element.get_text()
    for element in form.find_all("select"):
        # As a browser does: the selected option, else the first one.
        options = element.find_all("option")
        chosen = next((o for o in options if o.has_attr("selected")), options[0] if options else None)
        if element.get("name") and chosen is not None:
            values[element["name"]] = chosen.get("value", chosen.get_text())
    return values


def _is_submit(element: Tag) -> bool:
    kind = (element.get("type") or ("submit" if element.name == "button" else "text")).lower()
    return kind in ("submit", "image")
