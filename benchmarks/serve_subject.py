"""Child process: serve one benchmark subject with the app's own gunicorn launcher.

Usage: serve_subject.py {app|bare} HOST:PORT, with the app's settings in the environment.

Both subjects go through `ciam_webapp.gunicorn_app.serve_with_gunicorn`, which builds the options
(workers, worker class, threads, timeouts) in one place, so the bare apps are served with exactly
the options `ciam-webapp serve` uses. For the bare subject only the WSGI app that gunicorn loads
in each worker is swapped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bare_app import create_bare_app  # noqa: E402
from ciam_webapp import Settings, gunicorn_app  # noqa: E402

WORKERS = 2  # `ciam-webapp serve`'s default
TIMEOUT = 30


class _BareGunicornApp(gunicorn_app._GunicornApp):
    def load(self):  # type: ignore[no-untyped-def]
        return create_bare_app()


def gunicorn_options(settings: Settings, bind: str) -> dict[str, object]:
    """The options `serve_with_gunicorn` would use, captured without starting a server (for the report)."""
    captured: dict[str, object] = {}

    class _Recorder:
        def __init__(self, _settings: Settings, options: dict[str, object]) -> None:
            captured.update(options)

        def run(self) -> None:
            pass

    real = gunicorn_app._GunicornApp
    gunicorn_app._GunicornApp = _Recorder  # type: ignore[misc,assignment]
    try:
        gunicorn_app.serve_with_gunicorn(settings, bind=bind, workers=WORKERS, timeout=TIMEOUT)
    finally:
        gunicorn_app._GunicornApp = real  # type: ignore[misc]
    return captured


def main() -> None:
    kind, bind = sys.argv[1], sys.argv[2]
    settings = Settings.from_env(dotenv_path=None)
    if kind == "bare":
        gunicorn_app._GunicornApp = _BareGunicornApp  # type: ignore[misc]
    elif kind != "app":
        raise SystemExit(f"unknown subject {kind!r}")
    gunicorn_app.serve_with_gunicorn(settings, bind=bind, workers=WORKERS, timeout=TIMEOUT)


if __name__ == "__main__":
    main()
