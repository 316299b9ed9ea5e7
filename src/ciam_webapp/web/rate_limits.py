"""Per-client limits on starting a sign-in or sign-up, with Flask-Limiter.

Starting a sign-in stores nothing on the server (sessions/browser_state.py), so the limit is not what
protects the session store; it keeps one client from making the app mint thousands of authorization
requests a minute (and sending them on to the tenant). Sign-in and sign-up share one budget per client
address (after ProxyFix, the real client behind a trusted proxy). Counters live in Redis when sessions
do, so every instance counts together; with the embedded store each process counts on its own.
If the counters' store fails, requests are let through (and Flask-Limiter logs it): a Redis outage
must not lock every customer out of signing in.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from ..config import Settings

log = logging.getLogger(__name__)

LIMITED_ENDPOINTS = ("auth.sign_in", "auth.sign_up")
SCOPE = "sign-in-start"


def storage_uri_for(settings: Settings) -> str:
    if settings.rate_limit_storage_url:
        return settings.rate_limit_storage_url
    if settings.session_type == "redis" and settings.redis_url:
        return settings.redis_url
    return "memory://"


def install_rate_limits(app: Flask, settings: Settings) -> Limiter:
    storage_uri = storage_uri_for(settings)
    options: dict[str, str | int] = {}
    if storage_uri.startswith(("redis://", "rediss://")):
        options = {"socket_timeout": 2, "socket_connect_timeout": 2}
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri,
        storage_options=options,
        strategy="fixed-window",
        headers_enabled=True,  # Retry-After and X-RateLimit-* tell a client when to come back
        swallow_errors=True,
        key_prefix="ciam-limits",
    )
    shared = limiter.shared_limit(settings.sign_in_rate_limit, scope=SCOPE)
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = shared(app.view_functions[endpoint])

    @limiter.request_filter
    def not_a_sign_in_start() -> bool:
        # Nothing else has a limit (there are no default limits), but Flask-Limiter's hook would still
        # resolve limits for every request: about 35 µs of a 1 ms page view (benchmarks/profiling-notes.md).
        return request.endpoint not in LIMITED_ENDPOINTS

    @app.errorhandler(RateLimitExceeded)
    def too_many_sign_ins(exc: RateLimitExceeded) -> tuple[str, int]:
        log.warning("sign-in starts rate-limited for a client", extra={"limit": str(exc.limit.limit)})
        return (
            render_template(
                "error.html",
                title="Too many attempts",
                message="Too many sign-in attempts came from your network in a short time. "
                "Wait a minute, then try again.",
            ),
            429,
        )

    return limiter
