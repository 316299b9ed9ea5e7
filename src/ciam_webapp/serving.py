"""What `ciam-webapp serve` does whichever server runs the workers (gunicorn by default, granian on
request): the per-worker thread count, the outbound-call bound that keeps a thread free for
/healthz, the modules imported once in the master, and the template warm-up of a new worker."""

from __future__ import annotations

import dataclasses
from typing import Any

from .config import ConfigError, Settings

# Threads per worker: a request mostly waits on the tenant, Graph or Redis, so a worker serves several.
WORKER_THREADS = 4
# granian's worker lifetime (recycling by age); granian refuses less than a minute.
DEFAULT_WORKER_LIFETIME = 3600
MINIMUM_WORKER_LIFETIME = 60


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


def import_web_modules() -> None:
    """Imported once, in the master: a worker forked to replace a recycled one then starts by
    building the app (~10 ms of CPU) instead of importing Flask-WTF, Flask-Limiter, WTForms and the
    views first (~30 ms more) while its queued requests wait. Modules hold code, not sockets, so
    sharing them across the fork is safe."""
    from .web import (  # noqa: F401
        auth,
        browser_session,
        errors,
        health,
        main,
        profile,
        provider_features,
        rate_limits,
        security,
    )


def compile_templates(app: Any) -> None:
    """Compile every template of a new worker's app before it accepts. Otherwise its first page
    views do it, several threads at once (about 12 ms of CPU each for the claims page), and a fresh
    worker's first requests are its slowest."""
    environment = getattr(app, "jinja_env", None)
    if environment is None:
        return
    for name in environment.list_templates(extensions=("html",)):
        environment.get_template(name)
