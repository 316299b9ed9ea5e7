"""The report's sections for issue 16: its targets (CPU per request per page, the callback, the
recycle stall), instructions per request before and after the fixes, and the server comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import Results

# Instructions per request (benchmarks/instructions.py) on the code before issue 16's fixes.
INSTRUCTIONS_BEFORE_PATH = Path(__file__).resolve().parent / "instructions-before.json"

HOME_CPU_TARGET_MS = 0.3
CLAIMS_CPU_TARGET_MS = 0.5
PROFILE_CPU_TARGET_MS = 1.5
CALLBACK_CPU_TARGET_MS = 3.0
STALL_RATIO_TARGET = 3.0
WHERE = "where the time goes: profiling notes below"


def load_instructions_before(path: Path = INSTRUCTIONS_BEFORE_PATH) -> dict[str, int] | None:
    if not path.exists():
        return None
    return {str(k): int(v) for k, v in json.loads(path.read_text())["instructions_per_request"].items()}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _verdict(measured: float | None, limit: float, unit: str = " ms") -> str:
    if measured is None:
        return "not measured"
    if measured <= limit:
        return "**met**"
    return f"**not met**: {measured - limit:.2f}{unit} over ({WHERE})"


def _cpu_cells(results: Results, subject: str) -> tuple[str, float | None]:
    """App CPU per request as served (`ciam-webapp serve`, gunicorn gthread) at each concurrency, and the
    worst of them."""
    cells = [(c, results.load_for(subject, c)) for c in results.concurrencies()]
    # A cell with refusals (the outbound bulkhead's fast 503s) would flatter the page: left out.
    known = [(c, r.server_cpu_ms_per_request) for c, r in cells if r is not None and not r.non200 + r.socket_errors]
    refused = [f"{r.non200 + r.socket_errors:,} non-200 at {c}" for c, r in cells if r and r.non200 + r.socket_errors]
    if not known:
        return "not measured" + (f" ({', '.join(refused)})" if refused else ""), None
    text = ", ".join(f"{cpu:.2f} ms at {c}" for c, cpu in known)
    if refused:
        text += f"; left out: {', '.join(refused)}"
    in_process = results.page_cpu.get(subject)
    if in_process is not None:
        text += f" (in-process p50 {in_process.p50_ms:.2f} ms)"
    return text, max(cpu for _, cpu in known)


def targets_section(results: Results) -> list[str]:
    from .report import BARE_PAGE, HOME, SIGNED_IN_CLAIMS, SIGNED_IN_PROFILE

    rows: list[list[str]] = []
    for subject, limit in ((HOME, HOME_CPU_TARGET_MS), (SIGNED_IN_CLAIMS, CLAIMS_CPU_TARGET_MS)):
        text, worst = _cpu_cells(results, subject)
        rows.append([f"{subject}: app CPU ≤ {limit:g} ms per request", text, _verdict(worst, limit)])
    ratios = [(c, results.ratio(SIGNED_IN_CLAIMS, BARE_PAGE, c)) for c in results.concurrencies()]
    known = [(c, r) for c, r in ratios if r is not None]
    rows.append(
        [
            "signed-in claims: throughput ≥ 0.8× the bare Flask template page",
            ", ".join(f"{r:.2f}× at {c}" for c, r in known) or "not measured",
            ("**met**" if min(r for _, r in known) >= 0.8 else f"**not met** ({WHERE})") if known else "not measured",
        ]
    )
    text, worst = _cpu_cells(results, SIGNED_IN_PROFILE)
    rows.append(
        [
            f"{SIGNED_IN_PROFILE}: app CPU ≤ {PROFILE_CPU_TARGET_MS:g} ms per request, tenant's CPU not counted",
            text,
            _verdict(worst, PROFILE_CPU_TARGET_MS),
        ]
    )
    if results.callback is not None:
        p50 = results.callback.cpu.p50_ms
        rows.append(
            [
                f"sign-in callback: app CPU p50 ≤ {CALLBACK_CPU_TARGET_MS:g} ms",
                f"{p50:.2f} ms (p99 {results.callback.cpu.p99_ms:.2f} ms) in-process" + _callback_under_load(results),
                _verdict(p50, CALLBACK_CPU_TARGET_MS),
            ]
        )
    stall = (results.servers or {}).get("stall", {})
    for workers, figures in sorted(stall.items(), reverse=True):
        ratio = figures["p99_over_p50"]
        rows.append(
            [
                f"no stall from recycling: p99 ≤ 3× p50 at 8 connections, whole run ({workers} worker(s))",
                f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms = {ratio:.1f}× over "
                f"{figures['requests']:,} requests (~{figures['recycles']} gunicorn recycles, max_requests)",
                "**met**" if ratio <= STALL_RATIO_TARGET else f"**not met** ({WHERE})",
            ]
        )
    rows.append(
        [
            "no regression in session size, round trips or security checks",
            "session size and round trips: the table above and the sections below; security: `make test`",
            "see those",
        ]
    )
    return ["## Issue 16 targets", "", *_table(["target", "measured", "result"], rows), ""]


def _callback_under_load(results: Results) -> str:
    """The callback's app CPU per request as served, beside the in-process figure the target is set on."""
    cells = sorted(results.callback_load, key=lambda cell: cell.concurrency)
    if not cells:
        return ""
    measured = ", ".join(
        f"{cell.app_cpu_ms_per_request:.2f} ms at {cell.concurrency}"
        + (f" ({cell.failures:,} failed)" if cell.failures else "")
        for cell in cells
    )
    return f"; under load (mean, all server processes): {measured}"


