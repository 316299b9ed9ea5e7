"""Debian's nginx running the committed deployment example (deploy/nginx/ciam-webapp.conf) in a test.

Only ports, file paths and the upstream address are replaced in that file; everything else is
run as written, so the example cannot drift from what the tests prove. nginx runs unprivileged:
in the foreground (`daemon off`), on free loopback ports, with its pid, temp folders and logs in
a folder of its own. When the tests run as root, nginx runs as `nobody`, in a folder that account
can use (pytest's temporary folders are private to their owner); its logs are copied into the
test's temporary folder when it stops.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .servers import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / "deploy" / "nginx" / "ciam-webapp.conf"
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
UNPRIVILEGED_USER = "nobody"

# What the committed file says, and what the test puts in its place.
PRODUCTION_UPSTREAM = "server 127.0.0.1:8000;"
PRODUCTION_HTTPS_LISTEN = "listen 443 ssl http2;"
PRODUCTION_HTTP_LISTEN = "listen 80;"
PRODUCTION_CERTIFICATE = "/etc/ssl/certs/account.contoso.com.fullchain.pem"
PRODUCTION_KEY = "/etc/ssl/private/account.contoso.com.key"
PRODUCTION_LOG_DIR = "/var/log/nginx/"


class NginxConfigChanged(AssertionError):
    """The committed config no longer holds what the test replaces: update this module with it."""


def committed_config() -> str:
    return DEPLOY_CONFIG.read_text(encoding="utf-8")


def directive(config: str, name: str) -> str:
    """The one value of `name` in the config (e.g. `client_max_body_size` → `64k`)."""
    values = re.findall(rf"^\s*{re.escape(name)}\s+([^;]+);", config, flags=re.MULTILINE)
    if len(values) != 1:
        raise NginxConfigChanged(f"expected one {name} in {DEPLOY_CONFIG}, found {values}")
    return values[0].strip()


def seconds(value: str) -> float:
    """An nginx time (`5s`, `1m`, `60`) in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    if not match:
        raise ValueError(f"not an nginx time: {value!r}")
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def size_in_bytes(value: str) -> int:
    """An nginx size (`64k`, `1m`, `512`) in bytes."""
    match = re.fullmatch(r"(\d+)([kKmMgG])?", value)
    if not match:
        raise ValueError(f"not an nginx size: {value!r}")
    unit = (match.group(2) or "").lower()
    return int(match.group(1)) * {"k": 1024, "m": 1024**2, "g": 1024**3, "": 1}[unit]


def render_site_config(
    config: str,
    *,
    https_port: int,
    http_port: int,
    upstream: str,
    certificate: Path,
    private_key: Path,
    log_dir: Path,
) -> str:
    """The committed config with loopback ports, the test's certificate, log folder and upstream."""
    replacements = [
        (PRODUCTION_HTTPS_LISTEN, f"listen 127.0.0.1:{https_port} ssl http2;"),
        (PRODUCTION_HTTP_LISTEN, f"listen 127.0.0.1:{http_port};"),
        (PRODUCTION_UPSTREAM, f"server {upstream};"),
        (PRODUCTION_CERTIFICATE, str(certificate)),
        (PRODUCTION_KEY, str(private_key)),
        (PRODUCTION_LOG_DIR, f"{log_dir}/"),
    ]
    for production, test_value in replacements:
        if production not in config:
            raise NginxConfigChanged(
                f"{DEPLOY_CONFIG} no longer contains {production!r}: update tests/support/nginx.py with it"
            )
        config = config.replace(production, test_value)
    return config


# The main configuration a Debian install keeps in /etc/nginx/nginx.conf, cut down to what a
# foreground nginx in a folder of its own needs; the site file is included as sites-enabled/ is.
_MAIN_CONFIG = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log notice;
events {{
    worker_connections 256;
}}
http {{
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    include {root}/sites-enabled/ciam-webapp.conf;
}}
"""


@dataclass
class NginxServer:
    """One nginx master process (with its worker) serving the rendered site config."""

    root: Path
    https_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    keep_logs_in: Path

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://localhost:{self.http_port}"

    @property
    def access_log(self) -> Path:
        return self.root / "logs" / "ciam-webapp.access.log"

    @property
    def site_error_log(self) -> Path:
        return self.root / "logs" / "ciam-webapp.error.log"

    def access_log_lines(self) -> list[str]:
        return self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()

    def stop(self) -> None:
        """Graceful shutdown (SIGQUIT: finish open requests, then exit); killed if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.keep_logs_in.mkdir(parents=True, exist_ok=True)
        for log in (self.root / "logs").glob("*.log"):
            shutil.copyfile(log, self.keep_logs_in / log.name)
        shutil.rmtree(self.root, ignore_errors=True)


def start_nginx(*, upstream: str, certificate: Path, private_key: Path, keep_logs_in: Path) -> NginxServer:
    """Render the committed config for free ports and `upstream` (host:port), start nginx, wait for it."""
    if not Path(NGINX).exists():
        raise AssertionError(f"{NGINX} is missing: `make test` installs Debian's nginx (apt-get install nginx-light)")
    root = Path(tempfile.mkdtemp(prefix="ciam-nginx-"))
    for folder in ("logs", "temp", "sites-enabled", "tls"):
        (root / folder).mkdir()
    # Copies that the unprivileged account can read (the originals live in pytest's private folders).
    shutil.copyfile(certificate, root / "tls" / "site.pem")
    shutil.copyfile(private_key, root / "tls" / "site-key.pem")
    https_port, http_port = free_port(), free_port()
    site = render_site_config(
        committed_config(),
        https_port=https_port,
        http_port=http_port,
        upstream=upstream,
        certificate=root / "tls" / "site.pem",
        private_key=root / "tls" / "site-key.pem",
        log_dir=root / "logs",
    )
    (root / "sites-enabled" / "ciam-webapp.conf").write_text(site, encoding="utf-8")
    (root / "nginx.conf").write_text(_MAIN_CONFIG.format(root=root), encoding="utf-8")
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED_USER)
        for path in [root, *root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    command = [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "logs" / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, timeout=30, **run_as)  # type: ignore[call-overload]
    if checked.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise AssertionError(f"nginx -t refused the rendered config:\n{checked.stderr.decode(errors='replace')}")
    process = subprocess.Popen(  # type: ignore[call-overload]
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run_as
    )
    server = NginxServer(root, https_port, http_port, process, keep_logs_in)
    try:
        _wait_for_port(server)
    except AssertionError:
        server.stop()
        raise
    return server


def _wait_for_port(server: NginxServer, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.root / "logs" / "error.log").read_text(errors="replace")
            raise AssertionError(f"nginx exited with {server.process.returncode}:\n{log[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", server.https_port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {server.https_port} within {timeout} s")
