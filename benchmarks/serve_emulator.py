"""Child process: the emulator with its test controls (stats counters), over HTTPS on loopback.

Usage: serve_emulator.py INSTANCE_DIR BASE_URL {gunicorn|werkzeug}. Runs until SIGTERM.

`werkzeug` is the emulator's own server (`ciam_emulator.server.make_server`). Werkzeug's server
answers every request with `Connection: close`, so each call the app makes to the tenant or Graph
pays a new TCP connection and TLS handshake on the app's side, which Entra and Graph (keep-alive)
do not make it pay. `gunicorn` (the default for `make bench`, and what `ciam-emulator serve` and so
`make run` use) serves the same emulator app with keep-alive: one worker, so the emulator's
in-memory counters and state stay in one process.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ciam_emulator
from ciam_emulator.server import make_server, serve_keeping_connections
from ciam_emulator.tls import TlsFiles, ensure_tls


def serve_with_werkzeug(app: Any, host: str, port: int, tls: TlsFiles) -> None:
    server = make_server(app, host, port, tls)
    # SIGTERM ends serve_forever through KeyboardInterrupt, the one way the server loop expects to stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    instance_dir, base_url, server = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    parts = urlsplit(base_url)
    app = ciam_emulator.create_app(
        ciam_emulator.EmulatorSettings(instance_dir=instance_dir, base_url=base_url, test_controls=True)
    )
    serve = {"gunicorn": serve_keeping_connections, "werkzeug": serve_with_werkzeug}[server]
    serve(app, parts.hostname or "127.0.0.1", parts.port or 443, ensure_tls(instance_dir))


if __name__ == "__main__":
    main()
