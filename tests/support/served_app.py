"""`ciam-webapp serve` (gunicorn gthread by default, granian with server="granian") or `ciam-api serve`
as a subprocess, configured by its environment alone, as in production."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import requests

from ciam_webapp import Settings

from .registration import register_app_urls
from .servers import free_port


def app_environment(
    tenant, *, public_url: str, instance_dir: Path, secret_key: str, **overrides: str
) -> dict[str, str]:
    """The app's settings for the emulated tenant, as environment variables; `public_url` is where
    browsers reach the app (its redirect URIs derive from it)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(instance_dir),
        "LANG": "C.UTF-8",
        "CLIENT_ID": tenant.client_id,
        "CLIENT_SECRET": tenant.client_secret,
        "TENANT_SUBDOMAIN": tenant.subdomain,
        "AUTHORITY": f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/",
        "REDIRECT_URI": f"{public_url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{public_url}/",
        "SECRET_KEY": secret_key,
        "MFA_SCOPE": f"api://{tenant.mfa_app_id}/User.MFA",
        "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
        "CA_BUNDLE": tenant.ca_bundle,
        "INSTANCE_DIR": str(instance_dir),
        "HTTP_TIMEOUT": "5",
    }
    environment.update(overrides)
    return environment


def serve_command(program: str = "ciam-webapp") -> list[str]:
    """The console script of this virtualenv (`ciam-webapp`, or `ciam-api` for the mfa-app API)."""
    script = Path(sys.executable).parent / program
    return [str(script)] if script.exists() else [sys.executable, "-m", f"{program.replace('-', '_')}.cli"]


@dataclass
class ServedApp:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    environment: Mapping[str, str]  # the whole configuration it was started with
    scheme: str = "http"  # "https" when served with --certfile/--keyfile (the mfa-app API)
    ca_bundle: str | None = None  # what a client must trust to reach it over https
    unix_socket: Path | None = None  # served on this Unix socket instead of the port (--bind unix:PATH)

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        """A new HTTP connection to the server itself, over its Unix socket or its port."""
        if self.unix_socket is not None:
            return UnixSocketConnection(self.unix_socket, timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def direct_url(self) -> str:
        """The server itself, bypassing any proxy."""
        return f"{self.scheme}://localhost:{self.port}"

    base_url = direct_url

    def url(self, path: str) -> str:
        return self.direct_url + path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @cached_property
    def settings(self) -> Settings:
        """The settings the served app reads from its environment."""
        return Settings.from_mapping(self.environment)

    def reload_workers(self) -> None:
        """granian's graceful restart: SIGHUP to the master replaces the workers one by one, new first."""
        self.process.send_signal(signal.SIGHUP)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # granian and gunicorn: graceful shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_served_app(
    environment: Mapping[str, str],
    *,
    port: int,
    workers: int,
    timeout: int,
    workdir: Path,
    program: str = "ciam-webapp",
    certificate: tuple[Path, Path, Path] | None = None,
    max_requests: int | None = None,
    server: str | None = None,
    unix_socket: Path | None = None,
) -> ServedApp:
    """`ciam-webapp serve` (or `program serve`) on 127.0.0.1:`port`, waited for until /healthz answers.

    `certificate` (chain, key, CA bundle to trust): serve HTTPS with gunicorn's own TLS (`ciam-api serve`).
    `server`: "granian" for `ciam-webapp serve --server granian`; by default no --server, so the
    command's own default (gunicorn gthread; `ciam-api` has gunicorn only and no --server).
    `unix_socket`: bind that instead of the port (reach it with `ServedApp.connection()`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *serve_command(program),
                "serve",
                "--bind", f"unix:{unix_socket}" if unix_socket else f"127.0.0.1:{port}",
                "--workers", str(workers),
                "--timeout", str(timeout),
                *(["--certfile", str(certificate[0]), "--keyfile", str(certificate[1])] if certificate else []),
                *(["--max-requests", str(max_requests)] if max_requests else []),
                *(["--server", server] if server else []),
            ],
            cwd=workdir,  # no .env here: the environment is the whole configuration
            env=dict(environment),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    served = ServedApp(
        process,
        port,
        log_path,
        dict(environment),
        scheme="https" if certificate else "http",
        ca_bundle=str(certificate[2]) if certificate else None,
        unix_socket=unix_socket,
    )
    try:
        _wait_until_healthy(served)
    except BaseException:
        served.stop()  # never leave a server behind a failed start
        raise
    return served


def _wait_until_healthy(served: ServedApp, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{served.log_text()[-3000:]}")
        try:
            if served.unix_socket is not None:
                if _status_over_socket(served, "/healthz") == 200:
                    return
            else:
                verify: str | bool = served.ca_bundle or True
                if requests.get(f"{served.direct_url}/healthz", timeout=2, verify=verify).status_code == 200:
                    return
        except (requests.ConnectionError, requests.Timeout, OSError):
            pass  # not listening yet, or its workers are still booting
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz within {timeout} s")


class UnixSocketConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (what nginx's `proxy_pass http://unix:PATH` speaks)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _status_over_socket(served: ServedApp, path: str) -> int:
    connection = served.connection(timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def serve_for_tenant(
    tenant: Any, workdir: Path, *, workers: int, timeout: int = 30, env: Mapping[str, str] | None = None, **serve: Any
) -> ServedApp:
    """`ciam-webapp serve` for the test tenant on a free port of localhost: its URLs registered with
    the tenant, a secret key of its own (one of the suite's secrets), `env` on top of the tenant's
    settings; `serve` goes to `start_served_app` (max_requests, server, ...)."""
    from tests.conftest import SUITE_SECRETS  # tests/conftest.py imports this module

    port = free_port()
    base_url = f"http://localhost:{port}"
    register_app_urls(tenant, base_url)
    secret_key = secrets.token_hex(32)
    SUITE_SECRETS.add(secret_key)
    environment = app_environment(
        tenant, public_url=base_url, instance_dir=workdir / "instance", secret_key=secret_key, **(env or {})
    )
    return start_served_app(environment, port=port, workers=workers, timeout=timeout, workdir=workdir, **serve)
