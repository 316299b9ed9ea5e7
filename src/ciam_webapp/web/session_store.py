"""The server-side session store (embedded files or Redis), and what the app does when it fails.

Flask-Session opens the session before any view runs and saves it after the view has returned.
A store failure at either end happens outside the views, where Flask can only turn it into a bare
500 (and, on opening, leaves no session at all, so even an error page that reads it fails). So:

- Opening: if the store cannot be read, the request gets an empty stand-in session that is never
  saved (and never deletes the browser's cookie), and every endpoint that needs a session answers
  with a 503 page in the site's style. Static files and health probes still work.
- Saving: a session is one value written by one command (Redis `SET`, or cachelib's write to a
  temporary file renamed into place), so it is stored whole or not at all. If that write fails,
  the response the view built assumed it succeeded (a redirect after sign-in, "profile saved"), so
  it is replaced in place by the 503 page: the user is told, and nothing half-done is shown as done.
- Inside a view (regenerating the session id deletes the old entry): a store error is a 503 too.

When the store comes back, the next request simply works: Redis connections are re-opened by the
client's connection pool, nothing is cached as "down".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import msgspec
import redis
from cachelib import FileSystemCache
from flask import Flask, Request, render_template, request, session
from flask_session.base import ServerSideSession
from flask_session.cachelib import CacheLibSessionInterface
from flask_session.redis import RedisSessionInterface
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5
# Endpoints that never touch the session, so they keep answering while the store is down.
ENDPOINTS_WITHOUT_SESSION = frozenset({"static", "health.healthz", "health.readyz"})
READINESS_PROBE_KEY = "readyz-probe"


class SessionStoreError(Exception):
    """The session store could not be read or written; `reason` is safe to log (no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What a store failure looks like from each backend. cachelib reports failures by return value,
# which our cachelib interface turns into SessionStoreError.
STORE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, SessionStoreError, OSError)


class UnavailableSession(ServerSideSession):
    """Stands in for a session the store could not load: empty, and never written back."""

    def __init__(self, reason: str) -> None:
        super().__init__(sid=None)
        self.reason = reason


class _StoreFailureHandling:
    """Mixed into a Flask-Session interface: turns store failures into a 503, never a half-save."""

    store_name = "session store"

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        try:
            return super().open_session(app, request)  # type: ignore[misc]
        except STORE_ERRORS as exc:
            reason = describe_store_error(self.store_name, exc)
            log.warning("session store unavailable while loading a session: %s", reason)
            return UnavailableSession(reason)

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        if isinstance(session, UnavailableSession):
            return  # nothing was loaded, so there is nothing to write, and the cookie must stay
        try:
            super().save_session(app, session, response)  # type: ignore[misc]
        except STORE_ERRORS as exc:
            reason = describe_store_error(self.store_name, exc)
            if not session.modified:
                # Only the expiry refresh failed; the stored session is still what this page showed.
                log.warning("session store unavailable; session expiry not extended: %s", reason)
                return
            log.error("session store unavailable; the session was not saved: %s", reason)
            _replace_with_unavailable_page(response)


class ResilientRedisSessionInterface(_StoreFailureHandling, RedisSessionInterface):
    store_name = "redis"

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        # Flask-Session falls back to pickle for values msgpack cannot read: whoever can write to the
        # Redis (a shared cache, a leaked key) could then run code in the app. Read msgpack only; a
        # value that is not a session (or a cookie naming another key) is simply no session.
        raw = self.client.get(store_id)
        if not raw:
            return None
        try:
            data = msgspec.msgpack.decode(raw)
        except msgspec.DecodeError:
            log.warning("ignored a session entry that is not a session")
            return None
        return data if isinstance(data, dict) else None

    def probe(self) -> None:
        """Raise unless a session could be written now (a write, since a full Redis still answers PING)."""
        self.client.set(self.key_prefix + READINESS_PROBE_KEY, b"1", ex=10)


