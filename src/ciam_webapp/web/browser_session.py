"""Flask glue for sessions/: the session cookie in, the record and browser state out, and store failures
as a 503 page. Views get everything through `sign_in_session()`; none reads `flask.session`.

`flask.session` is the server-side record (a `StoredRecord`), because Flask-WTF keeps its CSRF token
there; nothing else uses it. The record is loaded only when something reads it, so static files,
health probes and anonymous pages never touch the store, and written only where this request
changed it (sessions/record.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from flask import Flask, Request, current_app, g, render_template, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.wrappers import Response

from ..services import Services
from ..sessions import (
    BrowserState,
    CookieAction,
    SessionStoreError,
    SignInSession,
    StoredRecord,
    field_merges,
)

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
SERVICES_KEY = "ciam"


def services() -> Services:
    return current_app.extensions[SERVICES_KEY]  # type: ignore[no-any-return]


class FlaskRecord(StoredRecord, SessionMixin):  # type: ignore[misc]
    """The record, as the object Flask and Flask-WTF know as `session`."""


class StoredSessionInterface(SessionInterface):
    def __init__(self, cookie_name: str, *, secure: bool) -> None:
        self.cookie_name = cookie_name
        self.secure = secure

    def open_session(self, app: Flask, request: Request) -> FlaskRecord:
        found = services()
        return FlaskRecord(
            found.session_store,
            request.cookies.get(self.cookie_name),
            idle_timeout=found.settings.session_idle_timeout,
            lifetime=found.settings.session_lifetime,
            required_field="user",
            merges=field_merges(found.token_cache_codec),
            clock=found.clock,
        )

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, FlaskRecord)
        if session.loaded:
            response.vary.add("Cookie")
        try:
            result = session.commit()
        except SessionStoreError as exc:
            if not session.changed:
                log.warning("session store unavailable; session expiry not extended: %s", exc.reason)
                return
            log.error("session store unavailable; the session was not saved: %s", exc.reason)
            _replace_with_unavailable_page(response)
            return
        if result.cookie is CookieAction.SET:
            response.set_cookie(
                self.cookie_name,
                result.sid or "",
                max_age=services().settings.session_lifetime,
                httponly=True,
                secure=self.secure,
                samesite="Lax",
                path="/",
            )
        elif result.cookie is CookieAction.CLEAR and self.cookie_name in request.cookies:
            response.delete_cookie(self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax")


def browser_state() -> BrowserState:
    if "browser_state" not in g:
        found = services()
        g.browser_state = BrowserState(
            request.cookies,
            sealer=found.browser_sealer,
            cookie_prefix=cookie_names(found.settings.serves_https).browser_prefix,
            max_age=int(found.session_policy.pending_lifetime),
        )
    return g.browser_state  # type: ignore[no-any-return]


def sign_in_session() -> SignInSession:
    """This request's SignInSession (one per request)."""
    if "sign_in_session" not in g:
        from flask import session

        found = services()
        g.sign_in_session = SignInSession(
            session,  # the FlaskRecord
            browser_state(),
            entra=found.entra,
            redirect_uri=found.settings.redirect_uri,
            token_cache_codec=found.token_cache_codec,
            policy=found.session_policy,
            clock=found.clock,
        )
    return g.sign_in_session  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CookieNames:
    session: str
    browser_prefix: str


def cookie_names(secure: bool) -> CookieNames:
    # Over HTTPS the __Host- prefix makes the browser refuse these cookies unless they are Secure,
    # Path=/ and host-only: no sibling subdomain can plant or overwrite them.
    prefix = "__Host-" if secure else ""
    return CookieNames(session=f"{prefix}ciam_session", browser_prefix=f"{prefix}ciam.")


def install_browser_session(app: Flask, *, secure: bool) -> None:
    app.session_interface = StoredSessionInterface(cookie_names(secure).session, secure=secure)

    @app.after_request
    def send_browser_state(response: Response) -> Response:
        state: BrowserState | None = g.get("browser_state")
        if state is None:
            return response
        max_age = state.max_age
        for change in state.cookie_changes():
            if change.value is None:
                response.delete_cookie(change.name, path="/", secure=secure, httponly=True, samesite="Lax")
            else:
                response.set_cookie(
                    change.name, change.value, max_age=max_age, httponly=True, secure=secure, samesite="Lax", path="/"
                )
        return response

    app.register_error_handler(SessionStoreError, _store_error_in_view)
    # Redis failing under a library that talks to it directly (none of ours lets one through).
    app.register_error_handler(redis.RedisError, _store_error_in_view)


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
    reason = exc.reason if isinstance(exc, SessionStoreError) else f"{type(exc).__name__}: {str(exc)[:200]}"
    log.error("session store failed during the request: %s", reason)
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
