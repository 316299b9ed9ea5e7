"""Turning the measurements into a printed table, benchmarks/results.md and the throughput plot."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import api_mode, issue16
from .api_mode import ApiModeResults
from .callback_load import CallbackLoadResult
from .inprocess import CallbackCpu, Distribution, RoundTrips, SessionSize
from .load import LoadResult

LIBRARIES = (
    "flask",
    "werkzeug",
    "jinja2",
    "gunicorn",
    "msal",
    "pyjwt",
    "cryptography",
    "requests",
    "urllib3",
    "msgspec",
    "flask-wtf",
    "flask-limiter",
    "redis",
)

# Subjects in the order tables and the plot show them.
SIGNED_IN_PROFILE = "signed-in profile"
SIGNED_IN_CLAIMS = "signed-in claims"
HOME = "home (anonymous)"
BARE_HELLO = "bare Flask hello"
BARE_PAGE = "bare Flask template page"
SUBJECTS = (SIGNED_IN_PROFILE, SIGNED_IN_CLAIMS, HOME, BARE_PAGE, BARE_HELLO)

# The targets of issue 8.
THROUGHPUT_RATIO_TARGET = 0.8
CALLBACK_CPU_P50_TARGET_MS = 5.0
SESSION_BYTES_TARGET = 8 * 1024

# The figures of the same bench on the session layer before its rewrite (Flask-Session over cachelib).
BASELINE_PATH = Path(__file__).resolve().parent / "baseline-before-sessions.json"
# The pages the before/after tables compare.
COMPARED_PAGES = (SIGNED_IN_CLAIMS, SIGNED_IN_PROFILE)


class BaselineError(ValueError):
    """The baseline file is missing, unreadable or lacks a figure the report needs."""


@dataclass(frozen=True)
class BaselineCell:
    subject: str
    concurrency: int
    req_per_s: float
    ratio_to_bare_page: float
    app_cpu_ms_per_req: float
    cpu_ratio_to_bare_page: float


@dataclass(frozen=True)
class Baseline:
    """`make bench` figures measured on an earlier commit, to set the new run's figures against."""

    commit: str
    about: str
    load_average: tuple[tuple[float, ...], tuple[float, ...]] | None
    cells: list[BaselineCell]
    page_cpu_p50_ms: dict[str, float]
    callback_cpu_p50_ms: float | None

    def cell(self, subject: str, concurrency: int) -> BaselineCell | None:
        return next((c for c in self.cells if c.subject == subject and c.concurrency == concurrency), None)

    def concurrencies(self) -> list[int]:
        return sorted({c.concurrency for c in self.cells})


