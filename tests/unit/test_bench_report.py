"""`make bench`'s own logic, without running the bench: the committed before-figures, the before/after
table the report writes from them, how many bytes a stored session takes in each store, and the CPU
reading of a gunicorn master and its workers."""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path

import pytest
import redis

from benchmarks import load, report
from benchmarks.inprocess import redis_session_bytes, sqlite_session_bytes
from benchmarks.load import LoadResult, process_tree_cpu_seconds
from benchmarks.report import (
    BARE_PAGE,
    SIGNED_IN_CLAIMS,
    SIGNED_IN_PROFILE,
    BaselineError,
    Results,
    load_baseline,
)
from ciam_webapp.sessions import RedisSessionStore, SqliteSessionStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def load_result(subject: str, concurrency: int, req_per_s: float, cpu_ms: float) -> LoadResult:
    return LoadResult(
        subject=subject,
        concurrency=concurrency,
        requests=int(req_per_s * 5),
        seconds=5.0,
        non200=0,
        socket_errors=0,
        bytes_per_response=3000.0,
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=3.0,
        server_cpu_ms_per_request=cpu_ms,
        emulator_cpu_ms_per_request=0.0,
        wrk_cpu_seconds=0.1,
    )


def _run(baseline: report.Baseline | None) -> Results:
    results = Results(server_options={}, seconds_per_run=5.0, baseline=baseline)
    for concurrency in (1, 8, 32):
        results.load += [
            load_result(BARE_PAGE, concurrency, 1000, 1.0),
            load_result(SIGNED_IN_CLAIMS, concurrency, 850 if concurrency == 8 else 600, 1.25),
            load_result(SIGNED_IN_PROFILE, concurrency, 200, 5.0),
        ]
    return results


# -- the committed baseline ------------------------------------------------------------------------


def test_the_committed_baseline_holds_the_old_layers_claims_and_profile_figures():
    baseline = load_baseline()
    assert baseline.commit == "6b393ba"
    assert baseline.concurrencies() == [1, 8, 32]
    claims = {c: baseline.cell(SIGNED_IN_CLAIMS, c) for c in (1, 8, 32)}
    # As `make bench` measured them on the old session layer.
    assert [(round(cell.req_per_s), cell.ratio_to_bare_page, cell.app_cpu_ms_per_req) for cell in claims.values()] == [
        (483, 0.51, 1.97),
        (331, 0.30, 3.68),
        (566, 0.50, 2.83),
    ]
    assert baseline.cell(SIGNED_IN_PROFILE, 8).app_cpu_ms_per_req == 6.53
    assert baseline.page_cpu_p50_ms[SIGNED_IN_CLAIMS] == 2.614
    assert baseline.callback_cpu_p50_ms == 7.5


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not JSON"),
        (json.dumps({"commit": "abc"}), "missing"),
        (json.dumps({"commit": "abc", "throughput": []}), "no throughput row"),
        (
            json.dumps(
                {
                    "commit": "abc",
                    "throughput": [
                        {
                            "subject": SIGNED_IN_CLAIMS,
                            "concurrency": 1,
                            "req_per_s": "NaN",
                            "ratio_to_bare_page": 0.5,
                            "app_cpu_ms_per_req": 2,
                            "cpu_ratio_to_bare_page": 0.5,
                        }
                    ],
                }
            ),
            "not a number",
        ),
        (
            json.dumps(
                {
                    "commit": "abc",
                    "throughput": [
                        {
                            "subject": SIGNED_IN_CLAIMS,
                            "concurrency": 1,
                            "req_per_s": 400,
                            "ratio_to_bare_page": 0.5,
                            "app_cpu_ms_per_req": 2,
                            "cpu_ratio_to_bare_page": 0.5,
                        }
                    ],
                }
            ),
            f"no throughput row for {SIGNED_IN_PROFILE} at 1",
        ),
    ],
)
def test_a_bad_baseline_is_refused_with_what_is_wrong(tmp_path: Path, content: str, complaint: str):
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=complaint):
        load_baseline(path)


def test_a_missing_baseline_is_refused_by_name(tmp_path: Path):
    with pytest.raises(BaselineError, match="nowhere.json: cannot be read"):
        load_baseline(tmp_path / "nowhere.json")


# -- the before/after table ------------------------------------------------------------------------


def test_the_before_after_table_sets_each_page_against_its_old_figures_and_the_target():
    results = _run(load_baseline())
    rows = {(row[0], row[1]): row for row in report.before_after_rows(results)}
    assert [key for key in rows if key[0] == SIGNED_IN_CLAIMS] == [(SIGNED_IN_CLAIMS, c) for c in ("1", "8", "32")]
    claims_8 = rows[(SIGNED_IN_CLAIMS, "8")]
    assert claims_8[2:] == ["331", "850", "3.68", "1.25", "0.30×", "0.85×", "0.28×", "0.80×", "met"]
    claims_1 = rows[(SIGNED_IN_CLAIMS, "1")]
    assert claims_1[2:8] == ["483", "600", "1.97", "1.25", "0.51×", "0.60×"]
    assert claims_1[10] == "not met (0.20× short)"
    assert rows[(SIGNED_IN_PROFILE, "32")][10] == "not met (0.60× short)"


