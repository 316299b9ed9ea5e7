"""Instructions per request, counted by valgrind's callgrind: the same figure on a busy machine as on an idle one.

    .venv/bin/python benchmarks/instructions.py                      # every scenario
    .venv/bin/python benchmarks/instructions.py claims callback      # some of them
    .venv/bin/python benchmarks/instructions.py --json out.json ...  # also write the figures

Thread CPU clocks move with whatever else the machine runs (caches, frequency, other engineers'
tests); instruction counts do not. This script stands up the emulator (its own process, keep-alive,
never under valgrind) and signs a customer in natively, then runs each scenario in a child process
under `valgrind --tool=callgrind --instr-atstart=no`: the child imports and builds the app at
valgrind's uninstrumented speed, warms up, and only then switches counting on (a client request
through a tiny C helper built here with gcc), runs the scenario `count` times, and dumps. The figure
is the dump's total divided by `count`: the app's whole work per request in that process (Flask,
the session store, MSAL, TLS on our side), never the emulator's.

Scenarios: `outbound` (one kept-alive HTTPS GET of the discovery document through the app's tenant
session), `msal_app` (MSAL's application object around a user's cache), `home`, `claims`, `profile`
(Flask's test client, so no server or socket work of our own), `callback` (the sign-in callback:
code redemption, ID token validation, the new session), `bare` (the bare Flask template page).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stack import ROOT, Emulator, app_settings_values, new_customer  # noqa: E402

SCENARIOS = ("outbound", "msal_app", "home", "claims", "profile", "callback", "bare")
COUNTS = {"outbound": 30, "msal_app": 30, "callback": 10, "profile": 20}  # others: DEFAULT_COUNT
DEFAULT_COUNT = 40
WARMUP = 5
HELPER_SOURCE = """
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def build_helper(work_dir: Path) -> Path:
    source, library = work_dir / "callgrind_toggle.c", work_dir / "callgrind_toggle.so"
    source.write_text(HELPER_SOURCE)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)  # noqa: S603, S607
    return library


# -- the parent: emulator, a signed-in customer, one callgrind child per scenario ----------------


def prepare(work_dir: Path, scenarios: list[str]) -> tuple[Emulator, dict[str, Any]]:
    from benchmarks.inprocess import InProcessApp
    from tests.support.journeys import sign_in_up_to_the_callback
    from tests.support.person import Person
    from tests.support.servers import free_port

    port = free_port()
    app_base_url = f"http://localhost:{port}"
    emulator = Emulator(work_dir, [app_base_url])
    tenant = emulator.tenant
    customer = new_customer(tenant, "count")
    values = app_settings_values(tenant, app_base_url, work_dir / "app")
    app = InProcessApp(tenant, port, work_dir / "app", SECRET_KEY=values["SECRET_KEY"])
    try:
        person = Person(tenant.ca_bundle)
        page = person.get(f"{app_base_url}/auth/sign-in")
        from benchmarks.stack import finish_on_tenant

        finish_on_tenant(person, tenant, customer, page)
        person.get(f"{app_base_url}/profile")  # the CSRF token and the Graph token are in the session now
        signed_in = cookie_header(person, tenant_host="127.0.0.1")
        callbacks = []
        if "callback" in scenarios:
            for _ in range(WARMUP + COUNTS["callback"]):  # a code is good once
                fresh = Person(tenant.ca_bundle)
                for cookie in person.http.cookies:  # the tenant's SSO cookie: it answers with a code at once
                    if cookie.domain == "127.0.0.1":
                        fresh.http.cookies.set_cookie(cookie)
                url = sign_in_up_to_the_callback(fresh, app.url, customer.email, customer.password)
                callbacks.append({"url": url, "cookie": cookie_header(fresh, tenant_host="127.0.0.1")})
    finally:
        app.stop()
    plan = {
        "settings": values,
        "app_base_url": app_base_url,
        "signed_in_cookie": signed_in,
        "callbacks": callbacks,
    }
    return emulator, plan


def cookie_header(person: Any, *, tenant_host: str) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in person.http.cookies if c.domain != tenant_host)