def load_baseline(path: Path = BASELINE_PATH) -> Baseline:
    """Read the baseline; a file that is there but wrong is an error that names what is wrong."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise BaselineError(f"{path.name}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise BaselineError(f"{path.name}: not JSON ({exc})") from None
    try:
        cells = [
            BaselineCell(
                subject=str(row["subject"]),
                concurrency=int(row["concurrency"]),
                req_per_s=_finite(row["req_per_s"]),
                ratio_to_bare_page=_finite(row["ratio_to_bare_page"]),
                app_cpu_ms_per_req=_finite(row["app_cpu_ms_per_req"]),
                cpu_ratio_to_bare_page=_finite(row["cpu_ratio_to_bare_page"]),
            )
            for row in data["throughput"]
        ]
        commit = str(data["commit"])
        load = data.get("load_average")
        load_average = (tuple(map(float, load["start"])), tuple(map(float, load["end"]))) if load else None
        page_cpu = {str(row["page"]): _finite(row["p50_ms"]) for row in data.get("page_cpu_in_process", [])}
        callback = data.get("callback_cpu")
        callback_p50 = _finite(callback["app_cpu"]["p50_ms"]) if callback else None
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{path.name}: a figure is missing or not a number ({type(exc).__name__}: {exc})") from None
    missing = [
        f"{page} at {concurrency}"
        for page in COMPARED_PAGES
        for concurrency in {c.concurrency for c in cells}
        if not any(c.subject == page and c.concurrency == concurrency for c in cells)
    ]
    if not cells or missing:
        raise BaselineError(f"{path.name}: no throughput row for {', '.join(missing) or 'any page'}")
    return Baseline(
        commit=commit,
        about=str(data.get("about", "")),
        load_average=load_average,
        cells=cells,
        page_cpu_p50_ms=page_cpu,
        callback_cpu_p50_ms=callback_p50,
    )


def _finite(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


@dataclass
class Results:
    server_options: dict[str, Any]
    seconds_per_run: float
    load: list[LoadResult] = field(default_factory=list)
    callback: CallbackCpu | None = None
    page_cpu: dict[str, Distribution] = field(default_factory=dict)
    sessions: list[SessionSize] = field(default_factory=list)
    session_notes: list[str] = field(default_factory=list)
    round_trips: list[RoundTrips] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    rounds: int = 1
    load_average: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    baseline: Baseline | None = None
    api_mode: ApiModeResults | None = None
    # Issue 16: instructions per request (callgrind), before the fixes and now; the server comparison.
    instructions: dict[str, int] | None = None
    instructions_before: dict[str, int] | None = None
    servers: dict[str, Any] | None = None
    # The sign-in callback on the served app under load (benchmarks/callback_load.py), best round per concurrency.
    callback_load: list[CallbackLoadResult] = field(default_factory=list)

    def keep_best(self, result: LoadResult) -> None:
        """Keep `result` unless the same cell already has a faster one."""
        current = self.load_for(result.subject, result.concurrency)
        if current is None:
            self.load.append(result)
        elif result.throughput > current.throughput:
            self.load[self.load.index(current)] = result

    def load_for(self, subject: str, concurrency: int) -> LoadResult | None:
        return next((r for r in self.load if r.subject == subject and r.concurrency == concurrency), None)

    def concurrencies(self) -> list[int]:
        return sorted({r.concurrency for r in self.load})

    def cpu_ratio(self, subject: str, baseline: str, concurrency: int) -> float | None:
        """Baseline's app CPU per request over the subject's: the throughput ratio if both were CPU-bound
        on cores of their own. Less sensitive than req/s to other work on the machine."""
        measured, base = self.load_for(subject, concurrency), self.load_for(baseline, concurrency)
        if measured is None or base is None or measured.server_cpu_ms_per_request <= 0:
            return None
        return base.server_cpu_ms_per_request / measured.server_cpu_ms_per_request

    def ratio(self, subject: str, baseline: str, concurrency: int) -> float | None:
        measured, base = self.load_for(subject, concurrency), self.load_for(baseline, concurrency)
        if measured is None or base is None or not base.throughput:
            return None
        return measured.throughput / base.throughput


# -- environment ----------------------------------------------------------------------------------


def machine() -> list[tuple[str, str]]:
    rows = [
        ("CPU", _cpu_model()),
        ("cores (os.cpu_count / usable)", f"{os.cpu_count()} / {len(os.sched_getaffinity(0))}"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("wrk", _command_version(["wrk", "--version"])),
        ("redis-server", _command_version(["redis-server", "--version"])),
    ]
    for name in LIBRARIES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command_version(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    output = (completed.stdout or completed.stderr).strip().splitlines()
    return output[0] if output else "unknown"


# -- tables ---------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ratio_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def throughput_table(results: Results) -> list[str]:
    header = [
        "subject",
        "conc.",
        "req/s",
        "p50 ms",
        "p99 ms",
        "× bare page",
        "× hello",
        "app CPU ms/req",
        "CPU × bare page",
        "emulator CPU ms/req",
        "non-200",
    ]
    rows = []
    for concurrency in results.concurrencies():
        for subject in SUBJECTS:
            result = results.load_for(subject, concurrency)
            if result is None:
                continue
            rows.append(
                [
                    subject,
                    str(concurrency),
                    f"{result.throughput:,.0f}",
                    f"{result.p50_ms:.1f}",
                    f"{result.p99_ms:.1f}",
                    _ratio_text(results.ratio(subject, BARE_PAGE, concurrency)),
                    _ratio_text(results.ratio(subject, BARE_HELLO, concurrency)),
                    f"{result.server_cpu_ms_per_request:.2f}",
                    _ratio_text(results.cpu_ratio(subject, BARE_PAGE, concurrency)),
                    f"{result.emulator_cpu_ms_per_request:.2f}",
                    str(result.non200 + result.socket_errors),
                ]
            )
    return _table(header, rows)


def targets(results: Results) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of issue 8."""
    rows: list[tuple[str, str, bool | None]] = []
    for subject in (SIGNED_IN_PROFILE, SIGNED_IN_CLAIMS):
        ratios = {c: results.ratio(subject, BARE_PAGE, c) for c in results.concurrencies()}
        known = [r for r in ratios.values() if r is not None]
        measured = ", ".join(f"{r:.2f}× at {c}" for c, r in ratios.items() if r is not None)
        rows.append(
            (
                f"{subject} throughput ≥ {THROUGHPUT_RATIO_TARGET}× bare template page",
                measured or "not measured",
                (min(known) >= THROUGHPUT_RATIO_TARGET) if known else None,
            )
        )
    if results.callback is not None:
        p50 = results.callback.cpu.p50_ms
        rows.append(
            (
                f"sign-in callback CPU p50 ≤ {CALLBACK_CPU_P50_TARGET_MS:g} ms",
                f"{p50:.2f} ms (p99 {results.callback.cpu.p99_ms:.2f} ms)",
                p50 <= CALLBACK_CPU_P50_TARGET_MS,
            )
        )
    for size in results.sessions:
        rows.append(
            (
                f"session ≤ 8 KiB per user ({size.store})",
                f"{size.bytes_per_user_max:,} bytes (max of {size.users} users)",
                size.bytes_per_user_max <= SESSION_BYTES_TARGET,
            )
        )
    sign_ins = [r for r in results.round_trips if r.operation.startswith("sign-in")]
    views = [r for r in results.round_trips if "view" in r.operation]
    if sign_ins:
        rows.append(
            (
                "one token call per sign-in",
                ", ".join(f"{r.token_calls} ({r.operation})" for r in sign_ins),
                all(r.token_calls == 1 for r in sign_ins),
            )
        )
    if views:
        rows.append(
            (
                "no token call for a page view while the token is valid",
                ", ".join(f"{r.token_calls} ({r.operation})" for r in views),
                all(r.token_calls == 0 for r in views),
            )
        )
    return rows


