"""The API bounds its outbound calls as the web app does (issue 13's rule): with a hanging Graph, at
most limit - 1 calls wait on it, the next is refused at once with a 503, and /healthz still answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ciam_api import create_app
from ciam_api.gunicorn_app import WORKER_THREADS
from tests.api.conftest import api_settings, bearer
from tests.api.fake_tenant import FakeTenant

LIMIT = WORKER_THREADS - 1  # what `ciam-api serve` gives each worker


def test_a_hanging_graph_holds_at_most_its_share_of_the_calls(fake_tenant: FakeTenant) -> None:
    app = create_app(api_settings(fake_tenant, HTTP_TIMEOUT="3"), outbound_call_limit=LIMIT)
    token = fake_tenant.token()
    client = app.test_client()
    assert client.get("/profile", headers=bearer(token)).status_code == 200  # the OBO token is cached now
    fake_tenant.graph_delay = 2.0

    def profile() -> tuple[int, float]:
        started = time.monotonic()
        response = app.test_client().get("/profile", headers=bearer(token))
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=LIMIT) as pool:
        hanging = [pool.submit(profile) for _ in range(LIMIT - 1)]
        time.sleep(0.7)  # the hanging calls are past the bulkhead's short wait for young calls
        refused_status, refused_after = profile()
        health_started = time.monotonic()
        health = client.get("/healthz")
        health_seconds = time.monotonic() - health_started
        answered = [future.result() for future in hanging]
    assert refused_status == 503 and refused_after < 0.5, (refused_status, refused_after)
    assert health.status_code == 200 and health_seconds < 0.5
    assert [status for status, _ in answered] == [200] * (LIMIT - 1)
    # Graph saw the first view and the hanging ones, never the refused one.
    assert len(fake_tenant.recorded.graph_requests) == 1 + (LIMIT - 1)

