"""Throughput and latency with wrk (Debian's, a separate C process), plus the CPU each side used.

wrk runs a Lua script that sends each request with the next signed-in user's session cookie (so
concurrent requests do not all share one session), counts any answer that is not a 200 (a lost
session would answer 302 and look fast), and prints its summary as one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SNAPSHOT_ATTEMPTS = 50

_LUA = """
local cookies = {COOKIES}
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
end

function request()
  counter = counter + 1
  local headers = {}
  if #cookies > 0 then
    headers["Cookie"] = cookies[(counter % #cookies) + 1]
  end
  return wrk.format("GET", "{PATH}", headers)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
  end
  local errors = summary.errors
  io.write(string.format(
    '\\nWRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non200": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes, bad,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class LoadResult:
    subject: str
    concurrency: int
    requests: int
    seconds: float
    non200: int
    socket_errors: int
    bytes_per_response: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float  # all gunicorn processes of the subject
    emulator_cpu_ms_per_request: float
    wrk_cpu_seconds: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: `make bench` installs Debian's wrk (apt-get install wrk)")
    return path


def process_tree_cpu_seconds(root_pid: int) -> float:
    """User+system CPU of a process and its children (a gunicorn master and its workers).

    Workers that gunicorn recycled (max_requests) count too: once the master has reaped them, their
    CPU is in the master's cutime/cstime. A worker reaped while the children are being listed would
    be counted neither as a child nor in the master's figures read before it (a cell once showed
    negative CPU that way), so the master is read before and after the listing, and the listing is
    taken again until no worker was reaped meanwhile.
    """
    for _ in range(SNAPSHOT_ATTEMPTS):
        before = _read_stat(root_pid)
        children = sum(
            int(stat[11]) + int(stat[12])  # utime, stime
            for stat in (_read_stat(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
            if stat is not None and int(stat[1]) == root_pid
        )
        after = _read_stat(root_pid)
        if before is None or after is None:
            return children / CLOCK_TICKS  # the master is gone: its children are all there is
        if _reaped_ticks(before) == _reaped_ticks(after):
            return (int(after[11]) + int(after[12]) + _reaped_ticks(after) + children) / CLOCK_TICKS
    raise RuntimeError(f"process {root_pid} kept reaping children; no consistent CPU reading")


def _reaped_ticks(stat: list[str]) -> int:
    return int(stat[13]) + int(stat[14])  # cutime, cstime: children it has reaped


def _read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, ... (None if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def run_wrk(
    *,
    subject: str,
    url_base: str,
    path: str,
    cookies: list[str],
    concurrency: int,
    seconds: float,
    server_pid: int,
    emulator_pid: int,
    script_dir: Path,
) -> LoadResult:
    script = script_dir / f"wrk-{subject.replace(' ', '_')}.lua"
    lua_cookies = "{" + ", ".join(json.dumps(c) for c in cookies) + "}"
    script.write_text(_LUA.replace("{COOKIES}", lua_cookies).replace("{PATH}", path))
    threads = min(concurrency, 2)  # one wrk thread per core is plenty for a Python server
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(script),
        url_base,
    ]
    server_before = process_tree_cpu_seconds(server_pid)
    emulator_before = process_tree_cpu_seconds(emulator_pid)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(  # noqa: S603 - wrk with our arguments
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip() or completed.stdout}")
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = process_tree_cpu_seconds(server_pid) - server_before
    emulator_cpu = process_tree_cpu_seconds(emulator_pid) - emulator_before
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{completed.stdout}\n{completed.stderr}")
    summary = json.loads(line.removeprefix("WRK_JSON "))
    count = max(summary["requests"], 1)
    return LoadResult(
        subject=subject,
        concurrency=concurrency,
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        non200=summary["non200"],
        socket_errors=summary["socket_errors"],
        bytes_per_response=summary["bytes"] / count,
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        server_cpu_ms_per_request=server_cpu * 1000 / count,
        emulator_cpu_ms_per_request=emulator_cpu * 1000 / count,
        wrk_cpu_seconds=(wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime),
    )
