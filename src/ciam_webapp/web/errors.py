"""Every failure becomes a page in the site's style with a next step; no traceback reaches a user."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..identity import IdentityError, SignInError, TenantUnavailable
from ..sessions import SessionEnded

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SessionEnded)
    def session_ended(exc: SessionEnded) -> tuple[str, int]:
        return (
            render_template(
                "error.html",
                title="Please sign in again",
                message="Your session ended while you were confirming it's you, so nothing was changed. "
                "Sign in again to continue.",
                retry_url="auth.sign_in",
            ),
            400,
        )

    @app.errorhandler(SignInError)
    def sign_in_failed(exc: SignInError) -> tuple[str, int]:
        return (
            render_template(
                "error.html",
                title="Sign-in failed",
                message="We could not sign you in. Nothing was saved. Please try again.",
                detail=exc.tenant_description,
                correlation_id=exc.correlation_id,
                retry_url="auth.sign_in",
            ),
            400,
        )

    @app.errorhandler(TenantUnavailable)
    def tenant_unavailable(exc: TenantUnavailable) -> tuple[str, int, dict[str, str]]:
        log.warning("tenant unavailable: %s", exc.reason, extra={"correlation_id": exc.correlation_id})
        return (
            render_template(
                "error.html",
                title="Sign-in service unavailable",
                message=exc.user_message,
                retry_here=request.full_path.rstrip("?") if request.method == "GET" else None,
            ),
            503,
            {"Retry-After": "5"},
        )

    @app.errorhandler(IdentityError)
    def identity_error(exc: IdentityError) -> tuple[str, int]:
        log.warning("identity error: %s", exc.reason, extra={"correlation_id": exc.correlation_id})
        return render_template("error.html", title="Something went wrong", message=exc.user_message), 500

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> tuple[str, int]:
        log.info("CSRF check failed: %s", exc.description)
        return (
            render_template(
                "error.html",
                title="This form has expired",
                message="For your security the form could not be accepted. Go back, reload the page "
                "and submit it again.",
            ),
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return (
            render_template("error.html", title=exc.name, message=exc.description, status=exc.code),
            exc.code or 500,
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unhandled error")
        return (
            render_template(
                "error.html",
                title="Something went wrong",
                message="An unexpected error occurred. It has been logged. Please try again.",
            ),
            500,
        )
