"""The Referer a browser sends, computed from the page's Referrer-Policy (W3C Referrer Policy).

`requests` sends no Referer at all, which over plain HTTP hid that the app's own policy broke its
forms over HTTPS (Flask-WTF's strict check refuses a POST without a same-origin Referer). A
`BrowserLikePerson` submits forms with the Referer a browser would send for that page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from bs4 import Tag

from .person import Page, Person

# The policy a browser applies when a page names none (or none it knows).
DEFAULT_POLICY = "strict-origin-when-cross-origin"
POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "same-origin",
        "origin",
        "strict-origin",
        "origin-when-cross-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
_FROM_THE_PAGE = object()


def effective_policy(header: str | None, default: str = DEFAULT_POLICY) -> str:
    """The last policy in the header that the browser knows; unknown tokens are skipped."""
    known = [token.strip().lower() for token in (header or "").split(",") if token.strip().lower() in POLICIES]
    return known[-1] if known else default


def referrer_for(policy: str, document_url: str, target_url: str) -> str | None:
    """What a document at `document_url` with `policy` sends as Referer when it requests `target_url`."""
    doc, target = urlsplit(document_url), urlsplit(target_url)
    host = doc.netloc.rpartition("@")[2]  # a Referer never carries credentials or the fragment
    full = urlunsplit((doc.scheme, host, doc.path or "/", doc.query, ""))
    origin = f"{doc.scheme}://{host}/"
    same_origin = (doc.scheme, doc.hostname, _port(doc)) == (target.scheme, target.hostname, _port(target))
    downgrade = doc.scheme == "https" and target.scheme != "https"
    if policy == "no-referrer":
        return None
    if policy == "unsafe-url":
        return full
    if policy == "no-referrer-when-downgrade":
        return None if downgrade else full
    if policy == "same-origin":
        return full if same_origin else None
    if policy == "origin":
        return origin
    if policy == "strict-origin":
        return None if downgrade else origin
    if policy == "origin-when-cross-origin":
        return full if same_origin else origin
    if policy == "strict-origin-when-cross-origin":
        if same_origin:
            return full
        return None if downgrade else origin
    raise ValueError(f"unknown referrer policy {policy!r}")


def _port(parts: Any) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class _RefererSession(requests.Session):
    """Recomputes the Referer at every redirect hop, as a browser does: from the same document, with
    the policy a redirect response may replace (Fetch: "set request's referrer policy on redirect")."""

    def __init__(self) -> None:
        super().__init__()
        self.referrer_source: tuple[str, str] | None = None  # (document URL, policy)

    def rebuild_auth(self, prepared_request: Any, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if self.referrer_source is None:
            return
        document_url, policy = self.referrer_source
        replaced = effective_policy(response.headers.get("Referrer-Policy"), default="")
        if replaced:
            policy = replaced
            self.referrer_source = (document_url, policy)
        referer = referrer_for(policy, document_url, prepared_request.url)
        prepared_request.headers.pop("Referer", None)
        if referer is not None:
            prepared_request.headers["Referer"] = referer


class BrowserLikePerson(Person):
    """A Person whose form submissions carry the Referer a browser would send for that page."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__(ca_bundle)
        self.http.close()
        self.http = _RefererSession()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= otherwise
        self.http.verify = ca_bundle
        self.referers_sent: list[str | None] = []

    def submit(
        self,
        page: Page,
        fields: dict[str, str] | None = None,
        *,
        form: Tag | None = None,
        button: str | None = None,
        referer: Any = _FROM_THE_PAGE,
    ) -> Page:
        """As Person.submit; `referer` overrides what the page's policy gives (None: no Referer)."""
        chosen = form if form is not None else (page.form_with(next(iter(fields))) if fields else page.forms()[0])
        action = urljoin(page.url, chosen.get("action") or page.url)
        policy = effective_policy(page.response.headers.get("Referrer-Policy"))
        if referer is _FROM_THE_PAGE:
            referer = referrer_for(policy, page.url, action)
            self.http.referrer_source = (page.url, policy)
        self.referers_sent.append(referer)
        if referer is not None:
            self.http.headers["Referer"] = referer
        try:
            return super().submit(page, fields, form=chosen, button=button)
        finally:
            self.http.headers.pop("Referer", None)
            self.http.referrer_source = None
