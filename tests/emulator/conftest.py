"""Fixtures for the emulator's own tests: a seeded emulator on a real HTTPS port, a scripted browser.

Self-contained on purpose (the project-wide tests/conftest.py belongs to the web app's tests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import msal
import pytest
import requests
from bs4 import BeautifulSoup

from ciam_emulator import EmulatorSettings, create_app
from ciam_emulator.seed import SeedResult, seed
from ciam_emulator.server import make_server
from ciam_emulator.tls import ensure_tls
from tests.support.graph_admin import GraphAdminClient

APP_BASE_URL = "http://localhost:5000"
REDIRECT_URI = f"{APP_BASE_URL}/auth/redirect"


@pytest.fixture(scope="session", autouse=True)
def _msal_events_redacted_as_the_app_redacts_them() -> None:
    """Some of these tests are MSAL clients of the emulator themselves (code flow, certificates).
    MSAL's DEBUG token events carry the authorization code and the PKCE verifier; the app masks
    them with its filter on MSAL's loggers (web/logs.py), installed when an app is built. Here no
    app may have been built yet in this test process, so the tests' own MSAL gets the same filter:
    the suite-wide log check then holds these tests to the app's rule rather than flagging them."""
    from ciam_webapp.web.logs import MSAL_LOGGERS_WITH_SECRETS, MsalRedactor

    for name in MSAL_LOGGERS_WITH_SECRETS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MsalRedactor) for f in logger.filters):
            logger.addFilter(MsalRedactor())