# -- before and after the session rewrite ---------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _landing(ratio: float | None) -> str:
    if ratio is None:
        return "not measured"
    if ratio >= THROUGHPUT_RATIO_TARGET:
        return "met"
    return f"not met ({THROUGHPUT_RATIO_TARGET - ratio:.2f}× short)"


def before_after_rows(results: Results) -> list[list[str]]:
    """Per compared page and concurrency: the baseline's figures and this run's, and where this run lands."""
    baseline = results.baseline
    if baseline is None:
        return []
    rows = []
    for page in COMPARED_PAGES:
        for concurrency in sorted(set(baseline.concurrencies()) | set(results.concurrencies())):
            before = baseline.cell(page, concurrency)
            after = results.load_for(page, concurrency)
            ratio_after = results.ratio(page, BARE_PAGE, concurrency)
            rows.append(
                [
                    page,
                    str(concurrency),
                    _rate(before.req_per_s if before else None),
                    _rate(after.throughput if after else None),
                    _ms(before.app_cpu_ms_per_req if before else None),
                    _ms(after.server_cpu_ms_per_request if after else None),
                    _ratio_text(before.ratio_to_bare_page if before else None),
                    _ratio_text(ratio_after),
                    _ratio_text(before.cpu_ratio_to_bare_page if before else None),
                    _ratio_text(results.cpu_ratio(page, BARE_PAGE, concurrency)),
                    _landing(ratio_after),
                ]
            )
    return rows


