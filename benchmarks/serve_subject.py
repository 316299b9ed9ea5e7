"""Child process: serve one benchmark subject with the app's own gunicorn launcher.

Usage: serve_subject.py {app|bare} HOST:PORT, with the app's settings in the environment.

Both subjects get their options from `ciam_webapp.gunicorn_app.gunicorn_options` (workers, worker
class, threads, timeouts), so the bare apps are served with exactly the options `ciam-webapp serve`
uses; for the bare subject only the WSGI app that gunicorn loads in each worker differs.
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
    settings = Settings.from_env(dotenv_path=None)
    if kind == "app":
        gunicorn_app.serve_with_gunicorn(settings, bind=bind, workers=WORKERS, timeout=TIMEOUT)
    elif kind == "bare":
        # The same options, only another WSGI app loaded in each worker.
        gunicorn_app.GunicornServer(create_bare_app, gunicorn_options(settings, bind)).run()
    else:
        raise SystemExit(f"unknown subject {kind!r}")


if __name__ == "__main__":
    main()
