"""The sign-in callback under load: many browsers coming back from the tenant at once, on the served app.

wrk cannot send these: every callback needs an authorization code of its own (good once) and the
sign-in-in-progress cookie of the browser that started that sign-in. So each cell's callbacks are
prepared right before it (a sign-in started on the app, the tenant answering with a code at once
thanks to its SSO cookie, the redirect back kept unvisited), then sent by `concurrency` Python
threads, each over one kept-alive connection. The load generator is Python on the same 2 cores: its
own CPU is not in the app's figure, but it competes with the app for the cores, so req/s here is
lower than a C generator would show.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.journeys import sign_in_up_to_the_callback
from tests.support.person import Person

from .inprocess import Distribution
from .load import process_tree_cpu_seconds
from .stack import HTTP_TIMEOUT, AppUrl, Customer, Tenant, finish_on_tenant, forget_app_cookies, new_customer

TENANT_HOST = "127.0.0.1"  # the emulator's host in the bench; the app is reached as localhost
# A code lives AUTH_CODE_LIFETIME_SECONDS (600 s, src/ciam_emulator/store.py) and a pending sign-in
# MAX_PENDING_LIFETIME (600 s); a cell's callbacks are prepared right before it and sent within about
# a minute, and a cell whose preparation took longer than this is refused rather than measured.
PREPARED_MAX_AGE_SECONDS = 300.0


@dataclass(frozen=True)
class PreparedCallback:
    path: str  # path and query of the tenant's redirect back to the app (code and state)
    cookie: str  # Cookie header: the app's cookies of the browser that started this sign-in


@dataclass(frozen=True)
class CallbackLoadResult:
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    app_cpu_ms_per_request: float  # all server processes of the app (master and workers)
    emulator_cpu_ms_per_request: float  # the token endpoint, JWKS: the tenant's share
    failures: int  # answers other than a 303 back into the app, and broken connections

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def summarize(
    *,
    concurrency: int,
    seconds: float,
    latencies_s: list[float],
    failures: int,
    app_cpu_s: float,
    emulator_cpu_s: float,
) -> CallbackLoadResult:
    """One cell's figures from what the threads recorded (every request sent has a latency)."""
    if not latencies_s:
        raise ValueError("a cell with no request sent has no figures")
    latency = Distribution.of(latencies_s)
    return CallbackLoadResult(
        concurrency=concurrency,
        requests=latency.count,
        seconds=seconds,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
        app_cpu_ms_per_request=app_cpu_s * 1000 / latency.count,
        emulator_cpu_ms_per_request=emulator_cpu_s * 1000 / latency.count,
        failures=failures,
    )


def landed_in_the_app(status: int, location: str | None, app_netloc: str) -> bool:
    """A completed sign-in: a 303 into the app, not back into /auth/ (a refused callback starts over)."""
    if status != 303 or not location:
        return False
    target = urlsplit(location)
    if target.netloc and target.netloc != app_netloc:
        return False
    return not target.path.startswith("/auth/")


def keep_best(cells: list[CallbackLoadResult], result: CallbackLoadResult) -> None:
    """Keep `result` unless a faster cell at the same concurrency is already kept (as pages do)."""
    current = next((c for c in cells if c.concurrency == result.concurrency), None)
    if current is None:
        cells.append(result)
    elif result.throughput > current.throughput:
        cells[cells.index(current)] = result


# -- preparing callbacks ---------------------------------------------------------------------------


def prepare_callbacks(tenant: Tenant, app_base_url: str, customer: Customer, count: int) -> list[PreparedCallback]:
    """`count` sign-ins started on the app, each in a browser of its own, stopped at the callback.

    One person signs in once through the hosted pages; the tenant's SSO cookie then makes it answer
    each later sign-in with a code at once. Between sign-ins the app's cookies are dropped (a new
    browser as far as the app is concerned: the app keeps at most four sign-ins in progress per
    browser), the tenant's kept.
    """
    person = Person(tenant.ca_bundle)
    finish_on_tenant(person, tenant, customer, person.get(f"{app_base_url}/auth/sign-in"))
    app = AppUrl(app_base_url)
    prepared = []
    for _ in range(count):
        forget_app_cookies(person, TENANT_HOST)
        url = sign_in_up_to_the_callback(person, app, customer.email, customer.password)
        cookie = "; ".join(f"{c.name}={c.value}" for c in person.http.cookies if c.domain != TENANT_HOST)
        prepared.append(PreparedCallback(path=url[len(app_base_url) :], cookie=cookie))
    person.http.close()
    return prepared


# -- sending them ----------------------------------------------------------------------------------


