"""A certified OpenID Provider nobody here wrote (panva's oidc-provider, from npm) and the app set up
for it with OIDC_ISSUER, both on real ports, once per test session.

The provider runs as a Node process (tests/interop/oidc-provider/provider.js) over HTTPS with a
certificate from a CA made here, which the app trusts through CA_BUNDLE; its issuer has a path
(`https://localhost:PORT/oidc`), as MSAL requires. The app runs on `127.0.0.1`, a different site from
the provider's `localhost`, so neither sees the other's cookies.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import trustme
from werkzeug.serving import make_server as make_wsgi_server

from ciam_webapp import Settings, create_app
from tests.conftest import SUITE_SECRETS, WebApp
from tests.support.certificates import GeneratedCertificate, make_certificate
from tests.support.person import Person
from tests.support.servers import ServerThread, free_port

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc-provider"
START_TIMEOUT = 30.0

# oidc-provider's development login page takes any password for a known login; these are the
# accounts findAccount knows, with the claims it releases per scope.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ada": {
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_username": "ada@example.test",
        "email": "ada@example.test",
        "email_verified": True,
    },
    "grace": {
        "name": "Grace Hopper",
        "given_name": "Grace",
        "family_name": "Hopper",
        "preferred_username": "grace@example.test",
        "email": "grace@example.test",
        "email_verified": True,
    },
}


@dataclass
class OpenIdProvider:
    """The running oidc-provider and what was registered in it."""

    issuer: str
    ca_bundle: str
    server_cert: str
    client_id: str
    client_secret: str = field(repr=False)
    control_token: str = field(repr=False)
    log_path: Path
    # A second registration for an app that authenticates with a certificate (private_key_jwt).
    certificate_client_id: str
    client_certificate: GeneratedCertificate = field(repr=False)
    accounts: dict[str, dict[str, Any]] = field(default_factory=lambda: ACCOUNTS)

    @property
    def origin(self) -> str:
        return self.issuer.rsplit("/", 1)[0]

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= otherwise
        response = http.request(
            method,
            f"{self.origin}/_control/{path}",
            headers={"Authorization": f"Bearer {self.control_token}"},
            verify=self.ca_bundle,
            timeout=10,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def misbehave_next_id_token(self, **how: Any) -> None:
        """The next ID token the token endpoint returns is rewritten (see provider.js `misbehave`)."""
        self._control("POST", "id-token", json=how)

    def behave(self) -> None:
        self._control("DELETE", "id-token")

    def received(self) -> dict[str, list[dict[str, Any]]]:
        """Authorization request parameters and token request parameter names the provider received."""
        return self._control("GET", "received")

    def forget_received(self) -> None:
        self._control("DELETE", "received")


def _write_tls(directory: Path) -> tuple[Path, Path, Path]:
    authority = trustme.CA(organization_name="ciam-webapp interop test CA")
    server = authority.issue_cert("localhost", common_name="localhost")
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def _wait_until_ready(process: subprocess.Popen[bytes], issuer: str, ca_bundle: Path, log_path: Path) -> None:
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"oidc-provider exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if http.get(f"{issuer}/.well-known/openid-configuration", verify=str(ca_bundle), timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"oidc-provider did not answer within {START_TIMEOUT:.0f} s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def generic_app_base_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def certificate_app_base_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _public_jwk(certificate: GeneratedCertificate) -> dict[str, Any]:
    return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(certificate.private_key.public_key()))


@pytest.fixture(scope="session")
def openid_provider(
    tmp_path_factory: pytest.TempPathFactory, generic_app_base_url: str, certificate_app_base_url: str
) -> Iterator[OpenIdProvider]:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"oidc-provider is not installed: run `make test` (it runs npm ci in {PROVIDER_DIR})")
    directory = tmp_path_factory.mktemp("oidc-provider")
    ca_path, cert_path, key_path = _write_tls(directory)
    port = free_port()
    issuer = f"https://localhost:{port}/oidc"
    client_id = f"webapp-{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(32)
    control_token = secrets.token_urlsafe(32)
    SUITE_SECRETS.update({client_secret, control_token})
    certificate_client_id = f"webapp-cert-{secrets.token_hex(4)}"
    client_certificate = make_certificate("ciam-webapp interop client")
    config = {
        "issuer": issuer,
        "host": "127.0.0.1",
        "port": port,
        "tls_cert": str(cert_path),
        "tls_key": str(key_path),
        # The app's one registration: a confidential client authenticating with client_secret_post
        # (what MSAL sends), RS256 ID tokens, the app's redirect and post-logout redirect URIs.
        "clients": [
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "client_name": "Contoso customer account",
                "redirect_uris": [f"{generic_app_base_url}/auth/redirect"],
                "post_logout_redirect_uris": [f"{generic_app_base_url}/"],
                "token_endpoint_auth_method": "client_secret_post",
                "id_token_signed_response_alg": "RS256",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
            # The same app with a certificate instead (CLIENT_CERTIFICATE_PATH): MSAL signs a PS256
            # client assertion; the provider knows only the public key.
            {
                "client_id": certificate_client_id,
                "client_name": "Contoso customer account (certificate)",
                "redirect_uris": [f"{certificate_app_base_url}/auth/redirect"],
                "post_logout_redirect_uris": [f"{certificate_app_base_url}/"],
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "PS256",
                "jwks": {"keys": [_public_jwk(client_certificate)]},
                "id_token_signed_response_alg": "RS256",
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
        ],
        "accounts": ACCOUNTS,
        "control_token": control_token,
        "cookie_key": secrets.token_urlsafe(32),
    }
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    config_path.chmod(0o600)
    log_path = directory / "provider.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["node", "provider.js", str(config_path)], cwd=PROVIDER_DIR, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_ready(process, issuer, ca_path, log_path)
        yield OpenIdProvider(
            issuer=issuer,
            ca_bundle=str(ca_path),
            server_cert=str(cert_path),
            client_id=client_id,
            client_secret=client_secret,
            control_token=control_token,
            log_path=log_path,
            certificate_client_id=certificate_client_id,
            client_certificate=client_certificate,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def generic_app_settings(provider: OpenIdProvider, base_url: str, instance_dir: Path, **overrides: str) -> Settings:
    values = {
        "CLIENT_ID": provider.client_id,
        "CLIENT_SECRET": provider.client_secret,
        "OIDC_ISSUER": provider.issuer,
        "REDIRECT_URI": f"{base_url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{base_url}/",
        "SECRET_KEY": secrets.token_hex(32),
        "CA_BUNDLE": provider.ca_bundle,
        "INSTANCE_DIR": str(instance_dir),
        "HTTP_TIMEOUT": "5",
        # As in tests/conftest.py: these tests start more than the default 20 sign-ins a minute from
        # 127.0.0.1; the limit has tests of its own.
        "SIGN_IN_RATE_LIMIT": "100000 per minute",
    }
    values.update(overrides)
    SUITE_SECRETS.add(values["SECRET_KEY"])
    return Settings.from_mapping(values)


@pytest.fixture(scope="session")
def generic_webapp(
    openid_provider: OpenIdProvider, generic_app_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebApp]:
    settings = generic_app_settings(openid_provider, generic_app_base_url, tmp_path_factory.mktemp("generic-webapp"))
    app = create_app(settings)
    port = int(generic_app_base_url.rsplit(":", 1)[1])
    server = ServerThread(make_wsgi_server("127.0.0.1", port, app, threaded=True))
    yield WebApp(base_url=generic_app_base_url, app=app, settings=settings)
    server.stop()


@pytest.fixture(scope="session")
def certificate_webapp(
    openid_provider: OpenIdProvider, certificate_app_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebApp]:
    """The app registered as the provider's second client, authenticating with a certificate."""
    directory = tmp_path_factory.mktemp("certificate-webapp")
    pem = openid_provider.client_certificate.write_pem(directory / "client.pem")
    settings = generic_app_settings(
        openid_provider,
        certificate_app_base_url,
        directory,
        CLIENT_ID=openid_provider.certificate_client_id,
        CLIENT_SECRET="",
        CLIENT_CERTIFICATE_PATH=str(pem),
    )
    app = create_app(settings)
    port = int(certificate_app_base_url.rsplit(":", 1)[1])
    server = ServerThread(make_wsgi_server("127.0.0.1", port, app, threaded=True))
    yield WebApp(base_url=certificate_app_base_url, app=app, settings=settings)
    server.stop()


