"""The outbound session's TLS and environment handling (issue 16): one TLS context built at start-up
verifies every connection, and a call reads nothing from the environment, while verification stays
as strict as before (an unknown CA or another host name is refused). The web app and the API share
the session (ciam_core.outbound): every test runs with each app's."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from ciam_api import outbound as api_outbound
from ciam_emulator.tls import TlsFiles, ensure_tls
from ciam_webapp import outbound as webapp_outbound


class KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open between requests

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[webapp_outbound.OutboundSession, api_outbound.OutboundSession], ids=["webapp", "api"])
def session_class(request):  # type: ignore[no-untyped-def]
    """The web app's OutboundSession, then the API's."""
    return request.param


@dataclass
class HttpsServer:
    url: str
    tls: TlsFiles
    connections: list[object]


@pytest.fixture()
def https_server(tmp_path: Path) -> Iterator[HttpsServer]:
    yield from _serve(tmp_path / "a", "127.0.0.1")


def _serve(folder: Path, address: str) -> Iterator[HttpsServer]:
    tls = ensure_tls(folder)  # a certificate for 127.0.0.1 and localhost, from its own CA
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.server_cert), str(tls.server_key))
    connections: list[object] = []

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):  # type: ignore[no-untyped-def]
            sock, peer = super().get_request()
            connections.append(peer)
            return context.wrap_socket(sock, server_side=True), peer

    server = Server((address, 0), KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield HttpsServer(f"https://{address}:{server.server_address[1]}", tls, connections)
    finally:
        server.shutdown()
        server.server_close()


def test_a_call_reads_no_proxy_settings_or_netrc_from_the_environment(https_server, monkeypatch, session_class):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    session = session_class(timeout=5.0, ca_bundle=str(https_server.tls.ca_cert))

    def read_per_call(*args: object, **kwargs: object) -> None:
        raise AssertionError("the environment was read for one call")

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", read_per_call)
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", read_per_call)
    for _ in range(3):
        assert session.get(https_server.url + "/x").status_code == 200
    assert len(https_server.connections) == 1, "one kept-alive connection for all three calls"


def test_the_ca_bundle_is_loaded_once_not_per_connection(https_server, tmp_path, session_class):
    ca_copy = tmp_path / "ca-copy.pem"
    ca_copy.write_bytes(https_server.tls.ca_cert.read_bytes())
    session = session_class(timeout=5.0, ca_bundle=str(ca_copy))
    assert session.get(https_server.url + "/x").status_code == 200
    ca_copy.unlink()  # a new connection now would fail if it loaded the file again
    session.close()  # drops the pooled connection
    assert session.get(https_server.url + "/y").status_code == 200
    assert len(https_server.connections) == 2


def test_a_server_from_another_ca_is_refused(https_server, tmp_path, session_class):
    other_ca = ensure_tls(tmp_path / "other").ca_cert
    session = session_class(timeout=5.0, ca_bundle=str(other_ca))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(https_server.url + "/x")


def test_a_certificate_for_another_host_name_is_refused(tmp_path, session_class):
    # 127.0.0.2 is loopback too, but the certificate names only 127.0.0.1 and localhost.
    for server in _serve(tmp_path / "b", "127.0.0.2"):
        session = session_class(timeout=5.0, ca_bundle=str(server.tls.ca_cert))
        with pytest.raises(requests.exceptions.SSLError):
            session.get(server.url + "/x")


def test_the_environment_cannot_swap_the_trusted_cas_after_start_up(https_server, monkeypatch, tmp_path, session_class):
    session = session_class(timeout=5.0, ca_bundle=str(https_server.tls.ca_cert))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ensure_tls(tmp_path / "other").ca_cert))
    assert session.get(https_server.url + "/x").status_code == 200


def test_without_ca_bundle_the_environments_bundle_is_trusted(https_server, monkeypatch, session_class):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https_server.tls.ca_cert))
    assert session_class(timeout=5.0).get(https_server.url + "/x").status_code == 200
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(requests.exceptions.SSLError):  # certifi's bundle does not know the test CA
        session_class(timeout=5.0).get(https_server.url + "/x")


def test_with_proxy_variables_no_proxy_is_still_honoured(https_server, monkeypatch, session_class):
    # A proxy that does not exist: the call only succeeds because NO_PROXY sends it direct.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = session_class(timeout=5.0, ca_bundle=str(https_server.tls.ca_cert))
    assert session.trust_env
    assert session.get(https_server.url + "/x").status_code == 200
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(requests.exceptions.ProxyError):
        session_class(timeout=5.0, ca_bundle=str(https_server.tls.ca_cert)).get(https_server.url + "/x")


def test_each_app_names_itself_to_the_tenant_and_graph() -> None:
    assert webapp_outbound.OutboundSession(timeout=1.0).headers["User-Agent"] == "ciam-webapp"
    assert api_outbound.OutboundSession(timeout=1.0).headers["User-Agent"] == "ciam-api"


@pytest.mark.parametrize("which", ["webapp", "api"])
def test_an_app_loads_its_trusted_cas_once_for_all_its_sessions(which, https_server, tmp_path, monkeypatch):
    """The tenant's, Graph's (and the profile API's) sessions share one TLS context: a worker's start
    pays for reading the CA bundle once, not once per session (about 20 ms each for certifi's)."""
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(kwargs.get("cafile", args[0] if args else None))
        return load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    ca_bundle = str(https_server.tls.ca_cert)
    if which == "webapp":
        from ciam_webapp import Settings, create_app
        from tests.unit.test_config import VALID

        create_app(
            Settings.from_mapping(
                {**VALID, "INSTANCE_DIR": str(tmp_path), "CA_BUNDLE": ca_bundle, "PROFILE_API_URL": "https://127.0.0.1:9/"}
            )
        )
    else:
        from ciam_api import create_app as create_api
        from tests.api.conftest import api_settings
        from tests.api.fake_tenant import FakeTenant

        tenant = FakeTenant(tmp_path)
        try:
            create_api(api_settings(tenant))
        finally:
            tenant.stop()
    assert len(loads) == 1, loads
