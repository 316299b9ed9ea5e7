"""The pieces a benchmark run stands up on loopback: the emulator, the served subjects, signed-in people.

Everything here is started by the run and stopped by it: child processes are terminated by their own
pid, in-process servers are shut down, temporary folders are removed by the caller.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ciam_emulator.seed import seed
from ciam_emulator.tls import ensure_tls
from ciam_webapp import Settings
from ciam_webapp.web.browser_session import cookie_names
from tests.support.journeys import TenantPages
from tests.support.person import Page, Person
from tests.support.servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HTTP_TIMEOUT = 15  # seconds, for every request the harness itself makes
# The app's own name for its session cookie over plain HTTP (the bench serves the app on loopback HTTP).
SESSION_COOKIE = cookie_names(secure=False).session
# The bench signs in hundreds of times from one address; the production default would refuse it after 20.
# The limiter stays installed, so every request still pays its check as in production.
BENCH_SIGN_IN_RATE_LIMIT = "100000 per minute"


def wait_until_up(url: str, *, verify: str | bool = True, deadline_seconds: float = 30.0) -> None:
    """Poll `url` until it answers at all (any status), or give up after the deadline."""
    http = requests.Session()
    http.trust_env = False
    give_up_at = time.monotonic() + deadline_seconds
    while True:
        try:
            http.get(url, verify=verify, timeout=2, allow_redirects=False)
            return
        except requests.ConnectionError:
            if time.monotonic() > give_up_at:
                raise RuntimeError(f"{url} did not come up within {deadline_seconds:.0f} s") from None
            time.sleep(0.1)


class ChildProcess:
    """A child process with its output in a log file; stopped with SIGTERM (then SIGKILL) by its pid."""

    def __init__(self, args: list[str], *, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            args, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@dataclass
class Tenant:
    """The emulator as the harness sees it: its URL, what was seeded, and its test controls."""

    base_url: str
    ca_bundle: str
    tenant_id: str
    subdomain: str
    client_id: str
    client_secret: str
    mfa_app_id: str
    api_client_secret: str = ""  # the mfa-app API's (benchmarks/api_mode.py)

    def control(self) -> requests.Session:
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= otherwise
        http.verify = self.ca_bundle
        return http

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/_emulator/control/{path}"
        response = self.control().request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    def create_user(self, email: str, password: str, display_name: str) -> None:
        self._call("POST", "users", json={"email": email, "password": password, "display_name": display_name})

    def latest_code(self, to: str, purpose: str | None = None) -> str:
        response = self.control().get(f"{self.base_url}/_emulator/outbox.json", params={"to": to}, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        messages = [m for m in response.json() if purpose is None or m["purpose"] == purpose]
        if not messages:
            raise RuntimeError(f"no message to {to} in the emulator's outbox")
        return max(messages, key=lambda m: (m["sent_at"], m["id"]))["code"]


@dataclass
class AppUrl:
    """Where an app is reached; `url()` is what the shared journey helpers expect of a web app."""

    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass
class Customer:
    email: str
    password: str


class Emulator:
    """The local tenant in its own process, so its CPU time is never counted as the app's."""

    def __init__(self, work_dir: Path, app_base_urls: list[str], *, server: str = "gunicorn") -> None:
        self.instance_dir = work_dir / "emulator"
        self.instance_dir.mkdir()
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        tls = ensure_tls(self.instance_dir)
        seeded = seed(
            self.instance_dir,
            app_base_url=app_base_urls[0],
            extra_redirect_uris=[f"{url}/auth/redirect" for url in app_base_urls[1:]],
            extra_post_logout_redirect_uris=[f"{url}/" for url in app_base_urls[1:]],
        )
        assert seeded.client_secret, "a fresh instance folder always gets a new client secret"
        self.tenant = Tenant(
            base_url=self.base_url,
            ca_bundle=str(tls.ca_cert),
            tenant_id=seeded.tenant_id,
            subdomain=seeded.tenant_subdomain,
            client_id=seeded.client_id,
            client_secret=seeded.client_secret,
            mfa_app_id=seeded.mfa_app_id,
            api_client_secret=seeded.api_client_secret or "",
        )
        self.child = ChildProcess(
            [sys.executable, str(BENCH_DIR / "serve_emulator.py"), str(self.instance_dir), self.base_url, server],
            log_path=work_dir / "emulator.log",
        )
        wait_until_up(f"{self.base_url}/_emulator/control/stats", verify=self.tenant.ca_bundle)

    def stop(self) -> None:
        self.child.stop()


