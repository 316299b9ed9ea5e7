"""`ciam-register`: register the apps, consent, the authentication context and the MFA policies, and
write the web app's .env and the mfa-app API's env file."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ciam_registration.admin_token import (
    GRAPH_COMMAND_LINE_TOOLS_CLIENT_ID,
    ciam_authority,
    token_by_device_code,
    token_from_environment,
)
from ciam_registration.env_file import read_env_values, update_env_file
from ciam_registration.errors import RegistrationError
from ciam_registration.graph_client import DEFAULT_GRAPH_ENDPOINT, GraphClient
from ciam_registration.registrar import Registrar, RegistrationSettings

EXIT_OK = 0
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ciam-register",
        description="Register the web app and the mfa-app in a Microsoft Entra External ID tenant through "
        "Microsoft Graph (idempotent), and write the web app's settings to a .env file.",
    )
    parser.add_argument("--tenant-subdomain", required=True, help="'contoso' for contoso.ciamlogin.com")
    sign_in = parser.add_mutually_exclusive_group(required=True)
    sign_in.add_argument(
        "--device-code", action="store_true", help="sign in as a tenant admin with the device code flow"
    )
    sign_in.add_argument(
        "--access-token-env", metavar="VAR", help="read a Graph access token from this environment variable"
    )
    parser.add_argument(
        "--client-id",
        default=GRAPH_COMMAND_LINE_TOOLS_CLIENT_ID,
        help="public client for --device-code (default: Microsoft Graph Command Line Tools)",
    )
    parser.add_argument("--authority", help="authority for --device-code (default: https://{subdomain}.ciamlogin.com/)")
    parser.add_argument("--redirect-uri", default="http://localhost:5000/auth/redirect")
    parser.add_argument("--post-logout-redirect-uri", default="http://localhost:5000/")
    parser.add_argument(
        "--web-app-name",
        default="",
        help="the name customers see on the sign-in pages (default: the subdomain capitalized, e.g. Contoso)",
    )
    parser.add_argument("--mfa-app-name", default="mfa-app")
    parser.add_argument("--policy-name", default="", help="default: 'Require MFA for {mfa-app name}'")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="written with 0600 permissions")
    parser.add_argument(
        "--api-env-file",
        type=Path,
        default=None,
        help="the mfa-app API's settings, with its client secret (default: api.env next to --env-file; 0600)",
    )
    parser.add_argument(
        "--auth-context",
        default="c1",
        help="the authentication context the API can require, with a policy requiring MFA (default: c1)",
    )
    parser.add_argument(
        "--user-flow-name",
        default="",
        help="the user flow for the web app (default: '{web app name} sign-up and sign-in')",
    )
    parser.add_argument(
        "--sign-in-method",
        choices=("email_password", "email_otp"),
        default="email_password",
        help="how the user flow signs customers in: email with password, or an emailed one-time passcode",
    )
    parser.add_argument(
        "--rotate-secret", action="store_true", help="add new client secrets even if the env files have them"
    )
    parser.add_argument("--secret-days", type=int, default=180, help="lifetime of a new client secret")
    parser.add_argument("--graph-endpoint", default=DEFAULT_GRAPH_ENDPOINT)
    parser.add_argument("--ca-bundle", help="PEM file of a CA to trust (e.g. the local emulator's)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each HTTP answer")
    parser.add_argument("--verbose", action="store_true", help="log each Graph call (method, path, status)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    settings = RegistrationSettings(
        tenant_subdomain=args.tenant_subdomain,
        redirect_uri=args.redirect_uri,
        post_logout_redirect_uri=args.post_logout_redirect_uri,
        web_app_name=args.web_app_name,
        mfa_app_name=args.mfa_app_name,
        policy_name=args.policy_name,
        rotate_secret=args.rotate_secret,
        secret_lifetime_days=args.secret_days,
        auth_context=args.auth_context,
        user_flow_name=args.user_flow_name,
        sign_in_method=args.sign_in_method,
    )
    api_env_file = args.api_env_file or args.env_file.parent / "api.env"
    try:
        if args.device_code:
            token = token_by_device_code(
                authority=args.authority or ciam_authority(args.tenant_subdomain),
                client_id=args.client_id,
                ca_bundle=args.ca_bundle,
                timeout=args.timeout,
            )
        else:
            token = token_from_environment(args.access_token_env)
        graph = GraphClient(
            token,
            base_url=args.graph_endpoint,
            ca_bundle=args.ca_bundle,
            timeout=(min(5.0, args.timeout), args.timeout),
        )
        existing_env = read_env_values(args.env_file)
        registrar = Registrar(graph, settings, report=lambda line: print(f"  {line}"))
        result = registrar.register(existing_env, read_env_values(api_env_file))
        update_env_file(args.env_file, result.env_values(settings))
        update_env_file(api_env_file, result.api_env_values())
    except RegistrationError as problem:
        print(f"ciam-register: {problem}", file=sys.stderr)
        return EXIT_FAILED
    if not result.changes:
        print("Nothing to change: the tenant already matches.")
    print(f"Web app client id: {result.web_app_id}")
    print(f"MFA scope:         {result.mfa_scope}")
    secret_note = "a new client secret" if result.client_secret else "the existing client secret"
    print(f"Wrote {args.env_file} (with {secret_note}; it is not shown here).")
    api_note = "a new client secret" if result.api_client_secret else "the existing client secret"
    print(f"API client id:     {result.mfa_app_id} (auth context {result.auth_context})")
    print(f"Wrote {api_env_file} (with {api_note}; it is not shown here).")
    print(f"User flow:         {settings.user_flow_display_name} ({result.user_flow_id}, {settings.sign_in_method})")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
