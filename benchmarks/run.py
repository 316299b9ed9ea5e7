"""`make bench`: what the identity layer costs, measured against a bare Flask app in the same run.

Everything runs on loopback and stops by itself: the emulator (its own process), the app and the
bare baseline (each on gunicorn gthread as `ciam-webapp serve` runs it by default, same options), wrk
as the load generator, then in-process measurements of the sign-in callback, session sizes and
tenant round trips; then the same app on other servers (benchmarks/servers.py) and the recycle stall.
Prints a table, writes benchmarks/results.md and docs/bench-throughput.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` and `tests.support`

import redis  # noqa: E402

from benchmarks import api_mode, callback_load, inprocess, issue16, report, servers  # noqa: E402
from benchmarks.load import run_wrk, wrk_path  # noqa: E402
from benchmarks.report import (  # noqa: E402
    BARE_HELLO,
    BARE_PAGE,
    HOME,
    SIGNED_IN_CLAIMS,
    SIGNED_IN_PROFILE,
    Results,
)
from benchmarks.serve_subject import server_options  # noqa: E402
from benchmarks.stack import (  # noqa: E402
    ROOT,
    SESSION_COOKIE,
    Emulator,
    ServedSubject,
    app_settings_values,
    new_customer,
    session_id,
    signed_in_person,
)
from tests.support.person import Person  # noqa: E402

CONCURRENCY_LEVELS = (1, 8, 32)
REDIS_URL = "redis://127.0.0.1:6379/13"  # a db of its own; only the keys this run creates are deleted
RESULTS_PATH = ROOT / "benchmarks" / "results.md"
NOTES_PATH = ROOT / "benchmarks" / "profiling-notes.md"
PLOT_PATH = ROOT / "docs" / "bench-throughput.png"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per throughput cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each cell")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all cells; each cell keeps its best")
    parser.add_argument("--users", type=int, default=12, help="signed-in customers the load rotates over")
    parser.add_argument("--callback-iterations", type=int, default=300)
    parser.add_argument("--page-iterations", type=int, default=300)
    parser.add_argument(
        "--callbacks-per-cell", type=int, default=600, help="sign-in callbacks per load cell (half at 1 connection)"
    )
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--emulator-server",
        choices=("gunicorn", "werkzeug"),
        default="gunicorn",
        help="gunicorn keeps connections alive as Entra and Graph do; werkzeug (the emulator's own) closes each one",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=report.BASELINE_PATH,
        help="figures of an earlier run to compare with (default: the old session layer's, commit 6b393ba)",
    )
    parser.add_argument("--api-mode-saves", type=int, default=30, help="profile saves timed per mode (API vs direct)")
    parser.add_argument(
        "--only-api-mode",
        action="store_true",
        help="measure only the profile edit in API mode next to direct mode, print it, write nothing",
    )
    parser.add_argument("--stall-seconds", type=float, default=20.0, help="the recycle-stall run, per worker count")
    parser.add_argument("--no-instructions", action="store_true", help="skip the callgrind counts (~4 minutes)")
    parser.add_argument("--no-servers", action="store_true", help="skip the server comparison and stall check")
    parser.add_argument("--quick", action="store_true", help="short cells and few iterations (checks the harness)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.md and the plot alone")
    parser.add_argument(
        "--out",
        type=Path,
        help="write results.md and the plot into this folder instead of benchmarks/ and docs/ (for trial runs)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.users, args.rounds = 1.0, 1.0, 3, 1
        args.callback_iterations = args.page_iterations = 20
        args.callbacks_per_cell = 40
        args.api_mode_saves = 5
        args.stall_seconds = 5.0
        args.no_instructions = True
    if args.only_api_mode:
        return only_api_mode(args)
    wrk_path()  # fail early, before anything is started
    try:
        baseline = report.load_baseline(args.baseline)
    except report.BaselineError as exc:
        raise SystemExit(f"the baseline to compare with: {exc}") from None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request lines from the in-process servers

    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ciam-bench-") as work:
        results = measure(Path(work), args)
    results.baseline = baseline
    results.instructions_before = issue16.load_instructions_before()
    results.elapsed_seconds = time.monotonic() - started
    results.load_average = (load_before, os.getloadavg())

    report.print_summary(results)
    if not args.no_write:
        results_path, plot_path = RESULTS_PATH, PLOT_PATH
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            results_path, plot_path = args.out / RESULTS_PATH.name, args.out / PLOT_PATH.name
        notes = NOTES_PATH.read_text() if NOTES_PATH.exists() else ""
        plot_link = os.path.relpath(plot_path, results_path.parent)
        results_path.write_text(report.markdown(results, notes, plot_link=plot_link))
        report.plot(results, plot_path)
        print(f"\nWrote {results_path} and {plot_path}")
    print(f"Whole run: {results.elapsed_seconds:.0f} s")
    return 0


def only_api_mode(args: argparse.Namespace) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="ciam-bench-") as work_dir:
        work = Path(work_dir)
        direct_port, api_mode_port = inprocess.free_ports(2)
        urls = [f"http://localhost:{p}" for p in (direct_port, api_mode_port)]
        emulator = Emulator(work, urls, server=args.emulator_server)
        try:
            measured = edit_modes(emulator.tenant, (direct_port, api_mode_port), work, args)
        finally:
            emulator.stop()
    print("\n".join(api_mode.table(measured)))
    return 0


def edit_modes(tenant, ports: tuple[int, int], work: Path, args: argparse.Namespace) -> api_mode.ApiModeResults:
    print("The profile edit: API mode next to direct mode...", flush=True)
    customers = (new_customer(tenant, "edit-direct"), new_customer(tenant, "edit-api"))
    return api_mode.measure(tenant, ports, work, customers, args.api_mode_saves)


def measure(work: Path, args: argparse.Namespace) -> Results:
    ports = inprocess.free_ports(8)
    served_port, bare_port, fs_port, redis_port, trips_port, bare_inproc_port, direct_port, api_mode_port = ports
    app_urls = [
        f"http://localhost:{p}" for p in (served_port, fs_port, redis_port, trips_port, direct_port, api_mode_port)
    ]
    emulator = Emulator(work, app_urls, server=args.emulator_server)
    tenant = emulator.tenant
    try:
        served_values = app_settings_values(tenant, app_urls[0], work / "served")
        results = Results(
            server_options=server_options(),
            seconds_per_run=args.seconds,
            rounds=args.rounds,
        )
        throughput(results, emulator, served_values, served_port, bare_port, work, args)
        in_process(results, tenant, work, fs_port, redis_port, trips_port, bare_inproc_port, args)
        results.api_mode = edit_modes(tenant, (direct_port, api_mode_port), work, args)
    finally:
        emulator.stop()
    if not args.no_servers:
        print("The same app on gunicorn gthread, gunicorn sync and granian; the recycle stall...", flush=True)
        (work / "servers").mkdir()
        results.servers = servers.measure(
            work / "servers",
            argparse.Namespace(
                seconds=args.seconds,
                warmup=args.warmup,
                rounds=args.rounds,
                users=min(args.users, 8),
                stall_seconds=args.stall_seconds,
                stall_only=False,
            ),
        )
    if not args.no_instructions:
        print("Instructions per request under callgrind (about 4 minutes)...", flush=True)
        counts = work / "instructions.json"
        subprocess.run(  # noqa: S603 - our own script, with this interpreter
            [sys.executable, str(ROOT / "benchmarks" / "instructions.py"), "--json", str(counts)], check=True
        )
        results.instructions = json.loads(counts.read_text())
    return results


def throughput(
    results: Results,
    emulator: Emulator,
    served_values: dict[str, str],
    served_port: int,
    bare_port: int,
    work: Path,
    args: argparse.Namespace,
) -> None:
    tenant = emulator.tenant
    print("Starting the app and the bare baseline under gunicorn gthread (ciam-webapp serve)...", flush=True)
    served = ServedSubject("app", served_port, served_values, work / "app.log")
    bare = ServedSubject("bare", bare_port, served_values, work / "bare.log")
    try:
        print(f"Signing in {args.users} customers through the hosted pages...", flush=True)
        cookies = []
        for index in range(args.users):
            person, _ = signed_in_person(
                tenant, f"http://localhost:{served_port}", new_customer(tenant, f"load{index}")
            )
            cookies.append(f"{SESSION_COOKIE}={session_id(person)}")
        callbacks = callback_load.CallbackCells(tenant, served, emulator.child.pid, args.callbacks_per_cell)
        subjects = [
            (SIGNED_IN_PROFILE, served, "/profile", cookies),
            (SIGNED_IN_CLAIMS, served, "/claims", cookies),
            (HOME, served, "/", []),
            (BARE_PAGE, bare, "/page", []),
            (BARE_HELLO, bare, "/hello", []),
        ]
        # Rounds interleave every subject at every level, and each cell keeps its best round: other
        # work on the machine can only slow a cell down, so the best round is the least disturbed.
        for round_number in range(1, args.rounds + 1):
            for concurrency in CONCURRENCY_LEVELS:
                for name, subject, path, subject_cookies in subjects:
                    common = {
                        "subject": name,
                        "url_base": subject.base_url,
                        "path": path,
                        "cookies": subject_cookies,
                        "concurrency": concurrency,
                        "server_pid": subject.pid,
                        "emulator_pid": emulator.child.pid,
                        "script_dir": work,
                    }
                    run_wrk(seconds=args.warmup, **common)  # warm caches, pools and connections; discarded
                    result = run_wrk(seconds=args.seconds, **common)
                    results.keep_best(result)
                    print(
                        f"  round {round_number} {name:<26} c={concurrency:<3} {result.throughput:8.0f} req/s  "
                        f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                        f"app CPU {result.server_cpu_ms_per_request:5.2f} ms/req  "
                        f"non-200 {result.non200 + result.socket_errors}",
                        flush=True,
                    )
                callbacks.measure_into(results, concurrency, round_number)  # the same rounds, the same app
    finally:
        served.stop()
        bare.stop()


def in_process(
    results: Results,
    tenant,
    work: Path,
    fs_port: int,
    redis_port: int,
    trips_port: int,
    bare_inproc_port: int,
    args: argparse.Namespace,
) -> None:
    print("In-process: sign-in callback CPU, page CPU, session bytes...", flush=True)
    app = inprocess.InProcessApp(tenant, fs_port, work / "inproc")
    try:
        customer = new_customer(tenant, "callback")
        results.callback = inprocess.callback_cpu(app, tenant, customer, args.callback_iterations, warmup=10)
        person, _ = signed_in_person(tenant, app.base_url, new_customer(tenant, "pages"))
        for path, name in (("/profile", SIGNED_IN_PROFILE), ("/claims", SIGNED_IN_CLAIMS)):
            results.page_cpu[name] = inprocess.page_cpu(app, person, path, args.page_iterations)
        anonymous = Person(tenant.ca_bundle)
        results.page_cpu[HOME] = inprocess.page_cpu(app, anonymous, "/", args.page_iterations)
        results.page_cpu[BARE_PAGE] = inprocess.bare_page_cpu(bare_inproc_port, args.page_iterations)
        users = [new_customer(tenant, f"size{i}") for i in range(5)]
        results.sessions.append(inprocess.session_sizes(app, tenant, users, "embedded (SQLite)"))
    finally:
        app.stop()

    redis_session(results, tenant, work, redis_port, args.redis_url)

    print("Round trips per operation...", flush=True)
    results.round_trips = inprocess.round_trips(tenant, trips_port, work / "trips", new_customer(tenant, "trips"))


def redis_session(results: Results, tenant, work: Path, port: int, url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        results.session_notes.append(f"Redis at {url} was not reachable ({type(exc).__name__}): not measured.")
        return
    # A key prefix of this run's own (the app's default is `ciam:s:`), so the clean-up afterwards
    # deletes exactly this run's sessions in the shared Redis and nothing else.
    prefix = f"ciam-bench-{secrets.token_hex(4)}:s:"
    app = inprocess.InProcessApp(tenant, port, work / "redis", **inprocess.redis_app_overrides(url, prefix))
    try:
        users = [new_customer(tenant, f"redis{i}") for i in range(5)]
        results.sessions.append(inprocess.session_sizes(app, tenant, users, "redis"))
    finally:
        app.stop()
        deleted = inprocess.delete_redis_keys_with_prefix(url, prefix)
        results.session_notes.append(
            f"Redis at {url}: this run's {deleted} session keys (under a prefix of its own, `{prefix}`) "
            "were deleted afterwards."
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
