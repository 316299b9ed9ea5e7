"""`ciam-webapp`: run the app (development server) or serve it with gunicorn."""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ciam-webapp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="development server (one process, reloads nothing)")
    run.add_argument("--host", default="localhost")
    run.add_argument("--port", type=int, default=5000)
    serve = commands.add_parser("serve", help="production server: gunicorn with several workers")
    serve.add_argument("--bind", default="0.0.0.0:8000")  # noqa: S104 - a server binds where it is told
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--timeout", type=int, default=30, help="seconds before a hung worker is replaced")
    serve.add_argument(
        "--max-requests", type=int, default=2000, help="requests after which a worker is replaced (10%% jitter)"
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
        from .gunicorn_app import serve_with_gunicorn

        try:
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