def run_callbacks(
    base_url: str, prepared: list[PreparedCallback], concurrency: int, server_pid: int, emulator_pid: int
) -> CallbackLoadResult:
    """Send every prepared callback over `concurrency` kept-alive connections; CPU of both sides from /proc."""
    target = urlsplit(base_url)
    pending: queue.SimpleQueue[PreparedCallback] = queue.SimpleQueue()
    for callback in prepared:
        pending.put(callback)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def connect() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=HTTP_TIMEOUT)
        connection.connect()
        return connection

    def worker() -> None:
        nonlocal failures
        connection = connect()
        start.wait()
        while True:
            try:
                callback = pending.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            try:
                status, location, will_close = _send(connection, callback)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed meanwhile (a recycled worker): sent again on
                # a new one, as a browser does. Had the app used the code already, the retry fails and counts.
                connection.close()
                connection = connect()
                try:
                    status, location, will_close = _send(connection, callback)
                except (OSError, http.client.HTTPException):
                    status, location, will_close = 0, None, True
            except (OSError, http.client.HTTPException):
                status, location, will_close = 0, None, True
            elapsed = time.perf_counter() - started
            ok = landed_in_the_app(status, location, target.netloc)
            with lock:
                latencies.append(elapsed)
                failures += not ok
            if will_close:
                connection.close()
                connection = connect()
        connection.close()

    threads = [threading.Thread(target=worker, name=f"callback-load-{i}", daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    app_before = process_tree_cpu_seconds(server_pid)
    emulator_before = process_tree_cpu_seconds(emulator_pid)
    start.wait(timeout=HTTP_TIMEOUT)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if not pending.empty():  # a thread died (it printed why): the figures would flatter the app
        raise RuntimeError(f"{pending.qsize()} callbacks were never sent")
    return summarize(
        concurrency=concurrency,
        seconds=seconds,
        latencies_s=latencies,
        failures=failures,
        app_cpu_s=process_tree_cpu_seconds(server_pid) - app_before,
        emulator_cpu_s=process_tree_cpu_seconds(emulator_pid) - emulator_before,
    )


def _send(connection: http.client.HTTPConnection, callback: PreparedCallback) -> tuple[int, str | None, bool]:
    connection.request("GET", callback.path, headers={"Cookie": callback.cookie})
    response = connection.getresponse()
    response.read()  # the body must be read before the connection carries the next request
    return response.status, response.getheader("Location"), response.will_close


# -- one cell per round and concurrency, on the served app ----------------------------------------


class CallbackCells:
    """The callback cells of a `make bench` run: one customer, fresh callbacks before each cell."""

    def __init__(self, tenant: Tenant, served: Any, emulator_pid: int, per_cell: int) -> None:
        self.tenant = tenant
        self.served = served  # benchmarks.stack.ServedSubject
        self.app_base_url = f"http://localhost:{served.port}"  # the REDIRECT_URI's host, as the browser has it
        self.emulator_pid = emulator_pid
        self.per_cell = per_cell
        self.customer = new_customer(tenant, "callback-load")
        self.last_preparation_seconds = 0.0

    def count_at(self, concurrency: int) -> int:
        # One connection settles sooner, and each callback takes its full latency: half as many suffice.
        return max(1, self.per_cell // 2) if concurrency == 1 else self.per_cell

    def measure(self, concurrency: int) -> CallbackLoadResult:
        warmup = max(10, 2 * concurrency)
        count = self.count_at(concurrency)
        prepared_at = time.monotonic()
        prepared = prepare_callbacks(self.tenant, self.app_base_url, self.customer, warmup + count)
        self.last_preparation_seconds = time.monotonic() - prepared_at
        if self.last_preparation_seconds > PREPARED_MAX_AGE_SECONDS:
            raise RuntimeError("preparing the callbacks took so long that the first codes could expire")
        pids = (self.served.pid, self.emulator_pid)
        run_callbacks(self.served.base_url, prepared[:warmup], concurrency, *pids)  # warm pools; discarded
        return run_callbacks(self.served.base_url, prepared[warmup:], concurrency, *pids)

    def measure_into(self, results: Any, concurrency: int, round_number: int) -> None:
        result = self.measure(concurrency)
        keep_best(results.callback_load, result)
        print(
            f"  round {round_number} {'sign-in callback':<26} c={concurrency:<3} {result.throughput:8.0f} req/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
            f"app CPU {result.app_cpu_ms_per_request:5.2f} ms/req  failures {result.failures}  "
            f"(prepared in {self.last_preparation_seconds:.1f} s)",
            flush=True,
        )
