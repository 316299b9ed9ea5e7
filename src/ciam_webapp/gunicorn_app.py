"""`ciam-webapp serve`: gunicorn with several workers, configured from our settings.

Each worker builds its own app (after fork), so connection pools and caches are per process; with
more than one worker (or instance) sessions must live in a shared store (SESSION_TYPE=redis) or on
a filesystem all workers see (the embedded default works for workers of one machine).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from .config import Settings


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from . import create_app

        return create_app(self._settings)


def serve_with_gunicorn(settings: Settings, *, bind: str, workers: int, timeout: int) -> None:
    options = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": None,  # the app logs structured lines itself; access logs would record query strings
        "errorlog": "-",
        "preload_app": False,
    }
    _GunicornApp(settings, options).run()
