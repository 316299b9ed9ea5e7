"""Issue 6: `ciam-webapp serve` (gunicorn, 2 workers, configured by environment variables only)
serves a whole journey with sessions in Redis; its log holds no secret and no traceback."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import requests

from tests.scale.conftest import session_id
from tests.support.journeys import sign_in
from tests.support.person import Person
from tests.support.served_app import ServedApp, serve_for_tenant

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")


@pytest.fixture()
def served(tenant, private_redis, tmp_path) -> Iterator[ServedApp]:
    served = serve_for_tenant(
        tenant, tmp_path, workers=2, env={"SESSION_TYPE": "redis", "REDIS_URL": private_redis.url}
    )
    yield served
    served.stop()


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
    log = served.log_text()
    assert "Booting worker" in log
    assert "Traceback" not in log
    for secret in (tenant.client_secret, served.environment["SECRET_KEY"], customer.password, session_id(person)):
        assert secret not in log
    assert not JWT.search(log) and "code=" not in log
