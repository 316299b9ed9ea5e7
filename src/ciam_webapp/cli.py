"""`ciam-webapp`: run the app (development server) or serve it (gunicorn gthread, or granian on request)."""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, Settings
from .serving import DEFAULT_WORKER_LIFETIME, MINIMUM_WORKER_LIFETIME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ciam-webapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="development server (one process, reloads nothing)")
    run.add_argument("--host", default="localhost")
    run.add_argument("--port", type=int, default=5000)
    serve = commands.add_parser(
        "serve", help="production server: several workers on gunicorn gthread (default) or granian"
    )
    serve.add_argument("--bind", default="0.0.0.0:8000")  # noqa: S104 - a server binds where it is told
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="gunicorn gthread (default: its restarts lose no connection) or granian (about half the CPU per request,"
        " but a restart can drop a connection it has just accepted)",
    )
    serve.add_argument(
        "--worker-lifetime",
        type=int,
        default=DEFAULT_WORKER_LIFETIME,
        help=f"granian only: seconds before a worker is replaced, new one first (at least {MINIMUM_WORKER_LIFETIME})",
    )
    serve.add_argument(
        "--timeout", type=int, default=30, help="gunicorn only: seconds before a worker with no heartbeat is replaced"
    )
    serve.add_argument(
        "--max-requests",
        type=int,
        default=2000,
        help="gunicorn only: requests after which a worker is replaced (10%% jitter)",
    )
    commands.add_parser("check", help="validate the configuration and exit")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "check":
        print("Configuration OK.")
        return 0

    from . import create_app

    if args.command == "serve":
        try:
            if args.server == "granian":
                from .granian_app import serve_with_granian

                serve_with_granian(settings, bind=args.bind, workers=args.workers, worker_lifetime=args.worker_lifetime)
            else:
                from .gunicorn_app import serve_with_gunicorn

                serve_with_gunicorn(
                    settings, bind=args.bind, workers=args.workers, timeout=args.timeout, max_requests=args.max_requests
                )
        except ConfigError as exc:
            print(f"Configuration error: {exc}", file=sys.stderr)
            return 2
        return 0
    app = create_app(settings)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
