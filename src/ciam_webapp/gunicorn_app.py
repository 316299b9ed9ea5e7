"""`ciam-webapp serve`: gunicorn with several workers, configured from our settings.

Each worker builds its own app after the fork (no preloading), so every worker has its own Redis
connection pool and HTTP sessions: sockets are never shared between processes. What the master
does share is data: the provider's discovery document and signing keys, fetched once before the
first fork (see `fetch_provider_state`), so a worker needs no network to start. With more than one
worker or instance, sessions must live where all of them see them: SESSION_TYPE=redis (any number
of machines) or the embedded store's folder (workers of one machine only).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from .config import ConfigError, Settings

# Threads per worker: a request mostly waits on the tenant, Graph or Redis, so a worker serves several.
WORKER_THREADS = 4
SHARED_MEMORY_DIR = "/dev/shm"  # noqa: S108 - gunicorn's documented heartbeat folder, not a temp file name


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn run from Python: `load` builds the WSGI app in each worker."""

    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load = load
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()


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
    if os.path.isdir(SHARED_MEMORY_DIR):
        # Worker heartbeats in memory: a disk-backed /tmp (containers, App Service) can stall them.
        options["worker_tmp_dir"] = SHARED_MEMORY_DIR
    return options


def with_outbound_call_limit(settings: Settings, threads: int = WORKER_THREADS) -> Settings:
    """At most threads - 1 outbound calls per worker, so however long the tenant or Graph hangs, one
    thread stays free for /healthz, static files and pages that need neither."""
    if settings.outbound_call_limit is None:
        return dataclasses.replace(settings, outbound_call_limit=max(1, threads - 1))
    if settings.outbound_call_limit >= threads:
        raise ConfigError(
            f"OUTBOUND_CALL_LIMIT is {settings.outbound_call_limit}, but a worker has {threads} threads: "
            f"set it below {threads} (or unset it for {threads - 1}), so a hanging tenant cannot hold "
            "every thread and starve /healthz"
        )
    return settings


def serve_with_gunicorn(
    settings: Settings, *, bind: str, workers: int, timeout: int, max_requests: int = 2000
) -> None:
    from . import create_app, fetch_provider_state

    settings = with_outbound_call_limit(settings)
    # Fetched once here, in the master, and inherited by every worker it forks (a worker replaced
    # during a tenant outage still knows the tenant); the fetch's own session is closed already.
    provider_state = fetch_provider_state(settings)
    GunicornServer(
        lambda: create_app(settings, provider_state=provider_state),
        gunicorn_options(bind=bind, workers=workers, timeout=timeout, max_requests=max_requests),
    ).run()
