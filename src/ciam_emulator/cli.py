"""``ciam-emulator`` command line: ``seed`` the tenant, ``serve`` it over HTTPS."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ciam_emulator.app import create_app
from ciam_emulator.seed import read_env_keys, seed, write_api_env_file, write_env_file
from ciam_emulator.server import make_server, serve_keeping_connections
from ciam_emulator.settings import EmulatorSettings
from ciam_emulator.tls import ensure_tls

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443


def _tls_hosts(host: str) -> tuple[str, ...]:
    hosts = ["127.0.0.1", "localhost"]
    if host not in hosts and host not in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        hosts.append(host)
    return tuple(hosts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ciam-emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    seed_cmd = commands.add_parser("seed", help="create the demo tenant and write the app's .env keys")
    seed_cmd.add_argument("--instance-dir", type=Path, required=True)
    seed_cmd.add_argument("--app-url", default="http://localhost:5000", help="the web app's base URL")
    seed_cmd.add_argument("--env-file", type=Path, required=True)
    seed_cmd.add_argument("--base-url", default=f"https://{DEFAULT_HOST}:{DEFAULT_PORT}", help="the emulator's URL")
    seed_cmd.add_argument("--subdomain", default="contoso")
    seed_cmd.add_argument("--extra-redirect-uri", action="append", default=[])
    seed_cmd.add_argument("--rotate-secret", action="store_true", help="issue new client secrets")
    seed_cmd.add_argument("--api-env-file", type=Path, default=None, help="also write the mfa-app API's settings here")

    serve_cmd = commands.add_parser("serve", help="run the emulator over HTTPS")
    serve_cmd.add_argument("--instance-dir", type=Path, required=True)
    serve_cmd.add_argument("--host", default=DEFAULT_HOST)
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_cmd.add_argument("--base-url", default=None, help="public URL if not https://HOST:PORT")
    serve_cmd.add_argument(
        "--server",
        choices=("gunicorn", "werkzeug"),
        default="gunicorn",
        help="gunicorn keeps connections alive as Entra does (default); werkzeug closes each one",
    )
    return parser


def _seed(args: argparse.Namespace) -> int:
    tls = ensure_tls(args.instance_dir)
    # A new secret is needed when the env file has none to keep.
    rotate = args.rotate_secret or "CLIENT_SECRET" not in read_env_keys(args.env_file)
    rotate_api = args.api_env_file is not None and (
        args.rotate_secret or "API_CLIENT_SECRET" not in read_env_keys(args.api_env_file)
    )
    result = seed(
        args.instance_dir,
        app_base_url=args.app_url,
        subdomain=args.subdomain,
        extra_redirect_uris=args.extra_redirect_uri,
        rotate_secret=rotate,
        rotate_api_secret=rotate_api,
    )
    write_env_file(args.env_file, result, args.base_url, tls.ca_cert)
    if args.api_env_file is not None:
        write_api_env_file(args.api_env_file, result, args.base_url, tls.ca_cert)
        print(f"Wrote {args.api_env_file} (the mfa-app API's settings)")
    print(f"Tenant      {result.tenant_subdomain}.onmicrosoft.com ({result.tenant_id})")
    print(f"Web app     {result.client_id} (redirect URI {result.redirect_uri})")
    print(f"MFA API     api://{result.mfa_app_id}/User.MFA")
    print(f"Demo user   {result.demo_email} / {result.demo_password}")
    secret_note = "a new client secret" if result.client_secret else "the existing client secret"
    print(f"Wrote {args.env_file} ({secret_note}; CA bundle {tls.ca_cert})")
    return 0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # A supervisor's SIGTERM stops the server as cleanly as Ctrl-C does.
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    base_url = args.base_url or f"https://{args.host}:{args.port}"
    tls = ensure_tls(args.instance_dir, _tls_hosts(args.host))
    app = create_app(EmulatorSettings(instance_dir=args.instance_dir, base_url=base_url))
    print(f"CIAM emulator on {base_url}/ (CA certificate: {tls.ca_cert})")
    print(f"Outbox       {base_url}/_emulator/outbox")
    print("Press Ctrl-C to stop.")
    sys.stdout.flush()
    if args.server == "gunicorn":
        serve_keeping_connections(app, args.host, args.port, tls)  # gunicorn exits 0 on SIGTERM or Ctrl-C
        return 0
    server = make_server(app, args.host, args.port, tls)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopping.")
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "seed":
        return _seed(args)
    return _serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
