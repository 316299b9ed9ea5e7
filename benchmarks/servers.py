"""The same app on different WSGI servers, and the stall a worker recycle causes.

    .venv/bin/python benchmarks/servers.py [--seconds 5] [--rounds 2] [--stall-seconds 20] [--json out.json]

Servers: gunicorn `gthread` (what `ciam-webapp serve` runs by default: 2 workers x 4 threads),
gunicorn `sync` (2 workers, one request at a time each) and granian (`ciam-webapp serve --server
granian`: 2 workers, WSGI, 4 blocking threads). Each serves the real app, configured alike, and wrk
measures the anonymous home page and the signed-in claims page at 1, 8 and 32 connections,
interleaved in rounds (each cell keeps its best round), with the server's CPU per request from /proc
(all its processes). `make bench` runs this too.

Recycle stall: `ciam-webapp serve`'s default server and options (gunicorn gthread, 2 workers, then 1),
recycled every ~2,000 requests (max_requests, with its jitter), under 8 connections for a whole
`--stall-seconds` run of the claims page: p99 must stay within 3x p50. For comparison, one more run
of granian (2 workers) sent SIGHUP every `RELOAD_EVERY_SECONDS` so it restarts its workers (it
recycles by age only, at least a minute apart); its restarts are counted from its log.
`--stall-only` skips the server comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import LoadResult, run_wrk  # noqa: E402
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

SERVERS = (("gunicorn gthread", "app"), ("gunicorn sync", "app-sync"), ("granian", "app-granian"))
PAGES = (("home", "/", False), ("claims", "/claims", True))
CONCURRENCY = (1, 8, 32)
STALL_RATIO_LIMIT = 3.0
STALL_WORKERS = (2, 1)  # `ciam-webapp serve`'s default, then the worst case
STALL_MAX_REQUESTS = 2000  # `ciam-webapp serve`'s --max-requests default
GRANIAN_STALL_WORKERS = 2  # one run only: it is the comparison, not the target
# granian restarts workers one at a time, 3.5 s apart; a SIGHUP during a restart is kept for after it.
RELOAD_EVERY_SECONDS = 4.0
RELOAD_LOG_LINE = "HUP signal received"


def send_reloads(pid: int, stop: threading.Event) -> None:
    """SIGHUP to granian's master every RELOAD_EVERY_SECONDS until `stop`: its graceful restart."""
    while not stop.wait(RELOAD_EVERY_SECONDS):
        os.kill(pid, signal.SIGHUP)


def _stall_run(
    subject: ServedSubject,
    cookies: list[str],
    emulator: Emulator,
    workers: int,
    work: Path,
    args: argparse.Namespace,
    after_warmup: Callable[[], None] = lambda: None,
) -> LoadResult:
    common = {
        "subject": f"recycle stall, {workers} worker(s)",
        "url_base": subject.base_url,
        "path": "/claims",
        "cookies": cookies,
        "concurrency": 8,
        "server_pid": subject.pid,
        "emulator_pid": emulator.child.pid,
        "script_dir": work,
    }
    run_wrk(seconds=args.warmup, **common)
    after_warmup()
    return run_wrk(seconds=args.stall_seconds, **common)


def _stall_figures(result: LoadResult, workers: int, recycles: int) -> dict[str, object]:
    ratio = result.p99_ms / result.p50_ms if result.p50_ms else float("inf")
    met = ratio <= STALL_RATIO_LIMIT
    print(
        f"  {result.requests} requests, {recycles} recycle(s): p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, p99/p50 {ratio:.1f} ({'met' if met else 'NOT met'}), "
        f"bad {result.non200 + result.socket_errors}",
        flush=True,
    )
    return {**asdict(result), "workers": workers, "recycles": recycles, "p99_over_p50": ratio, "met": met}


