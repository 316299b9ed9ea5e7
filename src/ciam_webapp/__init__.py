"""A Flask web app on Microsoft Entra External ID: sign-up, sign-in, claims, profile edit behind MFA.

`create_app()` builds the app from one validated `Settings`; protocol code lives in `identity/`,
`graph.py`, `ciam_core/customer_profile.py` and `token_cache.py`, session state in `sessions/` (no Flask in any of
them), the web glue in `web/`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import ConfigError, Settings
from .graph import GraphClient
from .identity import EntraClient
from .outbound import OutboundSession, graph_retry
from .services import Services
from .sessions import (
    RedisSessionStore,
    SessionPolicy,
    SessionStore,
    SessionStoreError,
    SqliteSessionStore,
    browser_state_sealer,
    redis_client,
)
from .token_cache import TokenCacheCodec

__all__ = ["ConfigError", "Services", "Settings", "create_app"]

log = logging.getLogger(__name__)

# A submitted form is accepted for this long after the page showing it was rendered (Flask-WTF signs
# a timestamp into the token). An hour, like the idle timeout: a form left open longer asks the user
# to reload the page, never saves something typed that long ago without a fresh look.
FORM_LIFETIME_SECONDS = 3600


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=settings.instance_dir)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        WTF_CSRF_TIME_LIMIT=FORM_LIFETIME_SECONDS,
        WTF_CSRF_SSL_STRICT=True,  # over HTTPS a form must come with a same-origin Referer (Flask-WTF's default)
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if settings.trusted_proxies:
        # Behind App Service / a TLS-terminating proxy: trust its X-Forwarded-* so url_for builds
        # https URLs and request.is_secure is right. Only as many hops as configured are trusted.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    from .web.logs import configure_logging

    configure_logging(app, settings.log_level)
    if settings.uses_entra and not settings.tenant_id:
        # Then `tid` is checked against the tenant in discovery's issuer, which comes over the same
        # network as the tokens; a configured GUID pins it independently (README, Configuration).
        log.warning(
            "TENANT_ID is not set: the tenant ID tokens must name is taken from the discovery document's "
            "issuer; set TENANT_ID to the tenant's GUID to pin it"
        )

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
            oidc_issuer=settings.oidc_issuer,  # None: Entra External ID
        ),
        graph=GraphClient(settings.graph_endpoint, graph_http),
        token_cache_codec=TokenCacheCodec(settings.token_cache_keys, secret_key=settings.secret_key),
        session_store=session_store_for(settings),
        browser_sealer=browser_state_sealer(settings.secret_key),
        session_policy=SessionPolicy(
            sign_in_scopes=settings.sign_in_scopes,
            mfa_scope=settings.mfa_scope or None,
            step_up_max_age=settings.step_up_max_age,
            lifetime=settings.session_lifetime,
        ),
        clock=time.time,
    )

    from .web import auth, browser_session, errors, health, main, profile, provider_features, rate_limits, security

    browser_session.install_browser_session(app, secure=settings.serves_https)
    CSRFProtect(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(health.bp)
    auth.register_redirect_route(app, settings.redirect_path)
    rate_limits.install_rate_limits(app, settings)
    errors.register_error_handlers(app)
    provider_features.install(app)
    security.install_security_headers(app, tenant_origin=settings.authority_origin, serves_https=settings.serves_https)
    main.install_page_context(app)
    return app


def session_store_for(settings: Settings) -> SessionStore:
    """Redis for any number of instances; otherwise the embedded store, one SQLite file for the workers
    of one machine."""
    if settings.session_type == "redis":
        if not settings.redis_url:
            raise ConfigError("SESSION_TYPE=redis needs REDIS_URL")
        return RedisSessionStore(redis_client(settings.redis_url), key_prefix=settings.session_key_prefix)
    path = Path(settings.session_dir) / "sessions.sqlite3"
    try:
        return SqliteSessionStore(path)
    except SessionStoreError as exc:
        raise ConfigError(
            f"SESSION_DIR: the embedded session store cannot be opened at {path} ({exc.reason}); point SESSION_DIR "
            "at a writable folder, or use SESSION_TYPE=redis"
        ) from None
