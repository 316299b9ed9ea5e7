"""Serving the emulator over HTTPS with Werkzeug (threaded), stoppable from tests."""

from __future__ import annotations

import ssl

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as werkzeug_make_server

from ciam_emulator.tls import TlsFiles


def tls_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    return context


def make_server(app: Flask, host: str, port: int, tls: TlsFiles) -> BaseWSGIServer:
    """A threaded HTTPS server; run ``serve_forever()`` in a thread and ``shutdown()`` to stop.

    ``port=0`` picks a free port (read it from ``server.server_port``).
    """
    return werkzeug_make_server(host, port, app, threaded=True, ssl_context=tls_context(tls))
