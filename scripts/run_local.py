"""`make run`: the local tenant emulator, the mfa-app API and the web app, together, in one terminal.

Seeds the emulator's tenant (first run only), writes the app's `.env` and the API's `api.env` for it,
starts all three as child processes, prints where everything is, and stops them on Ctrl-C. The web app
runs in API mode (PROFILE_API_URL): it sends the profile edit to the API, which edits through Graph on
behalf of the customer. The app and the API learn about the emulator only through their env files
(AUTHORITY, GRAPH_ENDPOINT, CA_BUNDLE...), exactly as they would about a real tenant.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from dotenv import dotenv_values, set_key

from ciam_emulator.seed import seed, write_api_env_file, write_env_file
from ciam_emulator.tls import ensure_tls

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=5001)
    parser.add_argument("--emulator-port", type=int, default=8443)
    parser.add_argument("--instance-dir", default=str(ROOT / "instance" / "emulator"))
    parser.add_argument("--env-file", default=str(ROOT / ".env"))
    parser.add_argument("--api-env-file", default=str(ROOT / "api.env"))
    args = parser.parse_args()
    # Stop the children on SIGTERM (a terminal closing, `timeout`, a supervisor) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)

    instance_dir = Path(args.instance_dir)
    app_url = f"http://localhost:{args.app_port}"
    # Plain http on localhost: the customer's token never leaves this machine (config.py allows it only here).
    api_url = f"http://localhost:{args.api_port}"
    emulator_url = f"https://127.0.0.1:{args.emulator_port}"
    tls = ensure_tls(instance_dir)
    env_file, api_env_file = Path(args.env_file), Path(args.api_env_file)
    existing = dotenv_values(env_file) if env_file.exists() else {}
    existing_api = dotenv_values(api_env_file) if api_env_file.exists() else {}
    seeded = seed(instance_dir, app_base_url=app_url)
    # A registration that exists while its env file lacks the secret gets a new secret.
    rotate_app = seeded.client_secret is None and existing.get("CLIENT_ID") != seeded.client_id
    rotate_api = seeded.api_client_secret is None and (
        existing_api.get("API_CLIENT_ID") != seeded.mfa_app_id or not existing_api.get("API_CLIENT_SECRET")
    )
    if rotate_app or rotate_api:
        seeded = seed(instance_dir, app_base_url=app_url, rotate_secret=rotate_app, rotate_api_secret=rotate_api)
    write_env_file(env_file, seeded, emulator_url, tls.ca_cert)  # keeps the secret it holds unless a new one came
    write_api_env_file(api_env_file, seeded, emulator_url, tls.ca_cert)
    _ensure_app_secrets(env_file, profile_api_url=api_url)
    api_dir = instance_dir.parent / "api"  # the API's working folder, away from the web app's .env
    api_dir.mkdir(parents=True, exist_ok=True)

    children = [
        _start(
            [
                str(BIN / "ciam-emulator"),
                "serve",
                "--instance-dir",
                str(instance_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(args.emulator_port),
            ]
        ),
    ]
    try:
        _wait_until_up(f"{emulator_url}/{seeded.tenant_id}/v2.0/.well-known/openid-configuration", str(tls.ca_cert))
        children.append(
            _start(
                [
                    str(BIN / "ciam-api"),
                    "--env-file",
                    str(api_env_file.resolve()),
                    "run",
                    "--host",
                    "localhost",
                    "--port",
                    str(args.api_port),
                ],
                cwd=api_dir,
            )
        )
        _wait_until_up(f"{api_url}/healthz", None)
        children.append(
            _start(
                [str(BIN / "ciam-webapp"), "run", "--host", "localhost", "--port", str(args.app_port)],
                cwd=env_file.parent,
            )
        )
        _wait_until_up(f"{app_url}/healthz", None)
        print(
            "\n".join(
                [
                    "",
                    "Contoso customer account is running.",
                    f"  App:            {app_url}",
                    f"  Profile API:    {api_url}  (OpenAPI: {api_url}/openapi.json; the app edits through it)",
                    f"  Local tenant:   {emulator_url}  (its CA: {tls.ca_cert})",
                    f"  Demo customer:  {seeded.demo_email} / {seeded.demo_password}",
                    f"  Codes (outbox): {emulator_url}/_emulator/outbox",
                    "Press Ctrl-C to stop all three.",
                    "",
                ]
            ),
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1  # one of them exited by itself
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _ensure_app_secrets(env_file: Path, *, profile_api_url: str) -> None:
    values = dotenv_values(env_file)
    if not values.get("SECRET_KEY"):
        set_key(str(env_file), "SECRET_KEY", secrets.token_hex(32), quote_mode="never")
    # API mode: the app asks Graph only for User.Read (config.py), so an older .env's GRAPH_SCOPES with
    # User.ReadWrite would stop it; `make run` owns that key.
    set_key(str(env_file), "PROFILE_API_URL", profile_api_url, quote_mode="never")
    if values.get("GRAPH_SCOPES"):
        set_key(str(env_file), "GRAPH_SCOPES", "User.Read", quote_mode="never")
    os.chmod(env_file, 0o600)


def _start(command: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=cwd or ROOT)  # noqa: S603 - our own console scripts


def _wait_until_up(url: str, ca_bundle: str | None, timeout: float = 30.0) -> None:
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(url, timeout=2, verify=ca_bundle or True).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
