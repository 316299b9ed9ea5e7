"""The emulator's Flask application factory."""

from __future__ import annotations

import secrets

from flask import Flask, Response, request

from ciam_emulator.context import Emulator
from ciam_emulator.errors import AuthorizePageError, UnknownTenantError
from ciam_emulator.settings import EmulatorSettings
from ciam_emulator.web import (
    control_views,
    graph_admin_views,
    graph_views,
    hosted_views,
    oidc_views,
    outbox_views,
    user_flow_views,
)
from ciam_emulator.web.common import (
    EXTENSION_KEY,
    apply_security_headers,
    entra_json_error,
    error_page,
    unknown_tenant_error,
)

# Paths where an unknown tenant is reported on a page for a person rather than as JSON.
_BROWSER_PATH_MARKERS = ("/oauth2/v2.0/authorize", "/oauth2/v2.0/logout", "/login/")


def create_app(settings: EmulatorSettings) -> Flask:
    app = Flask(__name__, static_url_path="/_emulator/static")
    # Flask's own session is unused; a random key keeps it unusable across restarts.
    app.config.update(SECRET_KEY=secrets.token_hex(32), JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    emulator = Emulator.open(settings)
    app.extensions[EXTENSION_KEY] = emulator

    app.register_blueprint(outbox_views.blueprint)
    app.register_blueprint(graph_views.blueprint)
    app.register_blueprint(graph_admin_views.blueprint)
    app.register_blueprint(user_flow_views.blueprint)
    app.register_blueprint(oidc_views.blueprint)
    app.register_blueprint(hosted_views.blueprint)
    if settings.test_controls:
        app.register_blueprint(control_views.blueprint)

    @app.errorhandler(UnknownTenantError)
    def _unknown_tenant(error: UnknownTenantError) -> Response:
        if any(marker in request.path for marker in _BROWSER_PATH_MARKERS):
            problem = unknown_tenant_error(error.segment)
            return error_page("Tenant not found", problem.message, code=problem.code)
        return entra_json_error(unknown_tenant_error(error.segment))

    @app.errorhandler(AuthorizePageError)
    def _authorize_page_error(error: AuthorizePageError) -> Response:
        return error_page("Sorry, but we're having trouble signing you in.", error.message, error.status, error.code)

    app.after_request(apply_security_headers)

    @app.teardown_appcontext
    def _close_connection(_: BaseException | None) -> None:
        emulator.store.close_thread_connection()

    return app
