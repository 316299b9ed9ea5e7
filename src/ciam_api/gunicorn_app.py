"""`ciam-api serve`: gunicorn with several workers, configured from our settings.

Each worker builds its own app after the fork (no preloading): its own HTTP sessions, JWKS cache and
Redis pool. With several workers or instances, set OBO_CACHE_REDIS_URL so they share the
on-behalf-of cache; otherwise each worker keeps its own.
"""

from __future__ import annotations

from typing import Any

from ciam_core.gunicorn_server import GunicornServer, heartbeat_in_memory

from .config import Settings

# Threads per worker: a request mostly waits on the tenant or Graph, so a worker serves several; at
# most WORKER_THREADS - 1 of them wait on an outbound call, so one stays free for /healthz.
WORKER_THREADS = 4



def gunicorn_options(
    *, bind: str, workers: int, timeout: int, certfile: str | None = None, keyfile: str | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": WORKER_THREADS,
        "timeout": timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        "max_requests": 2000,
        "max_requests_jitter": 200,
        "accesslog": None,  # the app logs what it decides; access logs add nothing secret-free
        "errorlog": "-",
        "preload_app": False,
        # X-Forwarded-* only through the app's ProxyFix (TRUSTED_PROXIES), never gunicorn's defaults.
        "forwarded_allow_ips": "",
        "control_socket_disable": True,
        "proc_name": "ciam-api",
    }
    if certfile and keyfile:
        options.update(certfile=certfile, keyfile=keyfile)
    return heartbeat_in_memory(options)


def serve_with_gunicorn(
    settings: Settings,
    *,
    bind: str,
    workers: int,
    timeout: int,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> None:
    from . import create_app

    options = gunicorn_options(bind=bind, workers=workers, timeout=timeout, certfile=certfile, keyfile=keyfile)
    GunicornServer(lambda: create_app(settings, outbound_call_limit=WORKER_THREADS - 1), options).run()
