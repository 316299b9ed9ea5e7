"""A Flask web app on Microsoft Entra External ID: sign-up, sign-in, claims, profile edit behind MFA.

`create_app()` builds the app from one validated `Settings`; protocol code lives in `identity/`,
`graph.py` and `token_cache.py` (no Flask), the web glue in `web/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, redirect, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import ConfigError, Settings
from .graph import GraphClient
from .identity import EntraClient
from .outbound import OutboundSession, graph_retry
from .token_cache import TokenCacheCodec

__all__ = ["ConfigError", "Settings", "create_app"]


@dataclass(frozen=True)
class Services:
    """Process-wide objects, built once at start-up and shared by every request."""

    settings: Settings
    entra: EntraClient
    graph: GraphClient
    token_cache_codec: TokenCacheCodec


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=settings.instance_dir)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # __Host-: the browser keeps it only if Secure, Path=/ and without Domain, so no other host can set it.
        SESSION_COOKIE_NAME="__Host-ciam_session" if settings.serves_https else "ciam_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.serves_https,
        # Lax: sent on the tenant's top-level GET redirect back to us (response_mode=query), never on
        # cross-site POSTs. The README's security notes explain the choice.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_idle_timeout),
        SESSION_REFRESH_EACH_REQUEST=True,
        SESSION_KEY_PREFIX="ciam_session:",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    _configure_session_store(app, settings)
    if settings.trusted_proxies:
        # Behind App Service / a TLS-terminating proxy: trust its X-Forwarded-* so url_for builds
        # https URLs and request.is_secure is right. Only as many hops as configured are trusted.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    from .web.logs import configure_logging

    configure_logging(app, settings.log_level)

    tenant_http = OutboundSession(timeout=settings.http_timeout, ca_bundle=settings.ca_bundle)
    graph_http = OutboundSession(timeout=settings.http_timeout, ca_bundle=settings.ca_bundle, retry=graph_retry())
    app.extensions["ciam"] = Services(
        settings=settings,
        entra=EntraClient(
            client_id=settings.client_id,
            client_credential=settings.client_credential(),
            authority=settings.authority,
            redirect_uri=settings.redirect_uri,
            post_logout_redirect_uri=settings.post_logout_redirect_uri,
            http=tenant_http,
            timeout=settings.http_timeout,
            tenant_id=settings.tenant_id,
        ),
        graph=GraphClient(settings.graph_endpoint, graph_http),
        token_cache_codec=TokenCacheCodec(settings.token_cache_keys, secret_key=settings.secret_key),
    )

    CSRFProtect(app)

    from .web import auth, errors, health, main, profile, security, user_session

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(health.bp)
    auth.register_redirect_route(app, settings.redirect_path)
    errors.register_error_handlers(app)
    security.install_security_headers(app, tenant_origin=settings.authority_origin, serves_https=settings.serves_https)

    @app.before_request
    def end_sessions_past_their_lifetime():  # type: ignore[no-untyped-def]
        if user_session.session_expired(settings.session_lifetime):
            user_session.sign_out()
            return redirect(url_for("main.index"))
        return None

    return app


def _configure_session_store(app: Flask, settings: Settings) -> None:
    """Sessions in the embedded store (files in the instance folder) or Redis, with a 503 page and no
    half-written session when the store fails (web/session_store.py). Replaces Flask-Session's
    `Session(app)`, which would install an interface without that handling."""
    from .web.session_store import install_session_store

    install_session_store(
        app, session_type=settings.session_type, redis_url=settings.redis_url, session_dir=settings.session_dir
    )