def callback_load_section(results: Results) -> list[str]:
    """The sign-in callback on the served app at each concurrency, set against the bare template page."""
    from .report import BARE_PAGE

    if not results.callback_load:
        return []
    rows = []
    for cell in sorted(results.callback_load, key=lambda c: c.concurrency):
        bare = results.load_for(BARE_PAGE, cell.concurrency)
        ratio = f"{cell.throughput / bare.throughput:.2f}×" if bare is not None and bare.throughput else "—"
        rows.append(
            [
                str(cell.concurrency),
                f"{cell.requests:,}",
                f"{cell.throughput:,.0f}",
                f"{cell.p50_ms:.1f}",
                f"{cell.p99_ms:.1f}",
                f"{cell.app_cpu_ms_per_request:.2f}",
                f"{cell.emulator_cpu_ms_per_request:.2f}",
                str(cell.failures),
                ratio,
            ]
        )
    header = [
        "conc.",
        "callbacks",
        "req/s",
        "p50 ms",
        "p99 ms",
        "app CPU ms/req",
        "emulator CPU ms/req",
        "failures",
        "× bare page req/s",
    ]
    return [
        "## Sign-in callback under load",
        "",
        "`benchmarks/callback_load.py`: the served app above (same server, same rounds, best round per "
        "concurrency) answers `/auth/redirect` for browsers coming back from the tenant, each with a code "
        "of its own and the sign-in-in-progress cookie of the browser that started it, prepared just before "
        "the cell (codes are good once and expire). The load generator is Python threads, one kept-alive "
        "connection each, on the same 2 cores: its own CPU is not in the app's figure, but it takes cores "
        "from the app and the emulator, so req/s is lower than wrk would show. Each callback redeems its "
        "code at the emulator (a TLS call on a kept-alive connection), validates the ID token and writes a "
        "new session. A failure is any answer other than a 303 into the app. `× bare page` is the "
        "callback's req/s over the bare template page's at the same concurrency in this run (wrk).",
        "",
        *_table(header, rows),
        "",
    ]


def instructions_section(results: Results) -> list[str]:
    after = results.instructions
    if not after:
        return []
    before = results.instructions_before or {}
    rows = []
    for scenario, count in after.items():
        old = before.get(scenario)
        change = f"{(count - old) / old:+.0%}" if old else "—"
        rows.append([f"`{scenario}`", f"{old:,}" if old else "—", f"{count:,}", change])
    return [
        "## Instructions per request (callgrind)",
        "",
        "`benchmarks/instructions.py`: each scenario in a child process under `valgrind --tool=callgrind`, "
        "counting switched on only around the counted requests (after the app is built and warmed up); "
        "the emulator runs outside valgrind. Instruction counts do not move with other work on the machine, "
        "so they prove a fix where CPU times are noisy. `outbound` is one kept-alive HTTPS GET through the "
        "app's tenant session, `msal_app` one MSAL application object around a user's cache; the pages go "
        "through Flask's test client (no server or socket work). Before: "
        "the code before issue 16's fixes (`benchmarks/instructions-before.json`).",
        "",
        *_table(["scenario", "before", "now", "change"], rows),
        "",
    ]


def servers_section(results: Results) -> list[str]:
    servers = results.servers
    if not servers or not servers.get("cells"):
        return []
    rows = [
        [
            cell["server"],
            cell["page"],
            str(cell["concurrency"]),
            f"{cell['requests'] / cell['seconds']:,.0f}" if cell["seconds"] else "—",
            f"{cell['p50_ms']:.1f}",
            f"{cell['p99_ms']:.1f}",
            f"{cell['server_cpu_ms_per_request']:.2f}",
            str(cell["non200"] + cell["socket_errors"]),
        ]
        for cell in sorted(servers["cells"], key=lambda c: (c["page"], c["concurrency"], c["server"]))
    ]
    return [
        "## The same app on three WSGI servers",
        "",
        "`benchmarks/servers.py`: the real app, configured alike, on gunicorn `gthread` (what `ciam-webapp "
        "serve` runs by default: 2 workers × 4 threads), gunicorn `sync` (2 workers) and granian (`--server "
        "granian`: 2 workers, WSGI, 4 blocking threads); wrk as above, rounds interleaved, best round per cell; "
        "CPU is all the server's processes. Why the default stays gunicorn gthread: README, Performance.",
        "",
        *_table(["server", "page", "conc.", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "non-200"], rows),
        "",
        *_granian_restart_line(servers.get("granian_restart")),
    ]


def _granian_restart_line(figures: dict[str, Any] | None) -> list[str]:
    """granian's stall while it restarts its workers, beside the default's recycle stall in the targets."""
    if not figures:
        return []
    bad = figures["non200"] + figures["socket_errors"]
    return [
        f"For comparison, granian ({figures['workers']} workers) restarting its workers (SIGHUP, "
        f"{figures['recycles']} restart(s)) under the recycle-stall run: p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms = {figures['p99_over_p50']:.1f}× over {figures['requests']:,} requests, "
        f"{bad} non-200 or broken.",
        "",
    ]


def dump(results: Results) -> dict[str, Any]:
    """What this run measured for issue 16, for a later run to compare with."""
    return {"instructions_per_request": results.instructions or {}}
