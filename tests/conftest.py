"""One fixture builds the local tenant (emulator) and the web app, each on a real port.

Both run in this process, on threads, once per test session: the emulator over HTTPS with its own
CA, the app over HTTP on `localhost` (a different site from the tenant's 127.0.0.1, as in real
life). Tests talk to them over the network only, like a browser would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server as make_wsgi_server

import ciam_emulator
from ciam_emulator.seed import seed
from ciam_emulator.server import make_server as make_emulator_server
from ciam_emulator.tls import ensure_tls
from ciam_webapp import Settings, create_app
from tests.support.https_sites import ProxiedApp, start_proxied_app, start_tls_webapp
from tests.support.person import Page, Person
from tests.support.profile_api import start_profile_api
from tests.support.referrer import BrowserLikePerson
from tests.support.registration import register_app_urls
from tests.support.servers import AppOnThread, ServerThread, free_port
from tests.support.site_tls import SiteCertificate, make_site_certificate

# Everything secret the suite creates, checked against the captured logs at the end of the run.
SUITE_SECRETS: set[str] = set()
# The emulator's one-time codes, collected from its outbox when it stops (the same check).
SUITE_ONE_TIME_CODES: set[str] = set()
# `make test` runs the suite in two processes (pytest-xdist), then tests/zz_suite_checks on its own:
# each process leaves its log, secrets and codes in this folder for that last check. Unset (a plain
# `pytest`), one process does it all and the check runs last, by directory order.
SUITE_RECORD_DIR = os.environ.get("CIAM_SUITE_RECORD_DIR")
SUITE_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "main")
LOGGED_AT_DEBUG = ("ciam_webapp", "ciam_api", "ciam_core", "werkzeug", "flask-limiter", "msal", "urllib3", "requests")


class FromTheLoggedLibraries(logging.Filter):
    """Records of the app's and its libraries' loggers (LOGGED_AT_DEBUG and their children) only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return any(record.name == name or record.name.startswith(f"{name}.") for name in LOGGED_AT_DEBUG)


class NotTheTestsOwnRequests(logging.Filter):
    """urllib3's request lines from the tests' own clients (the browser stand-ins, which fetch URLs a
    provider puts its interaction ids in, and the emulator's control calls) are not the app's logs:
    those clients run on pytest's thread, the app's outbound calls on its servers' threads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("urllib3") and record.thread == threading.main_thread().ident)


@pytest.fixture(scope="session", autouse=True)
def suite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """All app and server log lines of the whole run, as JSON lines, in this run's temp folder."""
    from ciam_webapp.web.logs import JsonFormatter, QueryStringRedactor

    # The in-process emulator logs through the same `werkzeug` logger as the app's server.
    logging.getLogger("werkzeug").addFilter(QueryStringRedactor())
    if SUITE_RECORD_DIR:
        path = Path(SUITE_RECORD_DIR) / f"suite-{SUITE_PROCESS}.log"
    else:
        path = tmp_path_factory.mktemp("logs") / "suite.log"
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    handler.addFilter(FromTheLoggedLibraries())
    handler.addFilter(NotTheTestsOwnRequests())
    # The app's own loggers, and the libraries it talks to the tenant through, at their chattiest.
    # The handler sits on the root logger, where their records arrive by propagation: every
    # create_app() replaces the handlers of the app's own loggers (web/logs.py), so a handler put on
    # `ciam_webapp` itself would be gone after the first app, with all of the app's lines.
    for name in LOGGED_AT_DEBUG:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)
    handler.close()
    if SUITE_RECORD_DIR:  # torn down last: every other fixture has added its secrets and codes by now
        record = {"secrets": sorted(SUITE_SECRETS), "codes": sorted(SUITE_ONE_TIME_CODES)}
        (Path(SUITE_RECORD_DIR) / f"secrets-{SUITE_PROCESS}.json").write_text(json.dumps(record))


