"""`make run`: the local tenant emulator and the web app, together, in one terminal.

Seeds the emulator's tenant (first run only), writes the app's `.env` for it, starts both as child
processes, prints where everything is, and stops both on Ctrl-C. The app learns about the emulator
only through `.env` (AUTHORITY, GRAPH_ENDPOINT, CA_BUNDLE...), exactly as it would about a real tenant.
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

from ciam_emulator.seed import seed, write_env_file
from ciam_emulator.tls import ensure_tls

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-port", type=int, default=5000)
    parser.add_argument("--emulator-port", type=int, default=8443)
    parser.add_argument("--instance-dir", default=str(ROOT / "instance" / "emulator"))
    parser.add_argument("--env-file", default=str(ROOT / ".env"))
    args = parser.parse_args()
    # Stop both children on SIGTERM (a terminal closing, `timeout`, a supervisor) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)

    instance_dir = Path(args.instance_dir)
    app_url = f"http://localhost:{args.app_port}"
    emulator_url = f"https://127.0.0.1:{args.emulator_port}"
    tls = ensure_tls(instance_dir)
    seeded = seed(instance_dir, app_base_url=app_url)
    env_file = Path(args.env_file)
    existing = dotenv_values(env_file) if env_file.exists() else {}
    if seeded.client_secret is None and existing.get("CLIENT_ID") != seeded.client_id:
        # The registration exists but this .env does not hold its secret: issue a new one.
        seeded = seed(instance_dir, app_base_url=app_url, rotate_secret=True)
    write_env_file(env_file, seeded, emulator_url, tls.ca_cert)  # keeps the secret it holds unless a new one came
    _ensure_app_secrets(env_file)

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
                    f"  Local tenant:   {emulator_url}  (its CA: {tls.ca_cert})",
                    f"  Demo customer:  {seeded.demo_email} / {seeded.demo_password}",
                    f"  Codes (outbox): {emulator_url}/_emulator/outbox",
                    "Press Ctrl-C to stop both.",
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


def _ensure_app_secrets(env_file: Path) -> None:
    values = dotenv_values(env_file)
    if not values.get("SECRET_KEY"):
        set_key(str(env_file), "SECRET_KEY", secrets.token_hex(32), quote_mode="never")
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
