"""Issue 13: /readyz answers ready or not ready and nothing else, and probes at most once every
few seconds however often it is asked (each probe writes to the session store and fetches
discovery); what failed goes to the log."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ciam_webapp import READINESS_CACHE_SECONDS, create_app
from tests.conftest import FakeClock, app_settings, free_port


@pytest.fixture()
def fresh_app(tenant, tmp_path):
    return create_app(app_settings(tenant, "http://localhost:5998", tmp_path))


def test_readyz_says_ready_and_probes_once_per_cache_period(fresh_app, tenant, monkeypatch):
    services = fresh_app.extensions["ciam"]
    clock = FakeClock()
    monkeypatch.setattr(services.readiness, "_clock", clock)
    writes = []
    monkeypatch.setattr(services.session_store, "probe", lambda: writes.append(1))
    tenant.reset_stats()
    client = fresh_app.test_client()

    answers = [client.get("/readyz") for _ in range(20)]
    assert all(a.status_code == 200 and a.get_json() == {"status": "ready"} for a in answers)
    assert answers[0].headers["Cache-Control"] == "no-store"
    assert len(writes) == 1 and tenant.stats()["discovery"] == 1, "one probe for 20 hits"

    clock.advance(READINESS_CACHE_SECONDS + 0.1)
    assert client.get("/readyz").status_code == 200
    assert len(writes) == 2 and tenant.stats()["discovery"] == 2, "probed again once the answer is old"


def test_readyz_with_the_tenant_unreachable_says_not_ready_and_only_the_log_says_why(tenant, tmp_path, app_logs):
    closed_port = free_port()
    settings = app_settings(tenant, "http://localhost:5997", tmp_path, AUTHORITY=f"https://127.0.0.1:{closed_port}/x")
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not ready"}
    assert str(closed_port) not in response.get_data(as_text=True)
    [reason] = [r.getMessage() for r in app_logs.records if r.getMessage().startswith("not ready:")]
    assert reason.startswith("not ready: tenant_discovery: tenant discovery: ConnectionError reaching https://127.0.0.1:")


def test_a_caller_arriving_during_a_probe_is_answered_at_once(fresh_app, monkeypatch):
    services = fresh_app.extensions["ciam"]
    probing, finish = threading.Event(), threading.Event()

    def slow_probe() -> None:
        probing.set()
        finish.wait(10)

    monkeypatch.setattr(services.session_store, "probe", slow_probe)
    client = fresh_app.test_client()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.get, "/readyz")
        assert probing.wait(10)
        started = time.monotonic()
        meanwhile = fresh_app.test_client().get("/readyz")
        assert time.monotonic() - started < 1, "not held behind the running probe"
        assert meanwhile.status_code == 503 and meanwhile.get_json() == {"status": "not ready"}, "nothing known yet"
        finish.set()
        assert first.result(timeout=10).status_code == 200
