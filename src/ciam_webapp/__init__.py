"""A Flask web app on Microsoft Entra External ID: sign-up, sign-in, claims, profile edit behind MFA.

`create_app()` builds the app from one validated `Settings`; protocol code lives in `identity/`,
`graph.py`, `ciam_core/customer_profile.py` and `token_cache.py`, session state in `sessions/` (no Flask in any of
them), the web glue in `web/`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ciam_core.outbound import DEFAULT_OUTBOUND_CALL_LIMIT, destination_bulkheads

from .config import ConfigError, Settings
from .graph import GraphClient
from .identity import EntraClient, ProviderState, TenantUnavailable
from .outbound import OutboundSession, graph_retry, tls_context, trusted_ca_file
from .profile_api import ProfileApiClient
from .readiness import ReadinessProbe, session_store_check, tenant_discovery_check
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
from .web.anonymous_pages import AnonymousPageCache

__all__ = ["ConfigError", "Services", "Settings", "create_app"]

log = logging.getLogger(__name__)

# A submitted form is accepted for this long after the page showing it was rendered (Flask-WTF signs
# a timestamp into the token). An hour, like the idle timeout: a form left open longer asks the user
# to reload the page, never saves something typed that long ago without a fresh look.
FORM_LIFETIME_SECONDS = 3600


# The pages a visitor without cookies gets from memory, and for how long (web/anonymous_pages.py):
# long enough that a burst of visitors costs one rendering, short enough that the home page follows
# the tenant (sign-up offered or not) within seconds.
ANONYMOUS_PAGES = ("/",)
ANONYMOUS_PAGE_SECONDS = 5.0
# /readyz answers from its last probe for this long: at most one store write and one discovery
# fetch per process in that time, however often load balancers ask.
READINESS_CACHE_SECONDS = 5.0


class CiamFlask(Flask):
    """Flask, with its coroutine check remembered per function.

    Flask asks `ensure_sync` about every hook and the view on every request (about 14 times per
    page here), and each answer walks `inspect.iscoroutinefunction`; the answer for a function
    never changes, so it is worked out once (Flask documents `ensure_sync` as the method to override).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_callables: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync_callables[func]
        except KeyError:
            sync = self._sync_callables[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # an unhashable callable: asked anew each time, as Flask does
            return super().ensure_sync(func)


def create_app(settings: Settings | None = None, *, provider_state: ProviderState | None = None) -> Flask:
    """`provider_state`: discovery and signing keys fetched before (gunicorn's master fetches them
    once, before forking); without it the app fetches them now, and later if the tenant is down now."""
    settings = settings or Settings.from_env()
    app = CiamFlask(__name__, instance_path=settings.instance_dir)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        WTF_CSRF_TIME_LIMIT=FORM_LIFETIME_SECONDS,
        WTF_CSRF_SSL_STRICT=True,  # over HTTPS a form must come with a same-origin Referer (Flask-WTF's default)
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    # The anonymous home page from memory (inside ProxyFix, which sets the scheme it is keyed by).
    app.wsgi_app = AnonymousPageCache(  # type: ignore[method-assign]
        app.wsgi_app, ANONYMOUS_PAGES, ttl=ANONYMOUS_PAGE_SECONDS, clock=time.monotonic
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

    # OUTBOUND_CALL_LIMIT, or threads - 1 under `ciam-webapp serve`.
    bulkheads = destination_bulkheads(
        settings.outbound_call_limit or DEFAULT_OUTBOUND_CALL_LIMIT, ("tenant", "Graph", "profile API")
    )
    timeouts = settings.http_timeouts
    # One TLS context with the trusted CAs for all of the app's sessions: the bundle is loaded once.
    tls = tls_context(trusted_ca_file(settings.ca_bundle))
    tenant_http = OutboundSession(
        timeout=timeouts,
        ca_bundle=settings.ca_bundle,
        bulkheads=bulkheads["tenant"],
        tls=tls,
    )
    graph_http = OutboundSession(
        timeout=timeouts,
        ca_bundle=settings.ca_bundle,
        retry=graph_retry(),
        bulkheads=bulkheads["Graph"],
        tls=tls,
    )
    entra = entra_client(settings, tenant_http)
    if provider_state is not None:
        entra.preload(provider_state)
    else:
        warm_up(entra)
    session_store = session_store_for(settings)
    app.extensions["ciam"] = Services(
        settings=settings,
        entra=entra,
        graph=GraphClient(settings.graph_endpoint, graph_http),
        token_cache_codec=TokenCacheCodec(settings.token_cache_keys, secret_key=settings.secret_key),
        session_store=session_store,
        browser_sealer=browser_state_sealer(settings.secret_key),
        session_policy=SessionPolicy(
            sign_in_scopes=settings.sign_in_scopes,
            mfa_scope=settings.mfa_scope or None,
            step_up_max_age=settings.step_up_max_age,
            lifetime=settings.session_lifetime,
        ),
        readiness=ReadinessProbe(
            {
                "session_store": session_store_check(session_store),
                "tenant_discovery": tenant_discovery_check(tenant_http, entra.metadata.url),
            },
            cache_seconds=READINESS_CACHE_SECONDS,
        ),
        clock=time.time,
        # A failed connection is retried (nothing was sent), an answer never: the API retries Graph within its
        # own budget and answers 503 once that is spent.
        # The API sits behind the same bound as the tenant and Graph, with a slot of its own, so a hanging
        # API fails its edits at once rather than holding every thread.
        profile_api=ProfileApiClient(
            settings.profile_api_url,
            OutboundSession(
                timeout=timeouts,
                ca_bundle=settings.ca_bundle,
                bulkheads=bulkheads["profile API"],
                tls=tls,
            ),
        )
        if settings.profile_api_url
        else None,
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


def entra_client(settings: Settings, http: OutboundSession) -> EntraClient:
    return EntraClient(
        client_id=settings.client_id,
        client_credential=settings.client_credential(),
        authority=settings.authority,
        redirect_uri=settings.redirect_uri,
        post_logout_redirect_uri=settings.post_logout_redirect_uri,
        http=http,
        timeout=settings.http_timeouts,
        tenant_id=settings.tenant_id,
        oidc_issuer=settings.oidc_issuer,  # None: Entra External ID
    )


def warm_up(entra: EntraClient) -> ProviderState | None:
    """Fetch what every sign-in needs from the provider now; if it cannot be reached, say so and
    let the first requests that need it fetch it (they get the 503 page until it answers)."""
    try:
        return entra.fetch_provider_state()
    except TenantUnavailable as exc:
        log.warning("provider not reachable at start-up, will fetch on demand: %s", exc.reason)
        return None


def fetch_provider_state(settings: Settings) -> ProviderState | None:
    """For gunicorn's master, before it forks: the provider's state, fetched through a session that
    is closed again at once, so no worker inherits its sockets."""
    with OutboundSession(timeout=settings.http_timeouts, ca_bundle=settings.ca_bundle) as http:
        return warm_up(entra_client(settings, http))


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
