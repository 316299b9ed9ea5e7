"""`ciam-webapp serve` (the default): gunicorn gthread with several workers, configured from our settings.

Each worker builds its own app after the fork (no preloading), so every worker has its own Redis
connection pool and HTTP sessions: sockets are never shared between processes. What the master
does share is data: the provider's discovery document and signing keys, fetched once before the
first fork (see `fetch_provider_state`), so a worker needs no network to start. With more than one
worker or instance, sessions must live where all of them see them: SESSION_TYPE=redis (any number
of machines) or the embedded store's folder (workers of one machine only).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from ciam_core.gunicorn_server import GunicornServer, heartbeat_in_memory

from .config import Settings
from .serving import WORKER_THREADS, compile_templates, import_web_modules, with_outbound_call_limit

# -- worker recycling without a gap ------------------------------------------------------------
# gunicorn replaces a worker that reached max_requests only after it has exited, and a stopping
# worker accepts no connection while it finishes its requests and lingers on its kept-alive ones
# (up to 2 s): with one worker, or two recycling at once, everything queued stalls meanwhile (p99
# 0.5-1.8 s against a p50 of 15-25 ms, benchmarks/profiling-notes.md). So the worker asks the master
# for its replacement when it starts its last request (SIGTTIN: one more worker, gunicorn's own
# signal), and the master takes the extra slot back when the old worker exits. The master handles
# SIGTTIN in its loop but a worker's exit at once, so the last request waits (milliseconds, at most
# REPLACEMENT_WAIT_SECONDS) until the replacement is forked: otherwise an old worker that exits
# first would leave the master one worker too many.
_replacement_asked = threading.Lock()
REPLACEMENT_WAIT_SECONDS = 2.0


def ask_for_replacement_before_last_request(worker: Any, req: Any) -> None:
    """gunicorn's pre_request hook, in the worker (its threads share one flag)."""
    if worker.nr + 1 < worker.max_requests or not _replacement_asked.acquire(blocking=False):
        return  # not the last request yet, or the replacement is already asked for (the lock stays held)
    worker.log.info("Worker reached max_requests: asking the master for its replacement now")
    before = _children(worker.ppid)
    os.kill(worker.ppid, signal.SIGTTIN)
    if before is None:
        return  # no /proc (not Linux): the master replaces the worker once it has exited
    deadline = time.monotonic() + REPLACEMENT_WAIT_SECONDS
    while time.monotonic() < deadline and not (_children(worker.ppid) or set()) - before:
        time.sleep(0.005)


def _children(pid: int) -> set[int] | None:
    try:
        return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return None


def keep_the_worker_count_after_recycling(arbiter: Any, worker: Any) -> None:
    """gunicorn's child_exit hook, in the master: a worker left, so the extra slot it asked for goes."""
    if arbiter.num_workers > arbiter.cfg.workers:
        arbiter.num_workers -= 1


def compile_templates_before_serving(worker: Any) -> None:
    """gunicorn's post_worker_init hook, in a new worker before it accepts."""
    compile_templates(worker.wsgi)


def gunicorn_options(*, bind: str, workers: int, timeout: int, max_requests: int = 2000) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": WORKER_THREADS,
        "timeout": timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        # Recycle workers now and then (jittered so they do not all restart together).
        "max_requests": max_requests,
        "max_requests_jitter": max_requests // 10,
        "pre_request": ask_for_replacement_before_last_request,
        "child_exit": keep_the_worker_count_after_recycling,
        "post_worker_init": compile_templates_before_serving,
        "accesslog": None,  # the app logs structured lines itself; access logs would record query strings
        "errorlog": "-",
        "preload_app": False,
        # X-Forwarded-* are honoured by the app's ProxyFix, as many hops as TRUSTED_PROXIES says, and
        # nowhere else: gunicorn's own handling (trusting 127.0.0.1 by default) would let a local
        # client claim https even with TRUSTED_PROXIES=0.
        "forwarded_allow_ips": "",
        # No runtime control socket: it is not needed, and a fixed path clashes between servers.
        "control_socket_disable": True,
        "proc_name": "ciam-webapp",
    }
    return heartbeat_in_memory(options)


def serve_with_gunicorn(
    settings: Settings, *, bind: str, workers: int, timeout: int, max_requests: int = 2000
) -> None:
    from . import create_app, fetch_provider_state

    settings = with_outbound_call_limit(settings)
    import_web_modules()
    # Fetched once here, in the master, and inherited by every worker it forks (a worker replaced
    # during a tenant outage still knows the tenant); the fetch's own session is closed already.
    provider_state = fetch_provider_state(settings)
    GunicornServer(
        lambda: create_app(settings, provider_state=provider_state),
        gunicorn_options(bind=bind, workers=workers, timeout=timeout, max_requests=max_requests),
    ).run()