@pytest.fixture()
def provider_person(openid_provider: OpenIdProvider) -> Iterator[Person]:
    """A person with a browser-like cookie jar who trusts the provider's CA."""
    person = Person(openid_provider.ca_bundle)
    yield person
    SUITE_SECRETS.update(c.value for c in person.http.cookies if c.value and len(c.value) >= 16)


@pytest.fixture(autouse=True)
def _provider_behaves_again(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "openid_provider" in request.fixturenames:
        provider: OpenIdProvider = request.getfixturevalue("openid_provider")
        provider.behave()


# -- Debian's chromium for the browser journey, launched as tests/browser/conftest.py launches it ---------


@pytest.fixture(scope="session")
def provider_browser(playwright, openid_provider: OpenIdProvider) -> Iterator[object]:
    """A chromium that trusts the provider's certificate key (tests/browser's trusts the emulator's)."""
    from tests.support.chromium import launch_chromium
    from tests.support.site_tls import spki_pin

    provider_browser = launch_chromium(playwright, [spki_pin(Path(openid_provider.server_cert))])
    yield provider_browser
    provider_browser.close()


@pytest.fixture()
def provider_page(provider_browser) -> Iterator[object]:
    """A watched page in a fresh browser context (no cookies from another test)."""
    from tests.support.chromium import open_watched_page

    context, page = open_watched_page(provider_browser)
    yield page
    context.close()


@pytest.fixture()
def provider_screenshot(request: pytest.FixtureRequest):
    """`provider_screenshot(page, "name")` saves test-artifacts/screenshots/<test>-<name>.png (git-ignored)."""
    from tests.support.chromium import screenshot_taker

    return screenshot_taker(request.node.name)
