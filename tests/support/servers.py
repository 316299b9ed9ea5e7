"""Servers on loopback for the tests and the benchmarks: a free port, and a WSGI server on a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """A WSGI server on its own thread, stopped cleanly at the end."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class AppOnThread:
    """One running copy of the app in this process: its Flask app, settings and server thread."""

    base_url: str
    app: Any  # the Flask app
    settings: Any  # its ciam_webapp.Settings
    server: ServerThread

    def url(self, path: str) -> str:
        return self.base_url + path
