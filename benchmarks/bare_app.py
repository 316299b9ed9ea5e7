"""The baselines: a bare Flask app with no identity layer, served exactly like the real app.

`/hello` is Flask's own ceiling. `/page` renders the real app's `profile.html` (and so `base.html`,
with the signed-in navigation) from the same template folder, with a fixed profile instead of a
Graph call and no session, CSRF, security headers or token cache: the difference between this page
and the real profile page is what the identity layer costs.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from flask import Flask, render_template

import ciam_webapp
from ciam_core.customer_profile import language_name
from ciam_webapp.graph import PROFILE_FIELDS, Profile

PACKAGE_DIR = Path(ciam_webapp.__file__).resolve().parent

# What the emulator's Graph /me answers for a new customer, in the shape the real view passes on
# (every selected property, unset ones as None).
SAMPLE_PROFILE = Profile(
    {
        **dict.fromkeys(PROFILE_FIELDS),
        "id": "00000000-0000-4000-8000-000000000001",
        "displayName": "Bench Customer",
        "mail": "bench@contoso.example",
        "userPrincipalName": "bench@contoso.example",
    }
)
# What the real app's page context gives base.html (web/main.py, web/provider_features.py), as constants.
SAMPLE_USER = SimpleNamespace(display_name="Bench Customer")
OFFERS = SimpleNamespace(entra=True, profile=True, sign_up=True, provider_name="Microsoft Entra External ID")


def create_bare_app() -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PACKAGE_DIR / "templates"),
        static_folder=str(PACKAGE_DIR / "static"),
    )
    # The template's navigation links to these endpoints and asks for a CSRF token; a bare app has
    # neither, so the links point nowhere and the token is a constant.
    for endpoint in (
        "main.index",
        "main.claims",
        "profile.view",
        "profile.edit",
        "auth.sign_in",
        "auth.sign_up",
        "auth.sign_out",
        "auth.password_reset",  # profile.html's "reset it" link (h15-userflows)
    ):
        app.add_url_rule(f"/_/{endpoint}", endpoint=endpoint, view_func=_nothing)
    app.jinja_env.globals.update(
        csrf_token=lambda: "bare-app-has-no-csrf-token",
        current_user=lambda: SAMPLE_USER,  # the signed-in navigation, without a session behind it
        take_notice=lambda: None,
        offers=OFFERS,
    )

    @app.get("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.get("/page")
    def page() -> str:
        return render_template(
            "profile.html", profile=SAMPLE_PROFILE, email=SAMPLE_PROFILE["mail"], language_name=language_name
        )

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


def _nothing() -> str:
    return ""
