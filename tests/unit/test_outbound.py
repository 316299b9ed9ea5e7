"""The outbound session's bulkhead and timeouts (issue 13), against a local server that answers
only when told to."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ciam_core.graph import GraphUnavailable
from ciam_webapp.config import ConfigError, Settings
from ciam_webapp.graph import GraphClient
from ciam_webapp.outbound import Bulkhead, OutboundCallsExhausted, OutboundSession
from ciam_webapp.serving import WORKER_THREADS, with_outbound_call_limit
from tests.unit.test_config import VALID


class HeldServer:
    """Answers every request with 200 once `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                held.arrived.release()
                held.release.wait(10)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def held() -> Iterator[HeldServer]:
    server = HeldServer()
    yield server
    server.close()


def test_a_call_beyond_the_bound_fails_after_a_short_wait_and_the_slot_comes_back(held, caplog):
    session = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(2, "test"),))
    with ThreadPoolExecutor(2) as pool:
        in_flight = [pool.submit(session.get, f"{held.url}/slow") for _ in range(2)]
        for _ in range(2):
            assert held.arrived.acquire(timeout=5)
        with caplog.at_level(logging.WARNING, logger="ciam_core.outbound"):
            with pytest.raises(OutboundCallsExhausted):
                session.get(f"{held.url}/third?code=secret-code")
        held.release.set()
        assert [f.result(timeout=5).status_code for f in in_flight] == [200, 200]
    assert session.get(f"{held.url}/after").status_code == 200, "the slots were given back"
    [line] = [r.getMessage() for r in caplog.records if "outbound call refused" in r.getMessage()]
    assert f"GET {held.url}/third" in line and "secret-code" not in line


def test_a_burst_beyond_the_bound_waits_for_a_healthy_call_instead_of_failing(held):
    """More page views at once than slots, against a destination that answers quickly: the extra call
    takes the slot a finished call gives back (a healthy instance under a burst shows no 503 page)."""
    session = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(1, "test"),))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(session.get, f"{held.url}/first")
        assert held.arrived.acquire(timeout=5)
        second = pool.submit(session.get, f"{held.url}/second")
        time.sleep(0.05)  # the second call is now waiting for the slot
        held.release.set()  # the first call answers well within the bulkhead's wait
        assert first.result(timeout=5).status_code == 200
        assert second.result(timeout=5).status_code == 200


def test_the_wait_for_a_slot_is_bounded(held):
    session = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(1, "test", max_wait=0.2),))
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(session.get, f"{held.url}/hanging")
        assert held.arrived.acquire(timeout=5)
        started = time.monotonic()
        with pytest.raises(OutboundCallsExhausted):
            session.get(f"{held.url}/refused")
        assert 0.15 <= time.monotonic() - started < 1.0
        held.release.set()
        assert in_flight.result(timeout=5).status_code == 200

def test_behind_a_call_that_hangs_the_extra_call_is_refused_at_once(held):
    session = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(1, "test", max_wait=0.5, slow_after=0.3),))
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(session.get, f"{held.url}/hanging")
        assert held.arrived.acquire(timeout=5)
        time.sleep(0.4)  # the call in flight is now older than slow_after: the destination hangs
        started = time.monotonic()
        with pytest.raises(OutboundCallsExhausted):
            session.get(f"{held.url}/refused")
        assert time.monotonic() - started < 0.2, "no wait for a slot behind a hanging call"
        held.release.set()
        assert in_flight.result(timeout=5).status_code == 200

def test_a_destination_full_of_hanging_calls_leaves_room_in_the_process_for_another(held):
    every_call = Bulkhead(3, "outbound")
    tenant = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(2, "tenant"), every_call))
    graph = OutboundSession(timeout=(1.0, 5.0), bulkheads=(Bulkhead(2, "Graph"), every_call))
    with ThreadPoolExecutor(3) as pool:
        hanging = [pool.submit(tenant.get, f"{held.url}/token") for _ in range(2)]
        for _ in range(2):
            assert held.arrived.acquire(timeout=5)
        with pytest.raises(OutboundCallsExhausted, match="2 tenant calls"):
            tenant.get(f"{held.url}/token")
        to_graph = pool.submit(graph.get, f"{held.url}/me")  # the third slot of the process
        assert held.arrived.acquire(timeout=5)
        with pytest.raises(OutboundCallsExhausted, match="3 outbound calls"):
            graph.get(f"{held.url}/me")
        with pytest.raises(OutboundCallsExhausted):
            tenant.get(f"{held.url}/token")
        held.release.set()
        assert [f.result(timeout=5).status_code for f in [*hanging, to_graph]] == [200, 200, 200]
    assert graph.get(f"{held.url}/me").status_code == 200 and tenant.get(f"{held.url}/t").status_code == 200


def test_graph_turns_a_full_bulkhead_into_graph_unavailable(held):
    bulkhead = Bulkhead(1, "Graph")
    graph = GraphClient(held.url, OutboundSession(timeout=(1.0, 5.0), bulkheads=(bulkhead,)))
    bulkhead.enter("GET", held.url)  # one call already in flight
    with pytest.raises(GraphUnavailable):
        graph.get_me("token")
    assert issubclass(OutboundCallsExhausted, requests.ConnectionError), "MSAL's callers treat it as unreachable"


def test_the_read_timeout_applies_to_each_attempt(held):
    session = OutboundSession(timeout=(1.0, 0.5), bulkheads=(Bulkhead(1, "test"),))
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError, match=r"read timeout=0\.5"):
        session.get(f"{held.url}/never", timeout=None)  # None: the session's (connect, read)
    # A GET is read twice (tenant_retry: read=1), with a short back-off between.
    assert 1.0 <= time.monotonic() - started < 2.0


def test_default_timeouts_and_the_limit_under_gunicorn():
    settings = Settings.from_mapping(VALID)
    assert settings.http_timeouts == (3.0, 5.0)
    assert settings.outbound_call_limit is None
    assert with_outbound_call_limit(settings).outbound_call_limit == WORKER_THREADS - 1
    mine = Settings.from_mapping({**VALID, "OUTBOUND_CALL_LIMIT": "2"})
    assert with_outbound_call_limit(mine).outbound_call_limit == 2
    too_many = Settings.from_mapping({**VALID, "OUTBOUND_CALL_LIMIT": str(WORKER_THREADS)})
    with pytest.raises(ConfigError, match="OUTBOUND_CALL_LIMIT is 4, but a worker has 4 threads"):
        with_outbound_call_limit(too_many)
