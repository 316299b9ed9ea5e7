"""Serving the emulator over HTTPS: Werkzeug (threaded, stoppable from tests) or gunicorn (keep-alive).

Entra's and Graph's front doors keep HTTPS connections open between requests (HTTP/1.1's default,
RFC 9112 §9.3), and the app's cost per call depends on it: a new connection is a TCP and TLS
handshake on each side. Werkzeug's development server closes every connection after one answer
(it sends `Connection: close` whatever the protocol version), so `ciam-emulator serve` uses gunicorn:
one process, because the emulator's runtime controls and counters live in its memory, with threads
and keep-alive. In-process tests keep Werkzeug, which they can start and stop on a thread.
"""

from __future__ import annotations

import ssl
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as werkzeug_make_server

from ciam_emulator.tls import TlsFiles

# Idle kept-alive connections are closed after this many seconds (gunicorn's gthread keeps them on
# a poller, not on a thread, so they cost no thread meanwhile).
KEEP_ALIVE_SECONDS = 30
THREADS = 16


def tls_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    return context


def make_server(app: Flask, host: str, port: int, tls: TlsFiles) -> BaseWSGIServer:
    """A threaded HTTPS server; run ``serve_forever()`` in a thread and ``shutdown()`` to stop.

    ``port=0`` picks a free port (read it from ``server.server_port``). Closes each connection
    after one answer (Werkzeug's choice); `serve_keeping_connections` does not.
    """
    return werkzeug_make_server(host, port, app, threaded=True, ssl_context=tls_context(tls))


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def keep_alive_options(host: str, port: int, tls: TlsFiles) -> dict[str, Any]:
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,  # the runtime controls, counters and scripted faults live in this one process
        "worker_class": "gthread",
        "threads": THREADS,
        "keepalive": KEEP_ALIVE_SECONDS,
        "timeout": 120,  # test controls can hold an answer (a hanging tenant) for a while
        "certfile": str(tls.server_cert),
        "keyfile": str(tls.server_key),
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "control_socket_disable": True,
        "proc_name": "ciam-emulator",
    }


def serve_keeping_connections(app: Flask, host: str, port: int, tls: TlsFiles) -> None:
    """Serve until SIGTERM or SIGINT (gunicorn stops gracefully on either)."""
    _Gunicorn(app, keep_alive_options(host, port, tls)).run()
