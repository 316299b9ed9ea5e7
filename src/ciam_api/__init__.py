"""The mfa-app as a small JSON web API: `/profile` read and changed through Microsoft Graph on behalf
of the customer, behind access tokens the API validates itself.

`create_app(settings)` builds the app from one validated `Settings`; protocol code lives in
`access_tokens.py`, `on_behalf_of.py` and `profile.py` (no Flask in any of them; Graph's client is
ciam_core's), the HTTP glue in `web.py`. It imports nothing from the web app or the emulator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable
from ciam_core.graph import GraphClient
from ciam_core.jwks import JwksCache
from ciam_core.outbound import DEFAULT_OUTBOUND_CALL_LIMIT, destination_bulkheads, tls_context, trusted_ca_file

from .access_tokens import AccessTokenValidator
from .config import ConfigError, Settings
from .on_behalf_of import MemoryOboCacheStore, OboCacheStore, OnBehalfOfClient, redis_store
from .outbound import OutboundSession, graph_retry
from .profile import ProfileService

__all__ = ["ApiServices", "ConfigError", "Settings", "create_app"]

MAX_BODY_BYTES = 64 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiServices:
    settings: Settings
    metadata: MetadataProvider
    access_tokens: AccessTokenValidator
    obo: OnBehalfOfClient
    profiles: ProfileService


def create_app(settings: Settings | None = None, *, outbound_call_limit: int | None = None) -> Flask:
    """`outbound_call_limit`: calls to the tenant and Graph in flight at once in this process (the
    web app's rule, issue 13): one less for each destination, so a hanging Graph leaves a slot for
    the tenant and the reverse, and a hanging destination never holds every thread."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # JSON only: no static files
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    from .logs import configure_logging

    configure_logging(app, settings.log_level)

    bulkheads = destination_bulkheads(outbound_call_limit or DEFAULT_OUTBOUND_CALL_LIMIT, ("tenant", "Graph"))
    tls = tls_context(trusted_ca_file(settings.ca_bundle))  # loaded once for both sessions
    tenant_http = OutboundSession(
        timeout=settings.http_timeout,
        ca_bundle=settings.ca_bundle,
        bulkheads=bulkheads["tenant"],
        tls=tls,
    )
    graph_http = OutboundSession(
        timeout=settings.http_timeout,
        ca_bundle=settings.ca_bundle,
        retry=graph_retry(),
        bulkheads=bulkheads["Graph"],
        tls=tls,
    )
    metadata = MetadataProvider(settings.authority, tenant_http)
    jwks = JwksCache(metadata, tenant_http)
    warm_up(jwks)
    obo = OnBehalfOfClient(
        client_id=settings.client_id,
        client_credential=settings.client_credential(),
        authority=settings.authority,
        scopes=settings.graph_scopes,
        http=tenant_http,
        timeout=settings.http_timeout,
        store=obo_cache_store_for(settings),
    )
    app.extensions["ciam_api"] = ApiServices(
        settings=settings,
        metadata=metadata,
        access_tokens=AccessTokenValidator(
            metadata=metadata,
            jwks=jwks,
            client_id=settings.client_id,
            tenant_id=settings.tenant_id,
            allowed_client_apps=settings.allowed_client_apps,
            required_scope=settings.required_scope,
            required_auth_context=settings.required_auth_context,
            leeway=settings.token_leeway,
        ),
        obo=obo,
        profiles=ProfileService(obo=obo, graph=GraphClient(settings.graph_endpoint, graph_http)),
    )

    from . import web

    web.install(app)
    return app


def warm_up(jwks: JwksCache) -> None:
    """Fetch the tenant's signing keys before the first request: ciam_core's cache lets one request
    fetch a cold key set and fails the overlapping ones at once (503) rather than queue them, so a
    worker that starts cold would refuse its first concurrent callers. A tenant unreachable now is
    not fatal: the first requests fetch (or answer 503) instead."""
    try:
        jwks.refresh()
    except ProviderUnavailable as exc:
        log.warning("the tenant's signing keys could not be fetched at start-up", extra={"reason": exc.reason})


def obo_cache_store_for(settings: Settings) -> OboCacheStore:
    """Redis when several instances must share the cache, else bounded memory in each process."""
    if settings.obo_cache_redis_url:
        return redis_store(settings.obo_cache_redis_url, settings.obo_cache_key_prefix, timeout=settings.http_timeout)
    return MemoryOboCacheStore(settings.obo_cache_max_entries)