def test_the_written_report_and_the_summary_carry_the_before_after_table(capsys: pytest.CaptureFixture[str]):
    results = _run(load_baseline())
    written = report.markdown(results, "")
    assert "## Before and after the session rewrite" in written
    assert "commit `6b393ba`" in written
    assert "| signed-in claims | 8 | 331 | 850 |" in written
    assert "| signed-in claims (in-process) | 2.61 | — |" in written  # no in-process figure in this run
    report.print_summary(results)
    printed = capsys.readouterr().out
    assert "Before (commit 6b393ba" in printed and "| signed-in claims | 8 | 331 | 850 |" in printed


def test_without_a_baseline_the_report_has_no_before_after_section():
    results = _run(None)
    assert report.before_after_rows(results) == []
    assert "Before and after" not in report.markdown(results, "")


# -- bytes per stored session ----------------------------------------------------------------------

FIELDS = {"user": b"u" * 300, "token_cache": b"t" * 3000, "csrf_token": b"c" * 42}
EXPECTED_BYTES = sum(len(name) + len(value) for name, value in FIELDS.items())


def test_the_embedded_stores_session_bytes_come_from_its_rows(tmp_path: Path):
    store = SqliteSessionStore(tmp_path / "sessions.sqlite3")
    store.create("sid-a", FIELDS, idle_timeout=3600, lifetime=7200)
    store.create("sid-b", {"user": b"x" * 9000}, idle_timeout=3600, lifetime=7200)  # another session: not counted
    store.write("sid-a", {"csrf_token": None}, {"csrf_token": 1})  # a deleted field holds no bytes

    counted = sqlite_session_bytes(store.path, "sid-a")

    assert counted.values == {"user": 300, "token_cache": 3000}
    assert counted.total == EXPECTED_BYTES - len("csrf_token") - 42
    with pytest.raises(RuntimeError, match="no fields"):
        sqlite_session_bytes(store.path, "sid-unknown")


def test_redis_session_bytes_come_from_the_sessions_hash():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    store = RedisSessionStore(client, key_prefix=f"ciam_bench_unit_{secrets.token_hex(4)}:")
    try:
        store.create("sid-a", FIELDS, idle_timeout=3600, lifetime=7200)
        counted = redis_session_bytes(client, store.key("sid-a"))
        assert counted.values == {name: len(value) for name, value in FIELDS.items()}
        assert counted.total == EXPECTED_BYTES
        # Redis' own count holds the versions, `@ends` and its encoding besides the values.
        assert counted.store_reported is not None and counted.store_reported > EXPECTED_BYTES
        with pytest.raises(RuntimeError, match="no session fields"):
            redis_session_bytes(client, store.key("sid-unknown"))
    finally:
        store.delete("sid-a")
        client.close()


# -- CPU of a gunicorn master and its workers ------------------------------------------------------


def _stat(ppid: int, utime: int, cutime: int = 0) -> list[str]:
    """/proc/<pid>/stat fields after the command name: state, ppid, ..., utime (11), stime, cutime, cstime."""
    return ["S", str(ppid), *["0"] * 9, str(utime), "0", str(cutime), "0"]


def test_a_worker_reaped_while_the_children_are_listed_is_still_counted(monkeypatch: pytest.MonkeyPatch):
    master, worker = 100, 200
    reaped = False

    def read_stat(pid: int) -> list[str] | None:
        nonlocal reaped
        if pid == master:
            return _stat(1, utime=7, cutime=50 if reaped else 0)
        if pid == worker:
            # The master reaps the worker (50 ticks) just as the listing reaches it.
            reaped = True
            return None
        return None

    monkeypatch.setattr(load, "_read_stat", read_stat)
    monkeypatch.setattr(load.os, "listdir", lambda path: [str(master), str(worker)])

    assert process_tree_cpu_seconds(master) == (7 + 50) / load.CLOCK_TICKS


def test_live_workers_and_reaped_ones_are_both_counted(monkeypatch: pytest.MonkeyPatch):
    stats = {100: _stat(1, utime=5, cutime=30), 201: _stat(100, utime=40), 202: _stat(100, utime=2), 300: _stat(1, 99)}
    monkeypatch.setattr(load, "_read_stat", stats.get)
    monkeypatch.setattr(load.os, "listdir", lambda path: [*map(str, stats), "self"])

    assert process_tree_cpu_seconds(100) == (5 + 30 + 40 + 2) / load.CLOCK_TICKS


