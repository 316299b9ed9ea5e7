"""`ciam-webapp serve --server granian`: granian, a Rust HTTP server, running the app through its WSGI
interface in several worker processes. About half gunicorn's CPU per request, but not the default:
a restart can close, unanswered, a connection a stopping worker has just accepted (README "Deploying").

As with gunicorn (gunicorn_app.py), each worker builds its own app after the fork, so sockets (Redis
pools, HTTP sessions) are never shared between processes, while data is: the provider's discovery
document and signing keys are fetched once in the master, before the first fork, and every worker
(including one forked later to replace another, during a tenant outage too) inherits them.

Restarts and recycling: granian starts a replacement worker first, waits `respawn_interval` (3.5 s)
while both serve, and only then stops the old one (SIGTERM, then SIGKILL after `WORKER_KILL_TIMEOUT`).
It does this for a worker older than `--worker-lifetime`, and for every worker in turn on SIGHUP to
the master (the graceful restart). A worker that dies is replaced at once, unless it is a
replacement dying within 5.5 s of being started: granian then takes it for a crash loop and exits
(the service manager or container runtime restarts the whole server). Over TCP on Linux each worker listens on its own
SO_REUSEPORT socket: connections queued on a stopping worker's socket are reset unless
net.ipv4.tcp_migrate_req=1 (a Unix socket is shared by all workers, README "Deploying").
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from .config import ConfigError, Settings
from .serving import (
    DEFAULT_WORKER_LIFETIME,
    MINIMUM_WORKER_LIFETIME,
    WORKER_THREADS,
    compile_templates,
    import_web_modules,
    with_outbound_call_limit,
)

# Seconds a stopping worker gets to finish its requests before it is killed (gunicorn's graceful_timeout).
WORKER_KILL_TIMEOUT = 10
# granian's backpressure bounds the CONNECTIONS a worker holds, not the requests in Python: an idle
# kept-alive connection (a browser's, nginx's) spends one slot. Sized as gunicorn gthread's
# worker_connections (1000): requests beyond the 4 threads wait in granian's queue, not at accept.
CONNECTIONS_PER_WORKER = 1000


def parse_bind(bind: str) -> dict[str, Any]:
    """gunicorn's --bind forms that granian knows: HOST:PORT, [IPv6]:PORT, unix:PATH."""
    if bind.startswith("unix:"):
        return {"uds": Path(bind.removeprefix("unix:"))}
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit():
        raise ConfigError(f"--bind {bind!r}: expected HOST:PORT or unix:PATH")
    return {"address": host.strip("[]") or "0.0.0.0", "port": int(port)}  # noqa: S104 - as gunicorn reads ":8000"


def build_worker_app(settings: Settings, provider_state: Any) -> Any:
    """Called by granian in each new worker process, before it serves its first request."""
    from . import create_app

    app = create_app(settings, provider_state=provider_state)
    compile_templates(app)
    return app


def granian_server(
    *,
    bind: str,
    workers: int,
    worker_lifetime: int = DEFAULT_WORKER_LIFETIME,
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
) -> Granian:
    if worker_lifetime < MINIMUM_WORKER_LIFETIME:
        raise ConfigError(
            f"--worker-lifetime is {worker_lifetime} s: granian needs {MINIMUM_WORKER_LIFETIME} s or more"
        )
    return Granian(
        "ciam_webapp",  # only a label: the app comes from build_worker_app (target_loader)
        **parse_bind(bind),
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=WORKER_THREADS,
        backpressure=CONNECTIONS_PER_WORKER,
        respawn_failed_workers=True,
        workers_lifetime=worker_lifetime,
        workers_kill_timeout=WORKER_KILL_TIMEOUT,
        log_level=LogLevels.info,
        # The app logs structured lines itself; access logs would record query strings.
        log_access=False,
        # granian passes the peer address and the connection's own scheme to the app and reads no
        # X-Forwarded-* header: the app's ProxyFix (TRUSTED_PROXIES hops) is the only place that does.
        # TLS is nginx's job; a certificate here serves HTTPS directly.
        ssl_cert=ssl_cert,
        ssl_key=ssl_key,
    )


def serve_with_granian(
    settings: Settings,
    *,
    bind: str,
    workers: int,
    worker_lifetime: int = DEFAULT_WORKER_LIFETIME,
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
) -> None:
    from . import fetch_provider_state

    settings = with_outbound_call_limit(settings)
    server = granian_server(
        bind=bind, workers=workers, worker_lifetime=worker_lifetime, ssl_cert=ssl_cert, ssl_key=ssl_key
    )
    import_web_modules()
    # Fetched once here, in the master; granian forks its workers (multiprocessing's 'fork' start
    # method on Linux), so the loader below carries the state into each of them without a fetch.
    provider_state = fetch_provider_state(settings)
    server.serve(
        target_loader=functools.partial(build_worker_app, settings, provider_state),
        wrap_loader=False,
    )
