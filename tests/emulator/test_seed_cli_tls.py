"""Seeding, the .env writer, TLS file reuse and the ciam-emulator command line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from dotenv import dotenv_values

from ciam_emulator.cli import main
from ciam_emulator.seed import seed, write_api_env_file, write_env_file
from ciam_emulator.tls import ensure_tls

from .conftest import trusted_session


def test_seed_is_idempotent_and_only_rotates_when_asked(tmp_path: Path) -> None:
    first = seed(tmp_path, app_base_url="http://localhost:5000")
    assert first.client_secret and first.demo_email == "demo@contoso.example"
    again = seed(tmp_path, app_base_url="http://localhost:5001")
    assert again.client_secret is None
    assert (again.tenant_id, again.client_id, again.mfa_app_id) == (first.tenant_id, first.client_id, first.mfa_app_id)
    assert again.redirect_uri == "http://localhost:5001/auth/redirect"
    rotated = seed(tmp_path, rotate_secret=True)
    assert rotated.client_secret and rotated.client_secret != first.client_secret
    assert first.mfa_scope == f"api://{first.mfa_app_id}/User.MFA"


def test_write_env_file_keeps_other_lines(tmp_path: Path) -> None:
    result = seed(tmp_path / "instance")
    env = tmp_path / ".env"
    env.write_text("# my settings\nSECRET_KEY=keep-me\nCLIENT_ID=old\nLOG_LEVEL=debug\n")
    write_env_file(env, result, "https://127.0.0.1:8443", tmp_path / "ca.pem")
    text = env.read_text()
    assert "# my settings\nSECRET_KEY=keep-me\n" in text and "LOG_LEVEL=debug" in text
    values = dotenv_values(env)
    assert values["CLIENT_ID"] == result.client_id
    assert values["CLIENT_SECRET"] == result.client_secret
    assert values["AUTHORITY"] == f"https://127.0.0.1:8443/{result.tenant_id}/"
    assert values["GRAPH_ENDPOINT"] == "https://127.0.0.1:8443/v1.0"
    assert values["MFA_SCOPE"] == f"api://{result.mfa_app_id}/User.MFA"
    assert values["CA_BUNDLE"] == str((tmp_path / "ca.pem").resolve())
    assert values["TENANT_SUBDOMAIN"] == "contoso" and values["TENANT_ID"] == result.tenant_id
    assert values["REDIRECT_URI"] == "http://localhost:5000/auth/redirect"
    assert values["POST_LOGOUT_REDIRECT_URI"] == "http://localhost:5000/"
    # Re-seeding without a new secret keeps the secret that is already in the file.
    write_env_file(env, seed(tmp_path / "instance"), "https://127.0.0.1:8443", tmp_path / "ca.pem")
    assert dotenv_values(env)["CLIENT_SECRET"] == result.client_secret
    assert env.read_text().count("CLIENT_ID=") == 1


def test_the_api_gets_a_secret_once_and_its_own_env_file(tmp_path: Path) -> None:
    """The mfa-app API's settings (the names of ciam_api's Settings) go to a second env file."""
    result = seed(tmp_path / "instance")
    assert result.api_client_secret and result.api_client_secret != result.client_secret
    assert seed(tmp_path / "instance").api_client_secret is None  # kept, not rotated
    api_env = tmp_path / "api.env"
    api_env.write_text("LOG_LEVEL=debug\n")
    write_api_env_file(api_env, result, "https://127.0.0.1:8443", tmp_path / "ca.pem")
    values = dotenv_values(api_env)
    assert values == {
        "LOG_LEVEL": "debug",
        "API_CLIENT_ID": result.mfa_app_id,
        "API_CLIENT_SECRET": result.api_client_secret,
        "TENANT_ID": result.tenant_id,
        "AUTHORITY": f"https://127.0.0.1:8443/{result.tenant_id}/",
        "ALLOWED_CLIENT_APPS": result.client_id,
        "REQUIRED_AUTH_CONTEXT": "c1",
        "GRAPH_ENDPOINT": "https://127.0.0.1:8443/v1.0",
        "CA_BUNDLE": str((tmp_path / "ca.pem").resolve()),
    }
    assert oct(api_env.stat().st_mode & 0o777) == "0o600"
    rotated = seed(tmp_path / "instance", rotate_api_secret=True)
    assert rotated.api_client_secret and rotated.api_client_secret != result.api_client_secret


def test_cli_seed_writes_the_api_env_file_when_asked(tmp_path: Path) -> None:
    env, api_env = tmp_path / ".env", tmp_path / "api.env"
    args = ["seed", "--instance-dir", str(tmp_path / "i"), "--env-file", str(env), "--api-env-file", str(api_env)]
    assert main(args) == 0
    first = api_env.read_text()
    assert "API_CLIENT_SECRET=" in first and "REQUIRED_AUTH_CONTEXT=c1" in first
    assert main(args) == 0  # keeps the secret it already wrote
    assert api_env.read_text() == first
    api_env.write_text("")  # an API env file without a secret gets a new one
    assert main(args) == 0
    assert dotenv_values(api_env)["API_CLIENT_SECRET"]


def test_tls_files_are_reused(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path)
    stamp = first.ca_cert.read_bytes()
    second = ensure_tls(tmp_path)
    assert second.ca_cert.read_bytes() == stamp
    assert oct(second.server_key.stat().st_mode & 0o777) == "0o600"
    third = ensure_tls(tmp_path, ("127.0.0.1", "localhost", "emulator.test"))
    assert third.ca_cert.read_bytes() != stamp  # a new host name needs a new certificate


def test_cli_seed_writes_env_file(tmp_path: Path, capsys) -> None:
    env = tmp_path / ".env"
    args = ["seed", "--instance-dir", str(tmp_path / "i"), "--app-url", "http://localhost:5000", "--env-file", str(env)]
    assert main(args) == 0
    first = env.read_text()
    assert "CLIENT_SECRET=" in first
    assert main(args) == 0  # keeps the secret it already wrote
    assert env.read_text() == first
    assert "demo@contoso.example" in capsys.readouterr().out


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int, Path]:
    instance = tmp_path / "i"
    assert main(["seed", "--instance-dir", str(instance), "--env-file", str(tmp_path / ".env")]) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "ciam_emulator.cli", "serve", "--instance-dir", str(instance), "--port", str(port)]
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, port, instance


def _wait_for(http: requests.Session, url: str) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return http.get(url, timeout=2)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.2)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    return output


def test_cli_serve_keeps_connections_alive_as_entra_does(tmp_path: Path, caplog) -> None:
    """`make run` serves the emulator this way: the app's calls reuse one TLS connection."""
    process, port, instance = _serve(tmp_path)
    try:
        http = trusted_session(instance / "tls" / "ca.pem")
        url = f"https://127.0.0.1:{port}/_emulator/outbox.json"
        first = _wait_for(http, url)
        assert first.status_code == 200 and first.headers.get("Connection", "").lower() != "close"
        http.close()  # forget the connections the start-up polling may have left
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
            answers = [http.get(url, timeout=2) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        opened = [r for r in caplog.records if r.getMessage().startswith("Starting new HTTPS connection")]
        assert len(opened) == 1, f"{len(opened)} TLS connections for 5 requests"
        http.close()
    finally:
        output = _stop(process)
    assert process.returncode == 0 and "Traceback" not in output


def test_cli_serve_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    instance = tmp_path / "i"
    assert main(["seed", "--instance-dir", str(instance), "--env-file", str(tmp_path / ".env")]) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "ciam_emulator.cli", "serve", "--instance-dir", str(instance), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        http = trusted_session(instance / "tls" / "ca.pem")
        deadline = time.monotonic() + 20
        while True:
            try:
                response = http.get(f"https://127.0.0.1:{port}/_emulator/outbox.json", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert http.get(f"https://127.0.0.1:{port}/_emulator/control/stats", timeout=2).status_code == 404
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)
    assert process.returncode == 0
    assert "/_emulator/outbox" in output and "Traceback" not in output