def test_the_report_shows_the_edit_in_api_mode_next_to_direct_mode():
    from benchmarks.api_mode import API, DIRECT, FIRST_SAVE, NEXT_SAVE, ApiModeResults, EditLatency, SaveTrips

    def trips(mode: str, save: str, obo: int, api_calls: int) -> SaveTrips:
        return SaveTrips(mode, save, 0, 0, 0, obo, 1, 1, api_calls, 0.1)

    measured = ApiModeResults(
        trips=[
            trips(API, NEXT_SAVE, 0, 1), trips(DIRECT, NEXT_SAVE, 0, 0), trips(API, FIRST_SAVE, 1, 2),
            trips(DIRECT, FIRST_SAVE, 0, 0),
        ],
        latency=[EditLatency(DIRECT, 5, 70.0, 180.0, 87.5), EditLatency(API, 5, 124.6, 203.0, 132.6)],
    )
    results = Results(server_options={}, seconds_per_run=1.0, api_mode=measured)
    text = report.markdown(results, "")
    section = text[text.index("## The profile edit: API mode next to direct mode") :]
    rows = [line for line in section.splitlines() if line.startswith(("| direct", "| API"))]
    assert rows[:4] == [
        f"| {DIRECT} | {FIRST_SAVE} | 0 (0 / 0 / 0) | 0 | 1 / 1 | 0 | 100.0 |",
        f"| {DIRECT} | {NEXT_SAVE} | 0 (0 / 0 / 0) | 0 | 1 / 1 | 0 | 100.0 |",
        f"| {API} | {FIRST_SAVE} | 1 (0 / 0 / 1) | 0 | 1 / 1 | 2 | 100.0 |",
        f"| {API} | {NEXT_SAVE} | 0 (0 / 0 / 0) | 0 | 1 / 1 | 1 | 100.0 |",
    ]
    assert f"| {API} | 5 | 124.6 | 203.0 | 132.6 |" in rows


# -- issue 16: its targets, instruction counts and the server comparison --------------------------


def test_issue16_targets_say_met_or_by_how_much_not(tmp_path):
    results = _run(None)
    results.load += [load_result(report.HOME, c, 900, 0.25) for c in (1, 8, 32)]
    results.servers = {
        "cells": [
            {"server": "granian", "page": "home", "concurrency": 8, **vars(load_result("granian home", 8, 1500, 0.8))}
        ],
        "stall": {
            "2": {"p50_ms": 10.0, "p99_ms": 25.0, "p99_over_p50": 2.5, "requests": 9000, "recycles": 4},
            "1": {"p50_ms": 10.0, "p99_ms": 90.0, "p99_over_p50": 9.0, "requests": 5000, "recycles": 2},
        },
        "granian_restart": {
            "p50_ms": 8.0, "p99_ms": 40.0, "p99_over_p50": 5.0, "requests": 7000, "recycles": 3,
            "workers": 2, "non200": 0, "socket_errors": 1,
        },
    }
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report.issue16.targets_section(results)}
    assert "**met**" in rows["home (anonymous): app CPU ≤ 0.3 ms per request"]
    assert "**not met**: 0.75 ms over" in rows["signed-in claims: app CPU ≤ 0.5 ms per request"]
    refusing = dataclasses.replace(results.load_for(SIGNED_IN_PROFILE, 8), non200=117)
    results.load[results.load.index(results.load_for(SIGNED_IN_PROFILE, 8))] = refusing
    [profile] = [line for line in report.issue16.targets_section(results) if line.startswith("| signed-in profile")]
    assert "at 8" not in profile.split("left out")[0] and "117 non-200 at 8" in profile
    stall = [line for line in rows.values() if "no stall from recycling" in line]
    assert len(stall) == 2 and "**met**" in stall[0] and "**not met**" in stall[1]
    assert "~4 gunicorn recycles" in stall[0]  # the targets measure the default server
    servers_section = report.issue16.servers_section(results)
    assert any("granian | home | 8 | 1,500" in line for line in servers_section)
    # granian's restart stall is shown beside the comparison, not as a target.
    [granian_restart] = [line for line in servers_section if line.startswith("For comparison, granian")]
    assert "3 restart(s)" in granian_restart and "5.0× over 7,000 requests, 1 non-200 or broken" in granian_restart


def test_instruction_counts_are_set_against_the_committed_before_figures():
    before = report.issue16.load_instructions_before()
    assert before is not None and {"outbound", "claims", "callback"} <= set(before)
    results = _run(None)
    results.instructions_before = before
    results.instructions = {"outbound": before["outbound"] // 2}
    [row] = [line for line in report.issue16.instructions_section(results) if line.startswith("| `outbound`")]
    assert row.endswith("| -50% |")
