"""Issue 6: `ciam-webapp serve` (gunicorn, 2 workers, configured by environment variables only)
serves a whole journey with sessions in Redis; its log holds no secret and no traceback."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import SUITE_SECRETS, free_port
from tests.scale.conftest import register_app_urls, session_id
from tests.support.journeys import sign_in
from tests.support.person import Person

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")


def _serve_command() -> list[str]:
    script = Path(sys.executable).parent / "ciam-webapp"  # the console script of this virtualenv
    return [str(script)] if script.exists() else [sys.executable, "-m", "ciam_webapp.cli"]


class Served:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log_path: Path, secret_key: str) -> None:
        self.process = process
        self.base_url = base_url
        self.log_path = log_path
        self.secret_key = secret_key

    def url(self, path: str) -> str:
        return self.base_url + path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]


@pytest.fixture()
def served(tenant, private_redis, tmp_path):
    port = free_port()
    base_url = f"http://localhost:{port}"
    register_app_urls(tenant, base_url)
    secret_key = secrets.token_hex(32)
    SUITE_SECRETS.add(secret_key)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "CLIENT_ID": tenant.client_id,
        "CLIENT_SECRET": tenant.client_secret,
        "TENANT_SUBDOMAIN": tenant.subdomain,
        "AUTHORITY": f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/",
        "REDIRECT_URI": f"{base_url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{base_url}/",
        "SECRET_KEY": secret_key,
        "MFA_SCOPE": f"api://{tenant.mfa_app_id}/User.MFA",
        "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
        "CA_BUNDLE": tenant.ca_bundle,
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "HTTP_TIMEOUT": "5",
        "SESSION_TYPE": "redis",
        "REDIS_URL": private_redis.url,
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*_serve_command(), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=tmp_path,  # no .env here: the environment is the whole configuration
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, base_url, log_path, secret_key)
    try:
        _wait_until_up(served)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_up(served: Served) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{served.log_path.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(served.url("/healthz"), timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still booting, or busy starting its workers
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not answer /healthz within 30 s")


def test_gunicorn_with_two_workers_serves_a_whole_journey(served, private_redis, tenant, customer):
    assert len(served.worker_pids()) == 2
    person = Person(tenant.ca_bundle)
    person.http.headers["Connection"] = "close"  # a new connection per request, so both workers take part

    home = sign_in(person, served, tenant, customer.email, customer.password)
    assert home.status == 200 and home.url == served.url("/") and "Signed in as" in home.text
    for _ in range(6):  # whichever worker answers, the session is there
        claims = person.get(served.url("/claims"))
        assert claims.status == 200 and customer.email in claims.text
        profile = person.get(served.url("/profile"))
        assert profile.status == 200
        assert profile.soup.select_one('[data-field="email"]').get_text() == customer.email

    key = f"ciam:s:{session_id(person)}"  # SESSION_KEY_PREFIX default
    admin = private_redis.client()
    assert admin.exists(key) == 1
    ready = requests.get(served.url("/readyz"), timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"

    signed_out = person.submit(home, form=home.soup.find("form", attrs={"action": "/auth/sign-out"}))
    assert signed_out.status == 200 and "Signed in as" not in signed_out.text
    assert admin.exists(key) == 0
    admin.close()


def test_gunicorn_does_not_trust_forwarded_headers_on_its_own(served):
    # TRUSTED_PROXIES is unset (0): a client claiming https through X-Forwarded-Proto is not believed,
    # although gunicorn by default believes such headers from 127.0.0.1.
    response = requests.get(
        served.url("/healthz"), headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}, timeout=10
    )
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def test_gunicorn_log_holds_no_secret_and_no_traceback(served, tenant, customer):
    person = Person(tenant.ca_bundle)
    sign_in(person, served, tenant, customer.email, customer.password)
    assert person.get(served.url("/profile")).status == 200
    time.sleep(0.2)  # let the workers flush their log lines
    log = served.log_path.read_text(errors="replace")
    assert "Booting worker" in log
    assert "Traceback" not in log
    for secret in (tenant.client_secret, served.secret_key, customer.password, session_id(person)):
        assert secret not in log
    assert not JWT.search(log) and "code=" not in log