BEFORE_AFTER_HEADER = [
    "page",
    "conc.",
    "req/s before",
    "req/s after",
    "app CPU ms/req before",
    "app CPU ms/req after",
    "× bare page before",
    "× bare page after",
    "CPU × bare page before",
    "CPU × bare page after",
    f"after: ≥ {THROUGHPUT_RATIO_TARGET}× bare page?",
]


def before_after_table(results: Results) -> list[str]:
    rows = before_after_rows(results)
    return _table(BEFORE_AFTER_HEADER, rows) if rows else []


def in_process_before_after_table(results: Results) -> list[str]:
    """App CPU p50 per request, in-process (one request at a time), before and after."""
    baseline = results.baseline
    if baseline is None:
        return []
    rows = []
    for page in (*COMPARED_PAGES, BARE_PAGE):
        after = results.page_cpu.get(page)
        rows.append(
            [f"{page} (in-process)", _ms(baseline.page_cpu_p50_ms.get(page)), _ms(after.p50_ms if after else None)]
        )
    callback_after = results.callback.cpu.p50_ms if results.callback is not None else None
    rows.append(["sign-in callback (in-process)", _ms(baseline.callback_cpu_p50_ms), _ms(callback_after)])
    return _table(["app CPU p50", "ms before", "ms after"], rows)


def before_after_section(results: Results) -> list[str]:
    baseline = results.baseline
    if baseline is None:
        return []
    load = ""
    if baseline.load_average is not None:
        start, end = baseline.load_average
        load = f" (load average {start[0]:.2f} when that run started, {end[0]:.2f} when it ended)"
    return [
        "## Before and after the session rewrite",
        "",
        f"**Before**: `make bench` on commit `{baseline.commit}`, the session layer before its rewrite "
        "(Flask-Session over cachelib; every request rewrote its session), on this 2-core machine"
        f"{load}; its figures are in `benchmarks/baseline-before-sessions.json`. **After**: this run. "
        "Each ratio compares a page with the bare template page measured in the same run, so ratios "
        "carry across runs better than req/s, and app CPU per request is the figure other work on the "
        f"machine disturbs least. The target is ≥ {THROUGHPUT_RATIO_TARGET}× the bare page's throughput.",
        "",
        *before_after_table(results),
        "",
        *in_process_before_after_table(results),
        "",
        "The in-process figures before were taken on a thread-per-request server, which adds about 0.1 ms "
        "to any page; this run uses one persistent server thread, as gunicorn does. The before run's app CPU "
        "per request could also be off in a cell where a recycled worker's CPU fell out of the reading, a "
        "race fixed since (profiling notes below).",
        "",
    ]


def _met(value: bool | None) -> str:
    return "not measured" if value is None else ("**met**" if value else "**not met**")


