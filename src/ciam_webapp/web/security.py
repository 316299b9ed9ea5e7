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

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin: our own pages get a full Referer, which Flask-WTF's strict CSRF check needs over
        # HTTPS; other sites get none. The callback's URL holds an authorization code, so its responses
        # (redirect or error page) let a Referer carry only our origin (README, security notes).
        response.headers.setdefault(
            "Referrer-Policy", "strict-origin" if request.endpoint == "auth.redirect" else "same-origin"
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if serves_https or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            # Every page may show personal data or depend on who is signed in: no browser or shared
            # cache keeps it. (Deciding per page would mean reading the session on every request.)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
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
