"""Issue 16: recycling a worker (max_requests) must not stall what is queued.

gunicorn replaces a worker that reached max_requests only once it has exited, and it exits only
when its last requests are done. `ciam-webapp serve` asks for the replacement when the last request
starts. The test makes the old worker's exit slow on purpose: one worker, a customer's profile page
waiting on a paused Graph while the worker reaches its max_requests; requests arriving meanwhile must
be served by the replacement at once, not wait for the profile page (the pause).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.journeys import sign_in
from tests.support.served_app import ServedApp, serve_for_tenant

MAX_REQUESTS = 20  # gunicorn adds up to 10% jitter
PAUSE_SECONDS = 4.0  # below the read timeout (HTTP_TIMEOUT 5 s), so the profile page still succeeds
WORST_ALLOWED_SECONDS = 2.0  # a replacement's start, with room for a busy machine


@pytest.fixture()
def served(tenant, tmp_path) -> Iterator[ServedApp]:
    served = serve_for_tenant(tenant, tmp_path, workers=1, max_requests=MAX_REQUESTS)
    yield served
    served.stop()
    tenant.pause(0)


def test_a_recycled_worker_is_replaced_before_it_finishes_its_last_requests(served, tenant, person, customer):
    sign_in(person, served, tenant, customer.email, customer.password)
    tenant.pause(PAUSE_SECONDS)  # Graph accepts connections and answers nothing meanwhile
    profile: list[int] = []
    waiting = threading.Thread(target=lambda: profile.append(person.get(served.url("/profile")).status))
    waiting.start()
    time.sleep(0.5)  # the profile page is now waiting on Graph in the worker
    probe = requests.Session()
    probe.trust_env = False
    slowest = 0.0
    for _ in range(2 * MAX_REQUESTS):  # crosses the worker's max_requests while the profile page waits
        started = time.monotonic()
        status = probe.get(served.url("/healthz"), headers={"Connection": "close"}, timeout=20).status_code
        slowest = max(slowest, time.monotonic() - started)
        assert status == 200
    assert slowest < WORST_ALLOWED_SECONDS, f"a request waited {slowest:.1f} s for the recycled worker to exit"
    assert waiting.is_alive(), "the profile page was to wait on Graph during the whole recycle"
    waiting.join(timeout=30)
    assert profile == [200]
    deadline = time.monotonic() + 10
    while len(served.worker_pids()) != 1:  # the extra slot goes once the old worker has exited
        assert time.monotonic() < deadline, f"workers: {served.worker_pids()}"
        time.sleep(0.2)
    assert "Traceback" not in served.log_text()