class ResilientCacheLibSessionInterface(_StoreFailureHandling, CacheLibSessionInterface):
    store_name = "filesystem"

    def _upsert_session(self, session_lifetime: timedelta, session: ServerSideSession, store_id: str) -> None:
        # cachelib logs and returns False when a write fails; make that a failure we can act on.
        if not self.cache.set(store_id, dict(session), timeout=int(session_lifetime.total_seconds())):
            raise SessionStoreError("could not write the session file")

    def probe(self) -> None:
        key = self.key_prefix + READINESS_PROBE_KEY
        if not self.cache.set(key, b"1", timeout=60) or self.cache.get(key) != b"1":
            raise SessionStoreError("the session folder is not writable")


def redis_client(url: str) -> redis.Redis:
    """A client with short timeouts and a brief retry: a dead pooled connection (Redis restarted) is
    replaced on the retry, but a Redis that is down costs a request well under a second."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
    )


def install_session_store(app: Flask, *, session_type: str, redis_url: str | None, session_dir: str) -> None:
    """Make `app` keep its sessions in the configured store, with the failure handling above.

    Reads the cookie, lifetime and key prefix settings from `app.config` (set by create_app).
    """
    common: dict[str, Any] = {
        "key_prefix": app.config["SESSION_KEY_PREFIX"],
        "use_signer": False,
        "permanent": app.config["SESSION_PERMANENT"],
    }
    if session_type == "redis":
        if not redis_url:
            raise ValueError("SESSION_TYPE=redis needs REDIS_URL")
        interface: Any = ResilientRedisSessionInterface(app, client=redis_client(redis_url), **common)
    else:
        # Embedded default: files in the instance folder, each written to a temporary file and renamed.
        cache = FileSystemCache(session_dir, threshold=100_000, mode=0o600)
        interface = ResilientCacheLibSessionInterface(app, client=cache, **common)
    app.session_interface = interface

    # Registered before CSRFProtect and every other hook, so a request whose session could not be
    # loaded is answered here, and not by a CSRF failure or a page that believes nobody signed in.
    @app.before_request
    def refuse_requests_without_their_session() -> Response | None:
        if request.endpoint in ENDPOINTS_WITHOUT_SESSION:
            return None
        if isinstance(session, UnavailableSession):
            return unavailable_page()
        return None

    # A store error inside a view (e.g. regenerating the session id deletes the old entry).
    for error_type in (redis.RedisError, SessionStoreError):
        app.register_error_handler(error_type, _store_error_in_view)


def probe_session_store(app: Flask) -> dict[str, Any]:
    """For /readyz: can a session be written right now? Says why not, without secrets."""
    interface = app.session_interface
    store_name = getattr(interface, "store_name", type(interface).__name__)
    try:
        interface.probe()  # type: ignore[attr-defined]
    except STORE_ERRORS as exc:
        return {"ok": False, "store": store_name, "error": describe_store_error(store_name, exc)}
    return {"ok": True, "store": store_name}


def describe_store_error(store_name: str, exc: Exception) -> str:
    """A one-line reason. redis-py's messages name host and port, never the URL's password."""
    if isinstance(exc, SessionStoreError):
        detail = exc.reason
    elif isinstance(exc, redis.RedisError):
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        detail = type(exc).__name__
    return f"{store_name}: {detail}"


def unavailable_page() -> Response:
    # The template extends nothing that reads the session: it must render when there is none.
    body = render_template("session_store_unavailable.html", retry_url=_retry_url())
    response = Response(body, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _retry_url() -> str | None:
    """The same page again, for a plain page view; never the sign-in callback (its URL holds a code)."""
    if request.method != "GET" or request.endpoint in (None, "auth.redirect"):
        return None
    return request.full_path.rstrip("?")


def _store_error_in_view(exc: Exception) -> Response:
    log.error("session store failed during the request: %s", describe_store_error("session store", exc))
    return unavailable_page()


def _replace_with_unavailable_page(response: Response) -> None:
    """Turn the already-built response into the 503 page (Flask gives save_session no way to swap it)."""
    page = unavailable_page()
    response.direct_passthrough = False
    response.status_code = page.status_code
    response.set_data(page.get_data())
    for header in ("Location", "Set-Cookie", "Content-Type", "Retry-After", "Cache-Control"):
        response.headers.pop(header, None)
    for header in ("Content-Type", "Retry-After", "Cache-Control"):
        response.headers[header] = page.headers[header]