def markdown(results: Results, notes: str, *, plot_link: str = "../docs/bench-throughput.png") -> str:
    lines = [
        "# `make bench` results",
        "",
        "Written by `benchmarks/run.py` (`make bench`); every figure below comes from the run that wrote",
        "this file. The hand-written section at the end (profiling and fixes) comes from",
        "`benchmarks/profiling-notes.md`.",
        "",
        "## Targets",
        "",
        *_table(["target", "measured", "result"], [[t, m, _met(ok)] for t, m, ok in targets(results)]),
        "",
        *issue16.targets_section(results),
        *issue16.instructions_section(results),
        *before_after_section(results),
        "## Throughput and latency",
        "",
        f"wrk (a separate C process) on loopback, {results.seconds_per_run:g} s per cell after a warm-up; "
        "every subject served as `ciam-webapp serve` serves the app by default (`ciam_webapp.gunicorn_app`) with "
        + ", ".join(f"`{k}={v}`" for k, v in results.server_options.items())
        + f". {results.rounds} rounds interleave every subject at every level and each cell shows its best round "
        "(other work on the machine can only slow a cell down), so every ratio compares cells measured in "
        "the same rounds of the same run. The signed-in pages rotate over the session cookies of several customers; "
        "the profile page calls Graph `/me` on the emulator (which shares the same cores) for every view. "
        "`app CPU ms/req` is the user+system CPU of the subject's server processes divided by the "
        "requests served, `emulator CPU ms/req` the same for the emulator process.",
        "",
        *throughput_table(results),
        "",
        f"![Throughput against concurrency]({plot_link})",
        "",
    ]
    lines += _wrk_ceiling(results)
    lines += issue16.callback_load_section(results)
    if results.callback is not None:
        cpu, wall = results.callback.cpu, results.callback.wall
        lines += [
            "## Sign-in callback, app CPU per request",
            "",
            f"Measured in-process over {cpu.count} sign-ins (after a warm-up) with the thread CPU clock around "
            "the app's handling of `/auth/redirect`: code redemption through MSAL (the emulator answers it in "
            "another process, so its time is excluded), ID token validation, the new session written to the "
            "embedded store.",
            "",
            *_table(
                ["", "p50 ms", "p99 ms", "mean ms"],
                [
                    ["app CPU", f"{cpu.p50_ms:.2f}", f"{cpu.p99_ms:.2f}", f"{cpu.mean_ms:.2f}"],
                    [
                        "wall time (incl. the emulator)",
                        f"{wall.p50_ms:.2f}",
                        f"{wall.p99_ms:.2f}",
                        f"{wall.mean_ms:.2f}",
                    ],
                ],
            ),
            "",
        ]
    if results.page_cpu:
        lines += [
            "## App CPU per page view, in-process",
            "",
            "One request at a time on one persistent server thread (as gunicorn's gthread workers keep theirs), "
            "thread CPU clock around the app's handling (same method as the callback); the bare page is the "
            "baseline app's `/page` measured the same way.",
            "",
            *_table(
                ["page", "requests", "p50 ms", "p99 ms", "mean ms"],
                [
                    [name, str(d.count), f"{d.p50_ms:.3f}", f"{d.p99_ms:.3f}", f"{d.mean_ms:.3f}"]
                    for name, d in results.page_cpu.items()
                ],
            ),
            "",
        ]
    if results.sessions or results.session_notes:
        lines += [
            "## Bytes stored per signed-in user",
            "",
            "After sign-in and one profile view (the CSRF token is then in the session too), read from the "
            "store itself: the embedded store's rows of the session in `session_fields` (SQLite), the "
            "session's hash in Redis (its `v:` entries). `bytes` counts each field's name and stored value "
            "(msgpack), the same measure for both stores; per-field versions, the row keys and the engines' own "
            "overhead are not in it. Redis' `MEMORY USAGE` of the whole hash, which counts them, is shown beside it.",
            "",
            *_table(
                [
                    "store",
                    "users",
                    "mean bytes",
                    "max bytes",
                    "of which sealed token cache",
                    "store's own count (max)",
                    "session fields",
                ],
                [
                    [
                        s.store,
                        str(s.users),
                        f"{s.bytes_per_user_mean:,.0f}",
                        f"{s.bytes_per_user_max:,}",
                        f"{s.sealed_token_cache_bytes:,}",
                        "—" if s.store_reported_bytes_max is None else f"{s.store_reported_bytes_max:,}",
                        ", ".join(f"`{k}`" for k in s.keys),
                    ]
                    for s in results.sessions
                ],
            ),
            "",
            *[f"- {note}" for note in results.session_notes],
            "",
        ]
    if results.round_trips:
        lines += [
            "## Round trips to the tenant and Graph per operation",
            "",
            "From the emulator's own counters (reset before each operation). Edits are the whole journey: "
            "open the form (with the MFA pages when the tenant asks), save, land on the profile page.",
            "",
            *_table(
                [
                    "operation",
                    "authorize",
                    "token (code)",
                    "token (refresh)",
                    "discovery",
                    "JWKS",
                    "Graph GET",
                    "Graph PATCH",
                ],
                [
                    [
                        r.operation,
                        str(r.authorize),
                        str(r.token_code),
                        str(r.token_refresh),
                        str(r.discovery),
                        str(r.jwks),
                        str(r.graph_get),
                        str(r.graph_patch),
                    ]
                    for r in results.round_trips
                ],
            ),
            "",
        ]
    if results.api_mode is not None:
        lines += api_mode.markdown(results.api_mode)
    lines += issue16.servers_section(results)
    lines += ["## Machine", "", *_table(["", ""], [[k, f"`{v}`"] for k, v in machine()]), ""]
    lines += [f"Whole run: {results.elapsed_seconds:.0f} s.", ""]
    if results.load_average is not None:
        before, after = results.load_average
        lines += [
            f"Load average (1, 5, 15 min) when the run started: {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; "
            f"when it ended: {after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f}. Above the core count means other "
            "work shared the machine: req/s and latencies are then lower and noisier than on an idle machine; the "
            "CPU-per-request figures much less so.",
            "",
        ]
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines)