@dataclass
class Tenant:
    """The running emulator and what was seeded into it."""

    base_url: str
    ca_bundle: str
    tenant_id: str
    subdomain: str
    client_id: str
    client_secret: str
    mfa_app_id: str
    demo_email: str
    demo_password: str
    app: Any  # the emulator's Flask app
    api_client_secret: str = ""  # the mfa-app API's secret (tests/support/profile_api.py)

    def control(self) -> requests.Session:
        http = requests.Session()
        http.trust_env = False
        http.verify = self.ca_bundle
        return http

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.control().request(method, f"{self.base_url}/_emulator/control/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    def misbehave(self, case: str) -> None:
        self._call("POST", "misbehave", json={"case": case})

    def graph_faults(self, responses: list[dict[str, Any]]) -> None:
        self._call("POST", "graph/faults", json={"responses": responses})

    def clear_graph_faults(self) -> None:
        self._call("DELETE", "graph/faults")

    def pause(self, seconds: float, *, graph: bool = True) -> None:
        """The whole tenant hangs (accepts connections, answers nothing) for `seconds`, Graph too
        unless `graph` is False; 0 ends it."""
        self._call("POST", "pause", json={"seconds": seconds, "graph": graph})

    def set_mfa_policy(self, on: bool) -> None:
        self._call("POST", "policy", json={"require_mfa_for_mfa_app": on})

    def create_user(self, email: str, password: str, display_name: str) -> dict[str, Any]:
        return self._call("POST", "users", json={"email": email, "password": password, "display_name": display_name})

    def user(self, email: str) -> dict[str, Any]:
        return self._call("GET", f"users/{email}")

    def outbox(self, to: str | None = None) -> list[dict[str, Any]]:
        """The emulator's sent emails and texts: to `to`, or all of them."""
        params = {"to": to} if to is not None else {}
        response = self.control().get(f"{self.base_url}/_emulator/outbox.json", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def latest_code(self, to: str, purpose: str | None = None) -> str:
        messages = [m for m in self.outbox(to) if purpose is None or m["purpose"] == purpose]
        assert messages, f"no message to {to} in the outbox"
        return max(messages, key=lambda m: (m["sent_at"], m["id"]))["code"]


@dataclass
class WebApp:
    base_url: str
    app: Any  # the Flask app
    settings: Settings

    def url(self, path: str) -> str:
        return self.base_url + path

    def replace_settings(self, **changes: Any) -> None:
        """Change a setting of the running app (the Services object is immutable, so swap it)."""
        services = self.app.extensions["ciam"]
        self.app.extensions["ciam"] = dataclasses.replace(
            services, settings=dataclasses.replace(services.settings, **changes)
        )


@pytest.fixture(scope="session")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    instance_dir = tmp_path_factory.mktemp("emulator")
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    tls = ensure_tls(instance_dir)
    app_port = free_port()
    seeded = seed(instance_dir, app_base_url=f"http://localhost:{app_port}")
    emulator_app = ciam_emulator.create_app(
        ciam_emulator.EmulatorSettings(instance_dir=instance_dir, base_url=base_url, test_controls=True)
    )
    server = ServerThread(make_emulator_server(emulator_app, "127.0.0.1", port, tls))
    tenant = Tenant(
        base_url=base_url,
        ca_bundle=str(tls.ca_cert),
        tenant_id=seeded.tenant_id,
        subdomain=seeded.tenant_subdomain,
        client_id=seeded.client_id,
        client_secret=seeded.client_secret,
        mfa_app_id=seeded.mfa_app_id,
        demo_email=seeded.demo_email,
        demo_password=seeded.demo_password,
        app=emulator_app,
        api_client_secret=seeded.api_client_secret or "",
    )
    tenant.app_port = app_port  # type: ignore[attr-defined]
    SUITE_SECRETS.update({seeded.client_secret, seeded.demo_password, tenant.api_client_secret})
    yield tenant
    with contextlib.suppress(requests.RequestException):
        SUITE_ONE_TIME_CODES.update(m["code"] for m in tenant.outbox())
    server.stop()


def app_settings(tenant: Tenant, app_base_url: str, instance_dir: Path, **overrides: str) -> Settings:
    values = {
        "CLIENT_ID": tenant.client_id,
        "CLIENT_SECRET": tenant.client_secret,
        "TENANT_SUBDOMAIN": tenant.subdomain,
        # The subdomain form, as MSAL derives it for a real ciamlogin.com authority.
        "AUTHORITY": f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/",
        "REDIRECT_URI": f"{app_base_url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{app_base_url}/",
        "SECRET_KEY": secrets.token_hex(32),
        "MFA_SCOPE": f"api://{tenant.mfa_app_id}/User.MFA",
        "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
        "CA_BUNDLE": tenant.ca_bundle,
        "INSTANCE_DIR": str(instance_dir),
        "HTTP_TIMEOUT": "5",
        # The whole suite signs in from 127.0.0.1 hundreds of times; tests of the limit set their own.
        "SIGN_IN_RATE_LIMIT": "100000 per minute",
    }
    values.update(overrides)
    SUITE_SECRETS.add(values["SECRET_KEY"])
    return Settings.from_mapping(values)


@pytest.fixture(scope="session")
def webapp(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    base_url = f"http://localhost:{tenant.app_port}"  # type: ignore[attr-defined]
    settings = app_settings(tenant, base_url, tmp_path_factory.mktemp("webapp"))
    app = create_app(settings)
    server = ServerThread(make_wsgi_server("127.0.0.1", tenant.app_port, app, threaded=True))  # type: ignore[attr-defined]
    yield WebApp(base_url=base_url, app=app, settings=settings)
    server.stop()


@pytest.fixture()
def fresh_settings(webapp: WebApp) -> Iterator[WebApp]:
    """Lets a test change settings of the running app; they are put back afterwards."""
    services = webapp.app.extensions["ciam"]
    yield webapp
    webapp.app.extensions["ciam"] = services


class FakeClock:
    """The app's session clock, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture()
def fake_clock(webapp: WebApp) -> Iterator[FakeClock]:
    """Replaces the running app's session clock for one test (Services.clock)."""
    services = webapp.app.extensions["ciam"]
    clock = FakeClock()
    webapp.app.extensions["ciam"] = dataclasses.replace(services, clock=clock)
    yield clock
    webapp.app.extensions["ciam"] = services


@pytest.fixture()
def person(tenant: Tenant) -> Iterator[Person]:
    person = Person(tenant.ca_bundle)
    yield person
    SUITE_SECRETS.update(c.value for c in person.http.cookies if c.value and len(c.value) >= 16)


@dataclass
class Customer:
    email: str
    password: str
    display_name: str


@pytest.fixture()
def customer(tenant: Tenant) -> Customer:
    """A fresh customer account in the tenant, so tests do not share profile state."""
    email = f"c{secrets.token_hex(4)}@contoso.example"
    password = "Pa55-" + secrets.token_urlsafe(12)
    tenant.create_user(email, password, "Test Customer")
    SUITE_SECRETS.add(password)
    return Customer(email=email, password=password, display_name="Test Customer")


@pytest.fixture(autouse=True)
def _reset_emulator_switches(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "tenant" in request.fixturenames:
        tenant: Tenant = request.getfixturevalue("tenant")
        with contextlib.suppress(requests.RequestException):
            tenant._call("DELETE", "misbehave")
            tenant.clear_graph_faults()
            tenant.pause(0)
            tenant.set_mfa_policy(True)


@pytest.fixture()
def app_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="ciam_webapp")
    return caplog


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright (sync API) for the whole run, shared by every browser fixture: a thread can run
    only one sync Playwright at a time, and tests/browser and tests/interop each launch a chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


# --- HTTPS: the app served directly over TLS, and behind nginx (tests/support/https_sites.py) ---

SITES = ("http", "tls", "nginx")


@pytest.fixture(scope="session")
def site_certificate(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> SiteCertificate:
    """A test CA and its certificate for `localhost`, which the app's HTTPS sites present."""
    return make_site_certificate(tmp_path_factory.mktemp("site-tls"), Path(tenant.ca_bundle))


@pytest.fixture(scope="session")
def tls_webapp(
    tenant: Tenant, site_certificate: SiteCertificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppOnThread]:
    """The app serving HTTPS itself on https://localhost:<port>."""
    served = start_tls_webapp(
        tenant,
        site_certificate,
        lambda public_url, instance_dir: app_settings(tenant, public_url, instance_dir),
        tmp_path_factory.mktemp("tls-webapp"),
    )
    yield served
    served.server.stop()


@pytest.fixture(scope="session")
def proxied_webapp(
    tenant: Tenant, site_certificate: SiteCertificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxiedApp]:
    """nginx with the committed deploy/nginx/ciam-webapp.conf in front of `ciam-webapp serve`."""
    proxied = start_proxied_app(tenant, site_certificate, tmp_path_factory.mktemp("proxied"))
    SUITE_SECRETS.add(proxied.environment["SECRET_KEY"])
    yield proxied
    proxied.stop()


# --- API mode: the web app edits through the mfa-app API (tests/support/profile_api.py) ---

# How the app and the API are reached: plain HTTP on localhost; HTTPS for both; the app behind nginx
# (gunicorn) and the API over HTTPS.
API_SITES = ("http", "tls", "nginx")


# As `make run` configures the API (the seed's api.env): the authentication context c1, whose
# conditional access policy requires MFA, must be in the customer's token (`acrs`).
PROFILE_API_AUTH_CONTEXT = "c1"


@pytest.fixture(scope="session")
def profile_api(tenant: Tenant) -> Iterator[AppOnThread]:
    """The mfa-app API on http://localhost:<port>, on the emulated tenant."""
    served = start_profile_api(tenant, REQUIRED_AUTH_CONTEXT=PROFILE_API_AUTH_CONTEXT)
    yield served
    served.server.stop()


@pytest.fixture(scope="session")
def tls_profile_api(tenant: Tenant, site_certificate: SiteCertificate) -> Iterator[AppOnThread]:
    """The mfa-app API on https://localhost:<port> (the site certificate)."""
    served = start_profile_api(tenant, certificate=site_certificate, REQUIRED_AUTH_CONTEXT=PROFILE_API_AUTH_CONTEXT)
    yield served
    served.server.stop()


@pytest.fixture(scope="session")
def api_mode_webapp(
    tenant: Tenant, profile_api: AppOnThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppOnThread]:
    """The web app in API mode over plain HTTP, editing through `profile_api`."""
    port = free_port()
    base_url = f"http://localhost:{port}"
    register_app_urls(tenant, base_url)
    settings = app_settings(
        tenant, base_url, tmp_path_factory.mktemp("api-mode-webapp"), PROFILE_API_URL=profile_api.base_url
    )
    app = create_app(settings)
    server = ServerThread(make_wsgi_server("127.0.0.1", port, app, threaded=True))
    yield AppOnThread(base_url=base_url, app=app, settings=settings, server=server)
    server.stop()


@pytest.fixture(scope="session")
def tls_api_mode_webapp(
    tenant: Tenant,
    tls_profile_api: AppOnThread,
    site_certificate: SiteCertificate,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppOnThread]:
    """The web app in API mode serving HTTPS itself, editing through `tls_profile_api` over HTTPS (it
    trusts the tenant's CA and the site CA)."""
    served = start_tls_webapp(
        tenant,
        site_certificate,
        lambda public_url, instance_dir: app_settings(
            tenant,
            public_url,
            instance_dir,
            PROFILE_API_URL=tls_profile_api.base_url,
            CA_BUNDLE=str(site_certificate.client_bundle),
        ),
        tmp_path_factory.mktemp("tls-api-mode-webapp"),
    )
    yield served
    served.server.stop()


@pytest.fixture(scope="session")
def proxied_api_mode_webapp(
    tenant: Tenant,
    tls_profile_api: AppOnThread,
    site_certificate: SiteCertificate,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProxiedApp]:
    """nginx in front of `ciam-webapp serve` in API mode, editing through `tls_profile_api`."""
    proxied = start_proxied_app(
        tenant,
        site_certificate,
        tmp_path_factory.mktemp("proxied-api-mode"),
        PROFILE_API_URL=tls_profile_api.base_url,
        CA_BUNDLE=str(site_certificate.client_bundle),
    )
    SUITE_SECRETS.add(proxied.environment["SECRET_KEY"])
    yield proxied
    proxied.stop()


@pytest.fixture()
def api_site(request: pytest.FixtureRequest) -> Any:
    """The app in API mode as one of API_SITES; `@pytest.mark.parametrize("api_site", API_SITES, indirect=True)`."""
    name = getattr(request, "param", "http")
    fixture = {"http": "api_mode_webapp", "tls": "tls_api_mode_webapp", "nginx": "proxied_api_mode_webapp"}[name]
    return request.getfixturevalue(fixture)


@pytest.fixture()
def site(request: pytest.FixtureRequest) -> Any:
    """The app as one of SITES; use `@pytest.mark.parametrize("site", SITES, indirect=True)`."""
    name = getattr(request, "param", "http")
    return request.getfixturevalue({"http": "webapp", "tls": "tls_webapp", "nginx": "proxied_webapp"}[name])


@pytest.fixture()
def https_person(site_certificate: SiteCertificate) -> Iterator[BrowserLikePerson]:
    """A person whose client trusts the app's and the tenant's CAs and sends Referers as a browser does."""
    person = BrowserLikePerson(str(site_certificate.client_bundle))
    yield person
    SUITE_SECRETS.update(c.value for c in person.http.cookies if c.value and len(c.value) >= 16)


__all__ = ["Customer", "Page", "Person", "ServerThread", "Tenant", "WebApp", "free_port"]
