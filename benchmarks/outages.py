"""What users and the health check see during each outage (issue 13), measured on loopback.

Usage: .venv/bin/python benchmarks/outages.py [SECONDS]   (never part of `make test`)

Stands up the emulator in its own process, `ciam-webapp serve` as deployed (2 workers × 4 threads,
connect 3 s / read 5 s, OUTBOUND_CALL_LIMIT 3 per worker) with sessions in a redis-server of its own,
and 20 signed-in people. Then, one after the other, for SECONDS each (default 15):

- tenant hanging: discovery, JWKS and the token endpoint accept connections and answer nothing
  (the emulator's pause control, Graph still answering);
- tenant down: the emulator process stopped (connections refused: tenant and Graph);
- Graph hanging: every Graph request held for 20 s (the emulator's Graph faults);
- Redis down: the redis-server killed, then started again (empty);
- worker replaced during a tenant outage: the tenant hangs, a worker is killed, the server's master
  (gunicorn, as `ciam-webapp serve` runs by default) forks a new one.

Meanwhile each person loads /profile (a cached token, then Graph) and then finishes a sign-in with a
made-up code (a token request), once a second; a health check probes /healthz on a new connection
every 0.2 s. Printed: per outage, what people got (status: count, p50/max seconds), /healthz p50/max,
and how long after the outage ended the first page succeeded again.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stack import (  # noqa: E402
    BENCH_DIR,
    ChildProcess,
    Emulator,
    ServedSubject,
    app_settings_values,
    new_customer,
    signed_in_person,
    wait_until_up,
)
from tests.support.servers import free_port  # noqa: E402

PEOPLE = 20


class Redis:
    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.work_dir = work_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.work_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _timed(http: requests.Session, method: str, url: str, **kwargs) -> tuple[int, float, requests.Response | None]:
    started = time.monotonic()
    try:
        response = http.request(method, url, allow_redirects=False, timeout=60, **kwargs)
    except requests.RequestException:
        return 0, time.monotonic() - started, None
    return response.status_code, time.monotonic() - started, response


def _person_loop(person, base_url: str, stop: threading.Event, record: Callable[[str, int, float], None]) -> None:
    while not stop.is_set():
        status, seconds, _ = _timed(person.http, "GET", f"{base_url}/profile")
        record("/profile", status, seconds)
        anonymous = requests.Session()
        anonymous.trust_env = False
        status, seconds, start = _timed(anonymous, "GET", f"{base_url}/auth/sign-in")
        if status == 302:
            state = parse_qs(urlsplit(start.headers["Location"]).query).get("state", [""])[0]
            status, seconds, _ = _timed(anonymous, "GET", f"{base_url}/auth/redirect?code=made-up&state={state}")
            record("sign-in callback", status, seconds)
        else:
            record("sign-in start", status, seconds)
        anonymous.close()
        stop.wait(1.0)


def _probe_loop(base_url: str, stop: threading.Event, record: Callable[[float, int], None]) -> None:
    while not stop.is_set():
        status, seconds, _ = _timed(requests, "GET", f"{base_url}/healthz", headers={"Connection": "close"})
        record(seconds, status)
        stop.wait(0.2)


def _summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s" if values else "none"


def run_scenario(name: str, base_url: str, people, begin: Callable[[], None], end: Callable[[], None], seconds: float):
    answers: dict[tuple[str, int], list[float]] = defaultdict(list)
    probes: list[float] = []
    probe_failures = 0
    lock = threading.Lock()
    in_outage = threading.Event()

    def record(path: str, status: int, took: float) -> None:
        if in_outage.is_set():
            with lock:
                answers[(path, status)].append(took)

    def record_probe(took: float, status: int) -> None:
        nonlocal probe_failures
        if in_outage.is_set():
            with lock:
                probes.append(took)
                probe_failures += status != 200

    stop = threading.Event()
    begin()
    in_outage.set()
    threads = [threading.Thread(target=_person_loop, args=(p, base_url, stop, record)) for p in people]
    threads.append(threading.Thread(target=_probe_loop, args=(base_url, stop, record_probe)))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    in_outage.clear()
    end()
    ended = time.monotonic()
    recovered = None
    while time.monotonic() - ended < 60:
        back_status, _, _ = _timed(people[0].http, "GET", f"{base_url}/profile")
        if back_status in (200, 302):  # 302: to sign in again, when the session was lost with Redis
            recovered = time.monotonic() - ended
            break
        time.sleep(0.2)
    print(f"\n## {name} ({seconds:.0f} s)")
    for (path, status), took in sorted(answers.items()):
        print(f"  {path:17} {status}: {len(took):4d} answers, {_summary(took)}")
    print(f"  /healthz          {len(probes)} probes, {probe_failures} not 200, {_summary(probes)}")
    print(f"  /profile answered {back_status} {recovered:.1f} s after the outage ended" if recovered is not None
          else "  /profile not back within 60 s")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    work_dir = Path(tempfile.mkdtemp(prefix="ciam-outages-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # The emulator's own server: a thread per request, so requests the app gave up on while the tenant
    # hangs cannot use up its threads (gunicorn's 16 would be, and the controls with them).
    emulator = Emulator(work_dir, [base_url], server="werkzeug")
    redis = Redis(work_dir)
    redis.start()
    values = app_settings_values(
        emulator.tenant, base_url, work_dir / "instance",
        SESSION_TYPE="redis", REDIS_URL=f"redis://127.0.0.1:{redis.port}/0", HTTP_TIMEOUT="5", LOG_LEVEL="INFO",
    )
    app = ServedSubject("app", port, values, work_dir / "server.log")
    tenant = emulator.tenant
    try:
        people = []
        for n in range(PEOPLE):
            person, _ = signed_in_person(tenant, base_url, new_customer(tenant, f"outage{n}"))
            person.get(f"{base_url}/profile")  # the Graph token is cached now
            people.append(person)

        def restart_emulator() -> None:
            emulator.child = ChildProcess(
                [sys.executable, str(BENCH_DIR / "serve_emulator.py"), str(emulator.instance_dir), emulator.base_url,
                 "werkzeug"],
                log_path=work_dir / "emulator-restarted.log",
            )
            wait_until_up(f"{emulator.base_url}/_emulator/control/stats", verify=tenant.ca_bundle)

        def sign_in_again() -> None:  # the sessions were lost with Redis
            for n, person in enumerate(people):
                person.http.cookies.clear()
                fresh, _ = signed_in_person(tenant, base_url, new_customer(tenant, f"again{n}"))
                person.http = fresh.http

        run_scenario("tenant hanging", base_url, people,
                     lambda: tenant._call("POST", "pause", json={"seconds": seconds + 30, "graph": False}),
                     lambda: tenant._call("POST", "pause", json={"seconds": 0}), seconds)
        run_scenario("tenant down (connections refused, Graph too)", base_url, people,
                     emulator.stop, restart_emulator, seconds)
        run_scenario("Graph hanging", base_url, people,
                     lambda: tenant._call("POST", "graph/faults", json={"responses": [{"delay_seconds": 20}] * 400}),
                     lambda: tenant._call("DELETE", "graph/faults"), seconds)
        run_scenario("Redis down", base_url, people, redis.kill, redis.start, seconds)
        sign_in_again()

        def replace_a_worker() -> None:
            tenant._call("POST", "pause", json={"seconds": seconds + 30, "graph": False})
            children = Path(f"/proc/{app.pid}/task/{app.pid}/children").read_text().split()
            os.kill(int(children[0]), signal.SIGKILL)  # a worker of our own server; its master starts another

        run_scenario("worker replaced while the tenant hangs", base_url, people, replace_a_worker,
                     lambda: tenant._call("POST", "pause", json={"seconds": 0}), seconds)
        log = (work_dir / "server.log").read_text(errors="replace")
        print(f"\noutbound calls refused by the bulkhead: {log.count('outbound call refused')}")
    finally:
        app.stop()
        emulator.stop()
        redis.kill()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