def _wrk_ceiling(results: Results) -> list[str]:
    """wrk's own CPU against the servers': evidence that the load generator is not the bottleneck."""
    if not results.load:
        return []
    busiest = max(results.load, key=lambda r: r.throughput)
    wrk_share = busiest.wrk_cpu_seconds / busiest.seconds if busiest.seconds else 0.0
    return [
        f"Load generator headroom: in the fastest cell ({busiest.subject} at concurrency {busiest.concurrency}, "
        f"{busiest.throughput:,.0f} req/s) wrk used {wrk_share:.0%} of one core, while the server used "
        f"{busiest.server_cpu_ms_per_request * busiest.throughput / 1000:.0%} of one core "
        f"({len(os.sched_getaffinity(0))} usable cores in all, shared by wrk, the server and the emulator).",
        "",
    ]


def print_summary(results: Results) -> None:
    print()
    print("\n".join(throughput_table(results)))
    print()
    print("\n".join(issue16.callback_load_section(results)))
    for target, measured, ok in targets(results):
        print(f"- {target}: {measured} -> {_met(ok).strip('*')}")
    print("\n".join(issue16.targets_section(results)))
    print("\n".join(issue16.instructions_section(results)))
    print("\n".join(issue16.servers_section(results)))
    if results.baseline is not None:
        print(f"\nBefore (commit {results.baseline.commit}, the old session layer) and after (this run):\n")
        print("\n".join(before_after_table(results)))
        print()
        print("\n".join(in_process_before_after_table(results)))
    if results.api_mode is not None:
        print("\nThe profile edit, API mode next to direct mode:\n")
        print("\n".join(api_mode.table(results.api_mode)))
    sys.stdout.flush()


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9.5, 4.5), dpi=120)
    concurrencies = results.concurrencies()
    for subject in SUBJECTS:
        points = [(c, results.load_for(subject, c)) for c in concurrencies]
        points = [(c, r.throughput) for c, r in points if r is not None]
        if points:
            line = axes.plot([c for c, _ in points], [t for _, t in points], marker="o", label=subject)[0]
            before = results.baseline.cells if results.baseline is not None and subject in COMPARED_PAGES else []
            before_points = sorted((c.concurrency, c.req_per_s) for c in before if c.subject == subject)
            if before_points:
                axes.plot(
                    [c for c, _ in before_points],
                    [t for _, t in before_points],
                    marker="o",
                    linestyle="--",
                    alpha=0.5,
                    color=line.get_color(),
                    label=f"{subject}, before ({results.baseline.commit})",  # type: ignore[union-attr]
                )
    axes.set_xscale("log", base=2)
    axes.set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes.set_xlabel("concurrent connections (wrk)")
    axes.set_ylabel("requests per second")
    axes.set_ylim(bottom=0)
    axes.set_title("Throughput against concurrency (gunicorn, same options for every subject)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # outside: no line hidden
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