def recycle_stall(
    work: Path, values: dict[str, str], cookies: list[str], emulator: Emulator, workers: int, args: argparse.Namespace
) -> dict[str, object]:
    """The claims page at 8 connections for a whole run while gunicorn recycles workers (max_requests)."""
    print(
        f"Recycle stall: {workers} gthread worker(s), max_requests {STALL_MAX_REQUESTS}, "
        f"{args.stall_seconds:.0f} s at 8 connections"
    )
    subject = ServedSubject(
        "app", free_port(), values, work / f"stall-{workers}.log", (str(workers), str(STALL_MAX_REQUESTS))
    )
    try:
        result = _stall_run(subject, cookies, emulator, workers, work, args)
    finally:
        subject.stop()
    return _stall_figures(result, workers, int(result.requests // STALL_MAX_REQUESTS))


def granian_restart_stall(
    work: Path, values: dict[str, str], cookies: list[str], emulator: Emulator, args: argparse.Namespace
) -> dict[str, object]:
    """The same run on granian while it restarts its workers (SIGHUP), for comparison."""
    workers = GRANIAN_STALL_WORKERS
    print(
        f"Restart stall: {workers} granian worker(s), SIGHUP every {RELOAD_EVERY_SECONDS:g} s, "
        f"{args.stall_seconds:.0f} s at 8 connections"
    )
    log_path = work / "stall-granian.log"
    subject = ServedSubject("app-granian", free_port(), values, log_path, (str(workers),))
    stop = threading.Event()
    reloader = threading.Thread(target=send_reloads, args=(subject.pid, stop), daemon=True)
    try:
        result = _stall_run(subject, cookies, emulator, workers, work, args, after_warmup=reloader.start)
    finally:
        stop.set()
        if reloader.is_alive():
            reloader.join(timeout=RELOAD_EVERY_SECONDS + 1)
        subject.stop()
    recycles = log_path.read_text(errors="replace").count(RELOAD_LOG_LINE)
    return {**_stall_figures(result, workers, recycles), "server": "granian", "how": "SIGHUP"}


def measure(work: Path, args: argparse.Namespace) -> dict[str, object]:
    ports = {kind: free_port() for _, kind in SERVERS}
    app_urls = [f"http://localhost:{ports['app']}"]
    emulator = Emulator(work, app_urls)
    tenant = emulator.tenant
    values = app_settings_values(tenant, app_urls[0], work / "instance")
    subjects: dict[str, ServedSubject] = {}
    cells: list[dict[str, object]] = []
    stall: dict[str, object] = {}
    granian_restart: dict[str, object] = {}
    try:
        for name, kind in SERVERS:
            print(f"Starting {name}...", flush=True)
            subjects[name] = ServedSubject(kind, ports[kind], values, work / f"{kind}.log")
        cookies = []
        for index in range(args.users):
            person, _ = signed_in_person(tenant, app_urls[0], new_customer(tenant, f"srv{index}"))
            cookies.append(f"{SESSION_COOKIE}={session_id(person)}")
        best: dict[tuple[str, str, int], LoadResult] = {}
        for round_number in range(1, 0 if args.stall_only else args.rounds + 1):
            for concurrency in CONCURRENCY:
                for page, path, signed_in in PAGES:
                    for name, _ in SERVERS:
                        subject = subjects[name]
                        common = {
                            "subject": f"{name} {page}",
                            "url_base": subject.base_url,
                            "path": path,
                            "cookies": cookies if signed_in else [],
                            "concurrency": concurrency,
                            "server_pid": subject.pid,
                            "emulator_pid": emulator.child.pid,
                            "script_dir": work,
                        }
                        run_wrk(seconds=args.warmup, **common)
                        result = run_wrk(seconds=args.seconds, **common)
                        key = (name, page, concurrency)
                        if key not in best or result.throughput > best[key].throughput:
                            best[key] = result
                        print(
                            f"  round {round_number} {name:<17} {page:<7} c={concurrency:<3} "
                            f"{result.throughput:7.0f} req/s  p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:6.1f} ms  "
                            f"CPU {result.server_cpu_ms_per_request:5.2f} ms/req  "
                            f"bad {result.non200 + result.socket_errors}",
                            flush=True,
                        )
        cells = [
            {"server": name, "page": page, "concurrency": concurrency, **asdict(result)}
            for (name, page, concurrency), result in sorted(best.items())
        ]
        for subject in subjects.values():
            subject.stop()
        subjects.clear()

        for workers in STALL_WORKERS:
            stall[str(workers)] = recycle_stall(work, values, cookies, emulator, workers, args)
        granian_restart = granian_restart_stall(work, values, cookies, emulator, args)
    finally:
        for subject in subjects.values():
            subject.stop()
        emulator.stop()
    return {"cells": cells, "stall": stall, "granian_restart": granian_restart}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--stall-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--stall-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ciam-servers-") as tmp:
        figures = measure(Path(tmp), args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
