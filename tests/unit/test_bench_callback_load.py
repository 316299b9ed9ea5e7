"""`make bench`'s sign-in callback under load (benchmarks/callback_load.py), without the bench: the
figures of a cell, what counts as a failed callback, the threads that send them, and the report."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks import issue16, report
from benchmarks.callback_load import (
    CallbackLoadResult,
    PreparedCallback,
    keep_best,
    landed_in_the_app,
    run_callbacks,
    summarize,
)
from benchmarks.inprocess import CallbackCpu, Distribution
from benchmarks.load import LoadResult
from benchmarks.report import BARE_PAGE, Results
from tests.unit.test_bench_report import load_result


def _cell(concurrency: int, requests: int, seconds: float, cpu_ms: float = 5.0, failures: int = 0):
    return CallbackLoadResult(
        concurrency=concurrency,
        requests=requests,
        seconds=seconds,
        p50_ms=10.0,
        p99_ms=40.0,
        app_cpu_ms_per_request=cpu_ms,
        emulator_cpu_ms_per_request=4.0,
        failures=failures,
    )


def _bare(concurrency: int, req_per_s: float) -> LoadResult:
    return load_result(BARE_PAGE, concurrency, req_per_s, 0.8)


def test_a_cells_figures_are_per_request_sent():
    latencies = [0.010] * 98 + [0.050, 0.200]  # 100 callbacks: p99 is the 99th slowest but one
    result = summarize(
        concurrency=8, seconds=2.0, latencies_s=latencies, failures=3, app_cpu_s=0.6, emulator_cpu_s=0.45
    )
    assert (result.requests, result.throughput, result.failures) == (100, 50.0, 3)
    assert (result.p50_ms, result.p99_ms) == pytest.approx((10.0, 50.0))
    assert result.app_cpu_ms_per_request == pytest.approx(6.0)
    assert result.emulator_cpu_ms_per_request == pytest.approx(4.5)
    with pytest.raises(ValueError, match="no request"):
        summarize(concurrency=1, seconds=1.0, latencies_s=[], failures=0, app_cpu_s=0.0, emulator_cpu_s=0.0)


@pytest.mark.parametrize(
    ("status", "location", "landed"),
    [
        (303, "/", True),
        (303, "/profile?tab=1", True),
        (303, "http://127.0.0.1:5000/claims", True),
        (303, "/auth/sign-in", False),  # a refused callback sends the browser to sign in again
        (303, "http://evil.example/", False),
        (302, "/", False),
        (200, None, False),
        (400, None, False),
        (0, None, False),  # no answer at all
    ],
)
def test_only_a_303_into_the_app_is_a_completed_sign_in(status: int, location: str | None, landed: bool):
    assert landed_in_the_app(status, location, "127.0.0.1:5000") is landed


def test_each_concurrency_keeps_its_fastest_round():
    cells: list[CallbackLoadResult] = []
    keep_best(cells, _cell(8, 600, 8.0))
    keep_best(cells, _cell(32, 600, 7.0))
    keep_best(cells, _cell(8, 600, 6.0))  # faster: replaces
    keep_best(cells, _cell(8, 600, 9.0))  # slower: dropped
    assert [(c.concurrency, c.seconds) for c in cells] == [(8, 6.0), (32, 7.0)]


class _FakeCallbackEndpoint(BaseHTTPRequestHandler):
    """Kept-alive HTTP/1.1; `/ok-*` lands in the app, `/refused-*` back at sign-in, `/close-*` closes after."""

    protocol_version = "HTTP/1.1"
    seen_cookies: list[str] = []
    connections: set[int] = set()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen_cookies.append(self.headers.get("Cookie", ""))
        type(self).connections.add(id(self.connection))
        self.send_response(303)
        self.send_header("Location", "/auth/sign-in" if self.path.startswith("/refused") else "/profile")
        self.send_header("Content-Length", "0")
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_every_prepared_callback_is_sent_once_over_kept_alive_connections_and_refusals_count():
    _FakeCallbackEndpoint.seen_cookies, _FakeCallbackEndpoint.connections = [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCallbackEndpoint)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        prepared = [PreparedCallback(f"/ok-{i}?code=c{i}&state=s{i}", f"ciam.auth.s{i}=v{i}") for i in range(40)]
        prepared += [PreparedCallback(f"/refused-{i}", f"r{i}=1") for i in range(3)]
        prepared += [PreparedCallback(f"/close-{i}", f"x{i}=1") for i in range(2)]  # the connection is renewed
        port = server.server_address[1]
        result = run_callbacks(f"http://127.0.0.1:{port}", prepared, 4, os.getpid(), os.getpid())
    finally:
        server.shutdown()
        server.server_close()
    assert (result.concurrency, result.requests, result.failures) == (4, 45, 3)
    assert sorted(_FakeCallbackEndpoint.seen_cookies) == sorted(c.cookie for c in prepared)
    assert len(_FakeCallbackEndpoint.connections) <= 4 + 2  # one per thread, plus one per closed connection
    assert result.p50_ms > 0 and result.throughput > 0


def test_the_report_sets_the_callback_under_load_against_the_bare_page_and_beside_its_target():
    results = Results(server_options={}, seconds_per_run=5.0)
    results.load += [_bare(1, 1000), _bare(8, 1500)]
    results.callback_load = [_cell(8, 600, 5.0, cpu_ms=5.75, failures=2), _cell(1, 300, 3.0, cpu_ms=5.0)]
    results.callback = CallbackCpu(cpu=Distribution(300, 3.43, 4.89, 3.5), wall=Distribution(300, 9.0, 12.0, 9.5))

    section = issue16.callback_load_section(results)
    assert section[0] == "## Sign-in callback under load"
    rows = [line for line in section if line.startswith("| ") and line[2].isdigit()]
    assert rows == [
        "| 1 | 300 | 100 | 10.0 | 40.0 | 5.00 | 4.00 | 0 | 0.10× |",
        "| 8 | 600 | 120 | 10.0 | 40.0 | 5.75 | 4.00 | 2 | 0.08× |",
    ]
    [target] = [line for line in issue16.targets_section(results) if "sign-in callback" in line]
    assert "3.43 ms (p99 4.89 ms) in-process; under load (mean, all server processes): " in target
    assert "5.00 ms at 1, 5.75 ms at 8 (2 failed)" in target
    assert "## Sign-in callback under load" in report.markdown(results, "")


def test_without_callback_cells_the_report_has_no_such_section():
    results = Results(server_options={}, seconds_per_run=5.0)
    assert issue16.callback_load_section(results) == []
    assert "under load" not in report.markdown(results, "")
