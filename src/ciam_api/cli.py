"""`ciam-api`: run the mfa-app API (development server), serve it with gunicorn, or check its settings."""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ciam-api", description=__doc__)
    parser.add_argument(
        "--env-file", default=".env", help="settings file read under the environment (default .env; e.g. api.env)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="development server (one process)")
    run.add_argument("--host", default="localhost")
    run.add_argument("--port", type=int, default=5001)
    serve = commands.add_parser("serve", help="production server: gunicorn with several workers")
    serve.add_argument("--bind", default="0.0.0.0:8001")  # noqa: S104 - a server binds where it is told
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--timeout", type=int, default=30, help="seconds before a hung worker is replaced")
    serve.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--keyfile", help="the certificate's private key (PEM)")
    commands.add_parser("check", help="validate the configuration and exit")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env(dotenv_path=args.env_file)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "check":
        print("Configuration OK.")
        return 0

    if args.command == "serve":
        if bool(args.certfile) != bool(args.keyfile):
            print("Configuration error: --certfile and --keyfile go together", file=sys.stderr)
            return 2
        from .gunicorn_app import serve_with_gunicorn

        serve_with_gunicorn(
            settings,
            bind=args.bind,
            workers=args.workers,
            timeout=args.timeout,
            certfile=args.certfile,
            keyfile=args.keyfile,
        )
        return 0

    from . import create_app

    create_app(settings).run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
