"""The app reached over HTTPS, the two ways production serves it:

- directly over TLS (the app's own server holds the certificate), in this process;
- behind nginx, which terminates TLS in front of `ciam-webapp serve` (gunicorn gthread, TRUSTED_PROXIES=1),
  running the committed deploy/nginx/ciam-webapp.conf.

Each listens on its own port, so its redirect URIs are added to the emulator's web app
registration first, as a real deployment registers its public URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server as make_wsgi_server

from ciam_webapp import create_app

from .nginx import NginxServer, start_nginx
from .registration import register_app_urls
from .served_app import ServedApp, app_environment, start_served_app
from .servers import AppOnThread, ServerThread, free_port
from .site_tls import SITE_HOST, SiteCertificate

GUNICORN_TIMEOUT = 60  # as the README's `ciam-webapp serve --timeout 60`


def start_tls_webapp(tenant: Any, certificate: SiteCertificate, settings_for: Any, instance_dir: Path) -> AppOnThread:
    """`settings_for(public_url, instance_dir)` gives the app's Settings (tests.conftest.app_settings)."""
    port = free_port()
    base_url = f"https://{SITE_HOST}:{port}"
    register_app_urls(tenant, base_url)
    settings = settings_for(base_url, instance_dir)
    app = create_app(settings)
    server = ServerThread(
        make_wsgi_server("127.0.0.1", port, app, threaded=True, ssl_context=certificate.server_context())
    )
    return AppOnThread(base_url=base_url, app=app, settings=settings, server=server)


@dataclass
class ProxiedApp:
    """nginx (TLS) → `ciam-webapp serve` (gunicorn gthread, TRUSTED_PROXIES=1), as deployed."""

    nginx: NginxServer
    served: ServedApp
    environment: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return self.nginx.https_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def stop(self) -> None:
        self.nginx.stop()
        self.served.stop()


def start_proxied_app(
    tenant: Any, certificate: SiteCertificate, workdir: Path, *, http_timeout: str = "3", **overrides: str
) -> ProxiedApp:
    """`overrides`: more settings for the app (e.g. PROFILE_API_URL for API mode)."""
    server_port = free_port()
    nginx = start_nginx(
        upstream=f"127.0.0.1:{server_port}",
        certificate=certificate.cert_chain,
        private_key=certificate.private_key,
        keep_logs_in=workdir / "nginx-logs",
    )
    try:
        register_app_urls(tenant, nginx.https_url)
        environment = app_environment(
            tenant,
            public_url=nginx.https_url,
            instance_dir=workdir / "instance",
            secret_key=secrets.token_hex(32),
            TRUSTED_PROXIES="1",
            HTTP_TIMEOUT=http_timeout,
            **overrides,
        )
        served = start_served_app(
            environment, port=server_port, workers=2, timeout=GUNICORN_TIMEOUT, workdir=workdir / "server"
        )
    except BaseException:
        nginx.stop()
        raise
    return ProxiedApp(nginx=nginx, served=served, environment=environment)
