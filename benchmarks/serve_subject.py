"""Child process: serve one benchmark subject with the app's own launchers.

Usage: serve_subject.py {app|bare|app-sync|app-granian} HOST:PORT [WORKERS [MAX_REQUESTS]], with the
app's settings in the environment.

`app` is what `ciam-webapp serve` runs by default (`serve_with_gunicorn`: gunicorn gthread, MAX_REQUESTS
its recycling), and `bare` is a bare Flask app on exactly the same gunicorn options
(`ciam_webapp.gunicorn_app.gunicorn_options`): only the WSGI app each worker loads differs. For the
server comparison (benchmarks/servers.py), `app-sync` is the same app on gunicorn's `sync` workers (one
request at a time per process) and `app-granian` on `ciam-webapp serve --server granian`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bare_app import create_bare_app  # noqa: E402
from ciam_webapp import Settings, gunicorn_app  # noqa: E402
from ciam_webapp.serving import with_outbound_call_limit  # noqa: E402

WORKERS = 2  # `ciam-webapp serve`'s default
TIMEOUT = 30
MAX_REQUESTS = 2000  # `ciam-webapp serve`'s default
SHOWN_OPTIONS = ("workers", "worker_class", "threads", "timeout", "max_requests", "preload_app")


def server_options() -> dict[str, Any]:
    """The options `ciam-webapp serve` gives gunicorn, those the report shows."""
    options = gunicorn_app.gunicorn_options(bind="HOST:PORT", workers=WORKERS, timeout=TIMEOUT)
    return {name: options[name] for name in SHOWN_OPTIONS}


def main() -> None:
    kind, bind = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else WORKERS
    max_requests = int(sys.argv[4]) if len(sys.argv) > 4 else MAX_REQUESTS
    settings = Settings.from_env(dotenv_path=None)
    if kind == "app":
        gunicorn_app.serve_with_gunicorn(
            settings, bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests
        )
    elif kind == "bare":
        # The same options, only another WSGI app loaded in each worker.
        options = gunicorn_app.gunicorn_options(bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests)
        gunicorn_app.GunicornServer(create_bare_app, options).run()
    elif kind == "app-sync":
        from ciam_webapp import create_app, fetch_provider_state

        settings = with_outbound_call_limit(settings, threads=2)
        state = fetch_provider_state(settings)
        options = gunicorn_app.gunicorn_options(bind=bind, workers=workers, timeout=TIMEOUT, max_requests=max_requests)
        options.update(worker_class="sync", threads=1)
        gunicorn_app.GunicornServer(lambda: create_app(settings, provider_state=state), options).run()
    elif kind == "app-granian":
        from ciam_webapp.granian_app import serve_with_granian

        serve_with_granian(settings, bind=bind, workers=workers)
    else:
        raise SystemExit(f"unknown subject {kind!r}")


if __name__ == "__main__":
    main()
