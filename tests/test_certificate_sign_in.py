"""The web app configured with a certificate instead of a client secret, through the tenant's hosted pages.

A second app instance runs on its own port with CLIENT_CERTIFICATE_PATH (an encrypted key, so
CLIENT_CERTIFICATE_PASSWORD too) and no CLIENT_SECRET; the certificate's public part is uploaded to the web
app registration, and the instance's redirect URIs added, by re-running the emulator's seed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server as make_wsgi_server

from ciam_emulator.seed import seed
from ciam_webapp import create_app
from tests.conftest import SUITE_SECRETS, ServerThread, WebApp, app_settings, free_port
from tests.support.certificates import GeneratedCertificate, make_certificate
from tests.support.journeys import TenantPages, on_app, sign_in


@contextlib.contextmanager
def running_app(tenant, folder: Path, certificate: GeneratedCertificate, *, upload: bool) -> Iterator[WebApp]:
    """An app instance on its own port that authenticates with ``certificate`` (an encrypted PEM file)."""
    base_url = f"http://localhost:{free_port()}"
    instance_dir = tenant.app.extensions["ciam_emulator"].settings.instance_dir
    seed(instance_dir, app_base_url=base_url, client_certificate_pem=certificate.certificate_pem if upload else None)
    password = secrets.token_urlsafe(16)
    SUITE_SECRETS.add(password)
    pem_path = certificate.write_pem(folder / "client.pem", password=password)
    # A line of the (encrypted) key: the end-of-suite check makes sure no log ever carries it.
    SUITE_SECRETS.add(pem_path.read_text().splitlines()[2])
    settings = app_settings(
        tenant,
        base_url,
        folder,
        CLIENT_SECRET="",
        CLIENT_CERTIFICATE_PATH=str(pem_path),
        CLIENT_CERTIFICATE_PASSWORD=password,
    )
    assert settings.client_secret is None and settings.client_certificate is not None
    app = create_app(settings)
    port = int(base_url.rsplit(":", 1)[1])
    server = ServerThread(make_wsgi_server("127.0.0.1", port, app, threaded=True))
    try:
        yield WebApp(base_url=base_url, app=app, settings=settings)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def certificate_webapp(tenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    folder = tmp_path_factory.mktemp("certificate-webapp")
    with running_app(tenant, folder, make_certificate("ciam-webapp"), upload=True) as webapp:
        yield webapp


def test_sign_in_profile_and_mfa_step_up_with_a_certificate(person, certificate_webapp, tenant, customer):
    webapp = certificate_webapp
    tenant.reset_stats()
    home = sign_in(person, webapp, tenant, customer.email, customer.password)
    assert on_app(home, webapp) and home.path == "/", home.text[:500]
    assert f"Welcome, {customer.display_name}" in home.text

    profile = person.get(webapp.url("/profile"))  # Graph token from the code redeemed with the certificate
    assert profile.status == 200 and customer.email in profile.text

    # The edit asks the tenant for the MFA scope with the refresh token (client authenticated again with a
    # new assertion), is told MFA is needed, and comes back through the tenant's MFA pages.
    page = person.get(webapp.url("/profile/edit"))
    assert page.url.startswith(tenant.base_url)
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, webapp) and page.path == "/profile/edit" and page.has_field("displayName"), page.text[:500]
    assert tenant.stats()["token"] == {"authorization_code": 2, "refresh_token": 1, "on_behalf_of": 0}


def test_certificate_the_registration_does_not_know_fails_sign_in_cleanly(person, tenant, customer, tmp_path, app_logs):
    with running_app(tenant, tmp_path, make_certificate("never uploaded"), upload=False) as webapp:
        page = sign_in(person, webapp, tenant, customer.email, customer.password)
        assert on_app(page, webapp)
        assert page.status == 400 and "Sign-in failed" in page.text and "Traceback" not in page.text
        assert "invalid_client [700027]" in app_logs.text
        assert person.http.get(webapp.url("/claims"), allow_redirects=False, timeout=10).status_code == 302, (
            "no session was created"
        )
