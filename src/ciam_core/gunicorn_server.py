"""gunicorn run from Python, for `ciam-webapp serve` and `ciam-api serve`: each passes its options
and a function that builds its WSGI app in each worker (after the fork, so no sockets are shared)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

SHARED_MEMORY_DIR = "/dev/shm"  # noqa: S108 - gunicorn's documented heartbeat folder, not a temp file name


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load = load
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()


def heartbeat_in_memory(options: dict[str, Any]) -> dict[str, Any]:
    """Worker heartbeats in memory where there is /dev/shm: a disk-backed /tmp (containers, App
    Service) can stall them and get healthy workers killed."""
    if os.path.isdir(SHARED_MEMORY_DIR):
        options["worker_tmp_dir"] = SHARED_MEMORY_DIR
    return options
