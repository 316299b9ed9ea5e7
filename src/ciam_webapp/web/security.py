"""Response headers for every page, and the one rule for where the app may send a user back to."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request


def install_security_headers(app: Flask, *, tenant_origin: str, serves_https: bool) -> None:
    # form-action must allow the tenant: Chromium checks it on the redirect that follows a form
    # submission, and signing out is a POST answered with a redirect to the tenant's logout page.
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self' {tenant_origin}",
            "frame-ancestors 'none'",
        ]
    )

    common = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    hsts = "max-age=31536000; includeSubDomains"

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over what is already set (a view may set its own); Headers.setdefault per header
        # costs an exception inside Werkzeug for every header that is missing, i.e. almost all.
        present = {name.lower() for name in headers.keys()}
        wanted = dict(common)
        # same-origin: our own pages get a full Referer, which Flask-WTF's strict CSRF check needs over
        # HTTPS; other sites get none. The callback's URL holds an authorization code, so its responses
        # (redirect or error page) let a Referer carry only our origin (README, security notes).
        wanted["Referrer-Policy"] = "strict-origin" if request.endpoint == "auth.redirect" else "same-origin"
        if serves_https or request.is_secure:
            wanted["Strict-Transport-Security"] = hsts
        for name, value in wanted.items():
            if name.lower() not in present:
                headers.add(name, value)
        if request.endpoint != "static":
            # Every page may show personal data or depend on who is signed in: no browser or shared
            # cache keeps it. (Deciding per page would mean reading the session on every request.)
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response


_SAFE_PATH = re.compile(r"^/(?![/\\])[^\s\\]*$")


def safe_return_path(target: str | None) -> str | None:
    """`target` if it is a same-origin relative path (`/profile?x=1`), else None.

    Refuses `//evil`, `/\\evil`, `https://evil`, and their percent-encoded forms, control
    characters and backslashes anywhere (browsers treat `\\` like `/`).
    """
    if not target:
        return None
    decoded = target
    for _ in range(3):  # look through double and triple encoding too
        if not _SAFE_PATH.match(decoded) or any(ord(c) < 0x20 or c == "\x7f" for c in decoded):
            return None
        parts = urlsplit(decoded)
        if parts.scheme or parts.netloc:
            return None
        decoded = unquote(decoded)
    return target
