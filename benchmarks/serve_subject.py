"""Child process: serve one benchmark subject with the app's own gunicorn launcher.

Usage: serve_subject.py {app|bare|app-sync|app-granian} HOST:PORT [WORKERS [MAX_REQUESTS]], with the
app's settings in the environment.

Both subjects get their options from `ciam_webapp.gunicorn_app.gunicorn_options` (workers, worker
class, threads, timeouts), so the bare apps are served with exactly the options `ciam-webapp serve`
uses; for the bare subject only the WSGI app that gunicorn loads in each worker differs.
`app-sync` is the same app on gunicorn's `sync` workers (one request at a time per process), and
`app-granian` the same app on granian (a Rust HTTP server, WSGI interface), for the server comparison
(benchmarks/servers.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bare_app import create_bare_app  # noqa: E402
from ciam_webapp import Settings, gunicorn_app  # noqa: E402

WORKERS = 2  # `ciam-webapp serve`'s default
TIMEOUT = 30


def gunicorn_options(settings: Settings, bind: str) -> dict[str, object]:
    """The options `serve_with_gunicorn` uses for these settings (for the report)."""
    return gunicorn_app.gunicorn_options(bind=bind, workers=WORKERS, timeout=TIMEOUT)


def main() -> None:
    kind, bind = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else WORKERS
    max_requests = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    settings = Settings.from_env(dotenv_path=None)
    if kind == "app":
        gunicorn_app.serve_with_gunicorn(
            settings, bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests
        )
    elif kind == "app-sync":
        from ciam_webapp import create_app, fetch_provider_state

        settings = gunicorn_app.with_outbound_call_limit(settings, threads=2)
        state = fetch_provider_state(settings)
        options = gunicorn_app.gunicorn_options(bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests)
        options.update(worker_class="sync", threads=1)
        gunicorn_app.GunicornServer(lambda: create_app(settings, provider_state=state), options).run()
    elif kind == "app-granian":
        from granian import Granian
        from granian.constants import Interfaces

        host, port = bind.rsplit(":", 1)
        Granian(
            "benchmarks.wsgi_target:create",
            address=host,
            port=int(port),
            interface=Interfaces.WSGI,
            workers=workers,
            blocking_threads=gunicorn_app.WORKER_THREADS,
            factory=True,
            log_level="warning",
        ).serve()
    elif kind == "bare":
        # The same options, only another WSGI app loaded in each worker.
        gunicorn_app.GunicornServer(create_bare_app, gunicorn_options(settings, bind)).run()
    else:
        raise SystemExit(f"unknown subject {kind!r}")


if __name__ == "__main__":
    main()