def count_in_child(
    work_dir: Path, helper: Path, plan_path: Path, scenario: str, count: int, keep: Path | None = None
) -> int:
    out = work_dir / f"callgrind.{scenario}.out"
    for old in work_dir.glob(f"callgrind.{scenario}.out*"):
        old.unlink()
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # dict and set layouts, and so their work, repeat exactly
    result = subprocess.run(  # noqa: S603
        [
            shutil.which("valgrind") or "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            str(plan_path),
            str(helper),
            scenario,
            str(count),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{scenario}: the child failed\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    for dump in sorted(work_dir.glob(f"callgrind.{scenario}.out*")):
        text = dump.read_text(errors="replace")
        if f"Trigger: Client Request: {scenario}" in text:
            match = re.search(r"^totals: (\d+)", text, re.M)
            if match:
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(dump, keep / f"callgrind.{scenario}.out")
                return int(match.group(1))
    raise RuntimeError(f"{scenario}: no dump of the counted part")


# -- the child: builds the app, warms up, counts `count` runs of one scenario --------------------


def child(plan_path: Path, helper_path: Path, scenario: str, count: int) -> None:
    from ciam_webapp import Settings, create_app

    plan = json.loads(plan_path.read_text())
    helper = ctypes.CDLL(str(helper_path))
    if scenario == "bare":
        from benchmarks.bare_app import create_bare_app

        app = create_bare_app()
    else:
        app = create_app(Settings.from_mapping(plan["settings"]))
    client = app.test_client(use_cookies=False)
    base_url = plan["app_base_url"]
    signed_in = {"Cookie": plan["signed_in_cookie"]}

    def page(path: str, headers: dict[str, str] | None = None) -> Any:
        def view() -> None:
            response = client.get(path, headers=headers or {}, base_url=base_url)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")

        return view

    if scenario == "outbound":
        services = app.extensions["ciam"]
        url = services.entra.metadata.url

        def run() -> None:
            services.entra.http.get(url).raise_for_status()

    elif scenario == "msal_app":
        import msal

        entra = app.extensions["ciam"].entra

        def run() -> None:
            entra._msal_app(msal.SerializableTokenCache())

    elif scenario == "callback":
        pending = iter(plan["callbacks"])

        def run() -> None:
            callback = next(pending)
            path = callback["url"][len(base_url) :]
            response = client.get(path, headers={"Cookie": callback["cookie"]}, base_url=base_url)
            if response.status_code not in (302, 303) or "/auth/" in response.headers.get("Location", "/auth/"):
                raise RuntimeError(f"callback answered {response.status_code} {response.headers.get('Location')}")

    else:
        run = {
            "home": page("/"),
            "claims": page("/claims", signed_in),
            "profile": page("/profile", signed_in),
            "bare": page("/page"),
        }[scenario]

    for _ in range(WARMUP):
        run()
    helper.cg_start()
    for _ in range(count):
        run()
    helper.cg_stop(scenario.encode())


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--json", type=Path, help="also write {scenario: instructions per request} here")
    parser.add_argument("--dumps", type=Path, help="keep each scenario's callgrind dump here (for callgrind_annotate)")
    args = parser.parse_args()
    scenarios = args.scenarios or list(SCENARIOS)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    figures: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="ciam-instructions-") as tmp:
        work_dir = Path(tmp)
        helper = build_helper(work_dir)
        emulator, plan = prepare(work_dir, scenarios)
        try:
            plan_path = work_dir / "plan.json"
            plan_path.write_text(json.dumps(plan))
            # Two children at a time (the machine's two cores): counts do not depend on what runs beside them.
            def counted(scenario: str) -> tuple[str, int, int]:
                count = COUNTS.get(scenario, DEFAULT_COUNT)
                return scenario, count, count_in_child(work_dir, helper, plan_path, scenario, count, args.dumps)

            with ThreadPoolExecutor(max_workers=2) as pool:
                for scenario, count, total in pool.map(counted, scenarios):
                    figures[scenario] = total // count
                    print(f"{scenario:10s} {total // count:>12,} instructions per request ({count} counted)")
        finally:
            emulator.stop()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
