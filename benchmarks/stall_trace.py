"""Where the one-worker recycle stall's slow requests come from: a timeline around each recycle.

    .venv/bin/python benchmarks/stall_trace.py [--seconds 20] [--workers 1]

`ciam-webapp serve`'s gunicorn (max_requests 2000, as `make bench`'s stall check) serves the claims
page to 8 Python threads, each on one kept-alive connection, for `--seconds`; every request's start
and latency are kept. The worker's own log line at its last request ("Worker reached
max_requests") and gunicorn's "Booting worker" mark each recycle. The report says how many of the
slowest 1% of requests began within a second of a recycle, and the latency profile in the windows
before, during and after it. The Python client shares the 2 cores with the server (its figures are
for this timeline, not for throughput).
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.inprocess import Distribution  # noqa: E402
from benchmarks.servers import STALL_MAX_REQUESTS  # noqa: E402
from benchmarks.stack import (  # noqa: E402
    SESSION_COOKIE,
    Emulator,
    ServedSubject,
    app_settings_values,
    new_customer,
    session_id,
    signed_in_person,
)
from tests.support.servers import free_port  # noqa: E402

GUNICORN_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ([+-]\d{4})\]")
LAST_REQUEST = "reached max_requests"
BOOTED = "Booting worker"


def drive(base_url: str, cookies: list[str], seconds: float, threads: int) -> list[tuple[float, float, int]]:
    """(wall-clock start, latency s, status) of every request, from `threads` kept-alive clients."""
    host, port = base_url.removeprefix("http://").split(":")
    samples: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[tuple[float, float, int]] = []
        n = index
        while time.monotonic() < deadline:
            started_wall, started = time.time(), time.perf_counter()
            try:
                connection.request("GET", "/claims", headers={"Cookie": cookies[n % len(cookies)]})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                status = 0
            mine.append((started_wall, time.perf_counter() - started, status))
            n += threads
        connection.close()
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(samples)


def recycle_times(log_path: Path) -> tuple[list[float], list[float]]:
    """Wall-clock seconds of each worker's last-request line and of each worker boot, from the log."""
    last, booted = [], []
    for line in log_path.read_text(errors="replace").splitlines():
        match = GUNICORN_TIME.match(line)
        if not match:
            continue
        when = datetime.strptime(f"{match[1]} {match[2]}", "%Y-%m-%d %H:%M:%S %z").timestamp()
        if LAST_REQUEST in line:
            last.append(when)
        elif BOOTED in line:
            booted.append(when)
    return last, booted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ciam-stall-") as tmp:
        work = Path(tmp)
        port = free_port()
        app_url = f"http://localhost:{port}"
        emulator = Emulator(work, [app_url])
        subject = None
        try:
            values = app_settings_values(emulator.tenant, app_url, work / "instance")
            subject = ServedSubject(
                "app", port, values, work / "app.log", (str(args.workers), str(STALL_MAX_REQUESTS))
            )
            cookies = []
            for index in range(8):
                person, _ = signed_in_person(emulator.tenant, app_url, new_customer(emulator.tenant, f"stall{index}"))
                cookies.append(f"{SESSION_COOKIE}={session_id(person)}")
            drive(subject.base_url, cookies, 2.0, args.threads)  # warm-up
            samples = drive(subject.base_url, cookies, args.seconds, args.threads)
            last, booted = recycle_times(subject.child.log_path)
        finally:
            if subject is not None:
                subject.stop()
            emulator.stop()
    report(samples, last, booted, args)
    return 0


def report(
    samples: list[tuple[float, float, int]], last: list[float], booted: list[float], args: argparse.Namespace
) -> None:
    whole = Distribution.of([latency for _, latency, _ in samples])
    first, end = samples[0][0], samples[-1][0]
    recycles = [t for t in last if first <= t <= end]
    print(
        f"{whole.count:,} requests in {args.seconds:g} s, {args.workers} worker(s), {args.threads} clients: "
        f"p50 {whole.p50_ms:.1f} ms, p99 {whole.p99_ms:.1f} ms ({whole.p99_ms / whole.p50_ms:.1f}x); "
        f"{len(recycles)} recycle(s) (last-request log lines), {sum(first <= t <= end for t in booted)} boot(s); "
        f"failed {sum(1 for *_, s in samples if s != 200)}"
    )

    def in_window(start: float, recycle: float) -> bool:
        # gunicorn's log has whole seconds: a recycle's window is its log second and the 2 s after.
        return recycle - 1.0 <= start <= recycle + 2.0

    slow = [start for start, latency, _ in samples if latency * 1000 >= whole.p99_ms]
    near = sum(any(in_window(start, t) for t in recycles) for start in slow)
    print(
        f"slowest 1% ({len(slow)} requests, >= {whole.p99_ms:.1f} ms): {near} began within the log second "
        "of a recycle or the 2 s after"
    )
    quiet = [latency for start, latency, _ in samples if not any(in_window(start, t) for t in recycles)]
    if quiet:
        away = Distribution.of(quiet)
        print(
            f"requests away from recycles: p50 {away.p50_ms:.1f} ms, p99 {away.p99_ms:.1f} ms "
            f"({away.count:,} requests)"
        )
    for t in recycles:
        window = [latency for start, latency, _ in samples if in_window(start, t)]
        if window:
            print(
                f"  recycle at {datetime.fromtimestamp(t).strftime('%H:%M:%S')}: {len(window)} requests in its window, "
                f"max {max(window) * 1000:.0f} ms, median {statistics.median(window) * 1000:.1f} ms, "
                f">= p99: {sum(latency * 1000 >= whole.p99_ms for latency in window)}"
            )

if __name__ == "__main__":
    sys.exit(main())
