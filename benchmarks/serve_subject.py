"""Child process: serve one benchmark subject with the app's own launchers.

Usage: serve_subject.py {app|bare|app-gthread|app-sync} HOST:PORT [WORKERS [MAX_REQUESTS]], with the
app's settings in the environment.

`app` is what `ciam-webapp serve` runs by default (`serve_with_granian`), and `bare` is a bare Flask
app on exactly the same granian options: only the WSGI app each worker loads differs. For the server
comparison (benchmarks/servers.py), `app-gthread` is the same app on `ciam-webapp serve --server
gunicorn` (gthread, MAX_REQUESTS its recycling) and `app-sync` on gunicorn's `sync` workers (one
request at a time per process).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bare_app import create_bare_app  # noqa: E402
from ciam_webapp import Settings, gunicorn_app  # noqa: E402
from ciam_webapp.granian_app import (  # noqa: E402
    CONNECTIONS_PER_WORKER,
    WORKER_KILL_TIMEOUT,
    granian_server,
    serve_with_granian,
)
from ciam_webapp.serving import WORKER_THREADS, with_outbound_call_limit  # noqa: E402

WORKERS = 2  # `ciam-webapp serve`'s default
TIMEOUT = 30


def server_options() -> dict[str, Any]:
    """The options `ciam-webapp serve` gives granian (for the report)."""
    return {
        "server": "granian",
        "interface": "wsgi",
        "workers": WORKERS,
        "blocking_threads": WORKER_THREADS,
        "backpressure": CONNECTIONS_PER_WORKER,
        "workers_kill_timeout": WORKER_KILL_TIMEOUT,
    }


def main() -> None:
    kind, bind = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else WORKERS
    max_requests = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    settings = Settings.from_env(dotenv_path=None)
    if kind == "app":
        serve_with_granian(settings, bind=bind, workers=workers)
    elif kind == "bare":
        # The same options, only another WSGI app loaded in each worker.
        granian_server(bind=bind, workers=workers).serve(target_loader=create_bare_app, wrap_loader=False)
    elif kind == "app-gthread":
        gunicorn_app.serve_with_gunicorn(
            settings, bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests
        )
    elif kind == "app-sync":
        from ciam_webapp import create_app, fetch_provider_state

        settings = with_outbound_call_limit(settings, threads=2)
        state = fetch_provider_state(settings)
        options = gunicorn_app.gunicorn_options(bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests)
        options.update(worker_class="sync", threads=1)
        gunicorn_app.GunicornServer(lambda: create_app(settings, provider_state=state), options).run()
    else:
        raise SystemExit(f"unknown subject {kind!r}")


if __name__ == "__main__":
    main()