def trusted_session(ca_cert: Path) -> requests.Session:
    """A requests session trusting only the emulator CA.

    trust_env=False matters: REQUESTS_CA_BUNDLE in the environment would override ``verify``.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_cert)
    return session


@dataclass
class LiveEmulator:
    base_url: str
    ca_cert: Path
    seeded: SeedResult
    client_secret: str
    app: Any

    @property
    def tenant_url(self) -> str:
        return f"{self.base_url}/{self.seeded.tenant_id}"

    @property
    def issuer(self) -> str:
        """The tenant's issuer: like Entra's https://{tid}.ciamlogin.com/{tid}/v2.0, not on the authority's host."""
        tenant_id = self.seeded.tenant_id
        return f"https://{tenant_id}.ciamlogin.localhost/{tenant_id}/v2.0"

    @property
    def token_url(self) -> str:
        return f"{self.tenant_url}/oauth2/v2.0/token"

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        http = trusted_session(self.ca_cert)
        response = http.request(method, f"{self.base_url}/_emulator/control/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response

    def latest_code(self, email: str, purpose: str) -> str:
        http = trusted_session(self.ca_cert)
        messages = http.get(f"{self.base_url}/_emulator/outbox.json", params={"to": email}, timeout=10).json()
        matching = [m for m in messages if m["purpose"] == purpose]
        assert matching, f"no {purpose} message for {email}"
        return matching[0]["code"]

    def msal_app(self, *, client_secret: str | None = None) -> msal.ConfidentialClientApplication:
        # A fresh http_cache per app: MSAL replays an identical failing POST from memory for 60 s.
        return msal.ConfidentialClientApplication(
            self.seeded.client_id,
            client_credential=client_secret or self.client_secret,
            authority=self.tenant_url,
            instance_discovery=False,
            http_client=trusted_session(self.ca_cert),
            http_cache={},
        )

    def new_user(self, email: str, password: str = "Str0ng-Passw0rd!", display_name: str = "Test User") -> str:  # noqa: S107 - test-only password
        self.control("POST", "users", {"email": email, "password": password, "display_name": display_name})
        return password


GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


class GraphAdmin(GraphAdminClient):
    """Calls the emulator's Graph admin endpoints as the tenant's admin (a token from the test controls)."""

    def __init__(self, emulator: LiveEmulator, scopes: list[str] | None = None) -> None:
        body = {} if scopes is None else {"scopes": scopes}
        token = emulator.control("POST", "admin-token", body).json()["access_token"]
        super().__init__(f"{emulator.base_url}/v1.0", token, trusted_session(emulator.ca_cert))


def seeded_graph_grant(emulator: LiveEmulator) -> dict[str, Any]:
    """The web app's tenant-wide grant on Microsoft Graph, as seed() made it."""
    return GraphAdmin(emulator).tenant_wide_grant(emulator.seeded.client_id, GRAPH_APP_ID)


@pytest.fixture(scope="session")
def emulator_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEmulator]:
    instance_dir = tmp_path_factory.mktemp("emulator-instance")
    tls = ensure_tls(instance_dir)
    seeded = seed(instance_dir, app_base_url=APP_BASE_URL, extra_redirect_uris=[f"{APP_BASE_URL}/other/redirect"])
    assert seeded.client_secret is not None
    settings = EmulatorSettings(instance_dir=instance_dir, base_url="https://127.0.0.1:0", test_controls=True)
    app = create_app(settings)
    server = make_server(app, "127.0.0.1", 0, tls)
    # The base URL is read per request, so the real port can be filled in now.
    settings.base_url = f"https://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
    thread.start()
    try:
        yield LiveEmulator(settings.base_url, tls.ca_cert, seeded, seeded.client_secret, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def emulator(emulator_instance: LiveEmulator) -> Iterator[LiveEmulator]:
    """The shared emulator, with scripted faults and test switches reset around each test."""
    yield emulator_instance
    emulator_instance.control("DELETE", "misbehave")
    emulator_instance.control("DELETE", "graph/faults")
    emulator_instance.control("DELETE", "token/faults")
    emulator_instance.control("POST", "policy", {"require_mfa_for_mfa_app": True})
    emulator_instance.control("POST", "token/lifetime", {"access_token_seconds": None})


@dataclass
class Page:
    """A hosted page the scripted browser landed on."""

    url: str
    status: int
    soup: BeautifulSoup
    response: requests.Response

    def form(self, contains_action: str) -> Any:
        for form in self.soup.find_all("form"):
            if contains_action in form.get("action", ""):
                return form
        raise AssertionError(f"no form posting to *{contains_action}* on {self.url}")

    def error_text(self) -> str | None:
        error = self.soup.find(class_="error")
        return error.get_text(strip=True) if error else None


@dataclass
class Callback:
    """What arrived at the app's redirect URI (query or form_post)."""

    url: str
    params: dict[str, str]
    method: str


class ScriptedBrowser:
    """Follows the emulator's redirects and fills its forms; stops at the app's redirect URI."""

    def __init__(self, emulator: LiveEmulator) -> None:
        self.emulator = emulator
        self.http = trusted_session(emulator.ca_cert)

    def open(self, url: str) -> Page | Callback:
        return self._follow(self.http.get(url, allow_redirects=False, timeout=10))

    def submit(self, page: Page, contains_action: str, fields: dict[str, str]) -> Page | Callback:
        form = page.form(contains_action)
        data = {field["name"]: field.get("value", "") for field in form.find_all("input") if field.get("name")}
        data.update(fields)
        target = urljoin(page.url, form["action"])
        return self._follow(self.http.post(target, data=data, allow_redirects=False, timeout=10))

    def _follow(self, response: requests.Response) -> Page | Callback:
        for _ in range(20):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if not location.startswith(self.emulator.base_url):
                    parts = urlsplit(location)
                    query = parts.fragment if parts.fragment else parts.query
                    params = {key: values[0] for key, values in parse_qs(query).items()}
                    return Callback(location, params, "GET")
                response = self.http.get(location, allow_redirects=False, timeout=10)
                continue
            soup = BeautifulSoup(response.text, "html.parser")
            form_post = soup.find("form", id="form-post-response")
            if form_post is not None:
                params = {field["name"]: field["value"] for field in form_post.find_all("input")}
                return Callback(form_post["action"], params, "POST")
            return Page(response.url, response.status_code, soup, response)
        raise AssertionError("too many redirects")

    def sign_in(self, auth_uri: str, email: str, password: str) -> Callback:
        """Run an authorize URL to its callback: sign in if asked, pass MFA if asked."""
        result = self.open(auth_uri)
        if isinstance(result, Page) and "/login/signin" in result.url:
            result = self.submit(result, "/login/signin", {"email": email, "password": password})
        return self.pass_mfa(result, email)

    def pass_mfa(self, result: Page | Callback, email: str) -> Callback:
        if isinstance(result, Page) and result.url.split("?")[0].endswith("/login/mfa"):
            result = self.submit(result, "/login/mfa", {})
        if isinstance(result, Page) and "/login/mfa/code" in result.url:
            code = self.emulator.latest_code(email, "mfa")
            result = self.submit(result, "/login/mfa/code", {"code": code, "action": "verify"})
        assert isinstance(result, Callback), f"expected a callback, got page {getattr(result, 'url', '')}"
        return result


@pytest.fixture
def browser(emulator: LiveEmulator) -> ScriptedBrowser:
    return ScriptedBrowser(emulator)