def app_settings_values(tenant: Tenant, app_base_url: str, instance_dir: Path, **overrides: str) -> dict[str, str]:
    """The app's configuration for this tenant, as environment-style values."""
    values = {
        "CLIENT_ID": tenant.client_id,
        "CLIENT_SECRET": tenant.client_secret,
        "TENANT_SUBDOMAIN": tenant.subdomain,
        "AUTHORITY": f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/",
        "REDIRECT_URI": f"{app_base_url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{app_base_url}/",
        "SECRET_KEY": secrets.token_hex(32),
        "MFA_SCOPE": f"api://{tenant.mfa_app_id}/User.MFA",
        "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
        "CA_BUNDLE": tenant.ca_bundle,
        "INSTANCE_DIR": str(instance_dir),
        "HTTP_TIMEOUT": "10",
        "LOG_LEVEL": "WARNING",  # a log line per sign-in would only add noise to the measurements
        "SIGN_IN_RATE_LIMIT": BENCH_SIGN_IN_RATE_LIMIT,
    }
    values.update(overrides)
    return values


def app_settings(tenant: Tenant, app_base_url: str, instance_dir: Path, **overrides: str) -> Settings:
    return Settings.from_mapping(app_settings_values(tenant, app_base_url, instance_dir, **overrides))


class ServedSubject:
    """One subject served by the app's own launchers (serve_subject.py), so every subject gets the same options."""

    def __init__(
        self, kind: str, port: int, settings_values: dict[str, str], log_path: Path, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if key not in settings_values}
        env.update(settings_values)
        self.child = ChildProcess(
            [sys.executable, str(BENCH_DIR / "serve_subject.py"), kind, f"127.0.0.1:{port}", *extra_args],
            log_path=log_path,
            env=env,
        )
        wait_until_up(f"{self.base_url}/healthz")

    @property
    def pid(self) -> int:
        return self.child.pid

    def stop(self) -> None:
        self.child.stop()


def new_customer(tenant: Tenant, label: str) -> Customer:
    customer = Customer(
        email=f"{label}-{secrets.token_hex(4)}@contoso.example", password="Pa55-" + secrets.token_urlsafe(12)
    )
    tenant.create_user(customer.email, customer.password, f"Bench {label}")
    return customer


def signed_in_person(tenant: Tenant, app_base_url: str, customer: Customer) -> tuple[Person, Page]:
    """A person who signed in to the app at `app_base_url` through the tenant's hosted pages."""
    person = Person(tenant.ca_bundle)
    page = sign_in(person, tenant, app_base_url, customer)
    return person, page


def sign_in(person: Person, tenant: Tenant, app_base_url: str, customer: Customer) -> Page:
    page = person.get(f"{app_base_url}/auth/sign-in")
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    if page.status != 200 or not page.url.startswith(app_base_url):
        raise RuntimeError(f"sign-in did not land back on the app: {page.status} {page.url}")
    return page


def finish_on_tenant(person: Person, tenant: Tenant, customer: Customer, page: Page) -> Page:
    return TenantPages(person, tenant, customer.email, customer.password).finish(page)


def session_id(person: Person) -> str:
    """The app's session id from the person's cookie jar (the tenant's cookies are on another host)."""
    values = [cookie.value for cookie in person.http.cookies if cookie.name == SESSION_COOKIE and cookie.value]
    if not values:
        raise RuntimeError("the person holds no app session cookie")
    return values[-1]


def forget_app_cookies(person: Person, tenant_host: str = "127.0.0.1") -> None:
    """Drop the app's cookies but keep the tenant's, like a new app session in the same browser."""
    for cookie in list(person.http.cookies):
        if cookie.domain != tenant_host:
            person.http.cookies.clear(cookie.domain, cookie.path, cookie.name)


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
