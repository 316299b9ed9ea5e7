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
from typing import Any

from flask import Flask, Response, render_template, request
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

    _only_for_sign_in_starts(app, limiter)

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


def _only_for_sign_in_starts(app: Flask, limiter: Limiter) -> None:
    """Flask-Limiter's request hooks run for the sign-in starts only.

    The limits live on those two views (the decorator checks them when the view is called), so the
    global before_request check has nothing to do anywhere (there are no default or application
    limits), and its after_request (the X-RateLimit-* and Retry-After headers) and teardown (its
    per-request context) matter only where a limit was checked. Left global, they cost every page
    about 8% of its CPU (the home page; benchmarks/profiling-notes.md)."""
    check = limiter._check_request_limit  # the bound method Limiter.init_app registered
    app.before_request_funcs[None] = [f for f in app.before_request_funcs.get(None, []) if f != check]

    def for_sign_in_starts(hook_list: list[Any]) -> None:
        for index, hook in enumerate(hook_list):
            registered_by_limiter = getattr(hook, "__self__", None) is limiter or (  # a bound method
                getattr(hook, "args", ()) == (limiter,)  # functools.partial(Limiter.method, limiter)
            )
            if registered_by_limiter:
                hook_list[index] = _when_limited(hook)

    for_sign_in_starts(app.after_request_funcs.setdefault(None, []))
    for_sign_in_starts(app.teardown_request_funcs.setdefault(None, []))


def _when_limited(hook: Any) -> Any:
    def hook_for_sign_in_starts(arg: Any) -> Any:
        if request.endpoint in LIMITED_ENDPOINTS:
            return hook(arg)
        return arg if isinstance(arg, Response) else None

    return hook_for_sign_in_starts
