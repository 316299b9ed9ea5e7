"""The app as deployed behind a TLS-terminating proxy: Debian's nginx running the committed
deploy/nginx/ciam-webapp.conf in front of `ciam-webapp serve` (gunicorn gthread, TRUSTED_PROXIES=1).

What the proxy must get right, each proven through it: the app believes nginx's X-Forwarded-*
(and never a client's), bodies over the app's limit stop at nginx, the app's own timeouts answer
before nginx's, a stuck upstream gets a 504 after the connect timeout, plain HTTP goes to HTTPS,
only TLS 1.2 and 1.3 are spoken, and the access log keeps no code from the callback URL.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import SUITE_SECRETS
from tests.support.https_sites import GUNICORN_TIMEOUT
from tests.support.journeys import sign_in
from tests.support.nginx import committed_config, directive, seconds, size_in_bytes, start_nginx
from tests.support.person import Person
from tests.support.registration import register_app_urls
from tests.support.served_app import ServedApp, app_environment, start_served_app
from tests.support.servers import free_port

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
# What a client might send to make the app believe another scheme, host or port.
FORGED = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "80"}


def sign_out_form(page):
    return page.soup.find("form", attrs={"action": "/auth/sign-out"})


@contextlib.contextmanager
def extra_headers(person: Person, headers: dict[str, str]) -> Iterator[None]:
    person.http.headers.update(headers)
    try:
        yield
    finally:
        for name in headers:
            person.http.headers.pop(name, None)


def test_a_customer_signs_in_through_nginx_and_gets_one_hsts_header(proxied_webapp, https_person, tenant, customer):
    home = sign_in(https_person, proxied_webapp, tenant, customer.email, customer.password)
    assert home.status == 200 and home.url == proxied_webapp.url("/") and "Signed in as" in home.text
    profile = https_person.get(proxied_webapp.url("/profile"))
    assert profile.status == 200
    assert profile.soup.select_one('[data-field="email"]').get_text() == customer.email

    response = https_person.http.get(proxied_webapp.url("/claims"), timeout=15)
    assert response.status_code == 200 and customer.email in response.text
    # The app sends HSTS (it sees https through X-Forwarded-Proto); nginx adds no second copy.
    assert response.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
    assert response.headers["Server"] == "nginx", "server_tokens off: no version"
    [cookie] = [c for c in https_person.http.cookies if c.name.endswith("ciam_session")]
    assert cookie.name == "__Host-ciam_session" and cookie.secure and cookie.path == "/"


def test_the_app_believes_nginx_forwarded_headers_and_not_the_clients(
    proxied_webapp, https_person, tenant, customer
):
    home = sign_in(https_person, proxied_webapp, tenant, customer.email, customer.password)
    log_before = len(proxied_webapp.served.log_text())
    with extra_headers(https_person, FORGED):  # nginx replaces all three with what it knows
        # Scheme: the app applies HTTPS rules (the strict Referer check) although the client said http.
        missing = https_person.submit(home, form=sign_out_form(home), referer=None)
        # Host and port: the app compares the Referer with localhost:<nginx port>, not evil.example:80.
        forged_origin = https_person.submit(home, form=sign_out_form(home), referer="https://evil.example/")
        signed_out = https_person.submit(home, form=sign_out_form(home))
    assert missing.status == 400 and forged_origin.status == 400
    log = proxied_webapp.served.log_text()[log_before:]
    assert "CSRF check failed: The referrer header is missing." in log
    assert "CSRF check failed: The referrer does not match the host." in log
    assert https_person.referers_sent[-1] == proxied_webapp.url("/")
    assert signed_out.status == 200 and "You have been signed out." in signed_out.text


@pytest.fixture(scope="module")
def untrusting_server(tenant, tmp_path_factory) -> Iterator[ServedApp]:
    """`ciam-webapp serve` (gunicorn gthread) reached directly, with TRUSTED_PROXIES unset (0), as it must be
    without a proxy."""
    port = free_port()
    public_url = f"http://localhost:{port}"
    register_app_urls(tenant, public_url)
    workdir = tmp_path_factory.mktemp("untrusting")
    environment = app_environment(
        tenant, public_url=public_url, instance_dir=workdir / "instance", secret_key=secrets.token_hex(32)
    )
    SUITE_SECRETS.add(environment["SECRET_KEY"])
    served = start_served_app(environment, port=port, workers=1, timeout=GUNICORN_TIMEOUT, workdir=workdir)
    yield served
    served.stop()


def test_visitors_without_cookies_get_the_remembered_home_page_over_https(proxied_webapp, site_certificate):
    """The anonymous home page comes from memory (web/anonymous_pages.py), keyed by the scheme the app
    sees behind ProxyFix: through nginx, visitors arriving at once each get the HTTPS answer, HSTS
    once, and a request id of their own."""

    def visit(_: int) -> requests.Response:
        with requests.Session() as browser:  # a new visitor: no cookie
            return browser.get(proxied_webapp.url("/"), verify=str(site_certificate.client_bundle), timeout=15)

    for _ in range(3):  # the first burst fills the memory, the next ones are answered from it
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(visit, range(8)))
        assert {a.status_code for a in answers} == {200}
        for answer in answers:
            assert answer.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
            assert answer.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in answer.headers
        assert len({a.headers["X-Request-Id"] for a in answers}) == 8
        assert len({a.text for a in answers}) == 1 and "Sign in" in answers[0].text


def test_a_forged_https_claim_does_not_reach_the_remembered_home_page(untrusting_server):
    """Without TRUSTED_PROXIES the app keys its remembered home page by the real scheme: a client
    claiming https cannot make plain-HTTP visitors get an HSTS header."""
    for headers in ({"X-Forwarded-Proto": "https"}, {"X-Forwarded-Proto": "https"}, {}):
        response = requests.get(untrusting_server.url("/"), headers=headers, timeout=15)
        assert response.status_code == 200 and "Strict-Transport-Security" not in response.headers


def test_forwarded_headers_sent_straight_to_the_server_without_trusted_proxies_are_ignored(
    untrusting_server, tenant, customer
):
    claims_https = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Port": "443",
        "X-Forwarded-For": "203.0.113.7",
    }
    person = Person(tenant.ca_bundle)
    home = sign_in(person, untrusting_server, tenant, customer.email, customer.password)
    with extra_headers(person, claims_https):
        response = person.http.get(untrusting_server.url("/claims"), timeout=15)
        start = person.http.get(untrusting_server.url("/auth/sign-in"), allow_redirects=False, timeout=15)
        # Judged as the plain HTTP it is: no strict Referer check for a form without Referer.
        signed_out = person.submit(home, form=sign_out_form(home))
    person.http.close()  # an open keep-alive connection would hold the graceful shutdown
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert start.headers["Set-Cookie"].startswith("ciam.auth.") and "Secure" not in start.headers["Set-Cookie"]
    assert signed_out.status == 200 and "You have been signed out." in signed_out.text


def test_a_body_over_the_apps_limit_is_refused_by_nginx(proxied_webapp, webapp, https_person):
    limit = size_in_bytes(directive(committed_config(), "client_max_body_size"))
    assert limit == webapp.app.config["MAX_CONTENT_LENGTH"], "nginx's limit is the app's"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    url = proxied_webapp.url("/auth/sign-out")

    at_limit = https_person.http.post(url, data=b"x" * limit, headers=form_type, timeout=15)
    assert at_limit.status_code == 400 and "X-Request-Id" in at_limit.headers, "reached the app (no CSRF token)"
    assert "This form has expired" in at_limit.text

    over = https_person.http.post(url, data=b"x" * (limit + 1), headers=form_type, timeout=15)
    assert over.status_code == 413
    assert "X-Request-Id" not in over.headers and "413 Request Entity Too Large" in over.text, "nginx answered"


def test_the_apps_own_timeout_answers_before_nginx_gives_up(proxied_webapp, https_person, tenant, customer):
    http_timeout = float(proxied_webapp.environment["HTTP_TIMEOUT"])
    read_timeout = seconds(directive(committed_config(), "proxy_read_timeout"))
    assert read_timeout == GUNICORN_TIMEOUT, "proxy_read_timeout is as long as gunicorn's --timeout"
    assert http_timeout < read_timeout

    sign_in(https_person, proxied_webapp, tenant, customer.email, customer.password)
    tenant.graph_faults([{"delay_seconds": http_timeout + 3}])  # Graph answers /me too late
    started = time.monotonic()
    response = https_person.http.get(proxied_webapp.url("/profile"), timeout=read_timeout + 5)
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and "X-Request-Id" in response.headers, "the app's own 503 page"
    assert response.headers.get("Retry-After") or "Try again" in response.text
    assert http_timeout <= elapsed < http_timeout + 2.5


class StuckUpstream:
    """A listening socket whose accept queue is full: new connections are never accepted (the
    kernel drops their SYNs), like a gunicorn whose every worker is stuck."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.fillers: list[socket.socket] = []
        for _ in range(8):
            filler = socket.socket()
            filler.settimeout(0.3)
            self.fillers.append(filler)
            try:
                filler.connect(self.listener.getsockname())
            except TimeoutError:
                return  # this one was not accepted into the queue: it is full
        raise AssertionError("the accept queue never filled")

    def close(self) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()


def test_an_upstream_that_accepts_no_connection_gets_a_504_after_the_connect_timeout(
    site_certificate, https_person, tmp_path
):
    connect_timeout = seconds(directive(committed_config(), "proxy_connect_timeout"))
    upstream = StuckUpstream()
    nginx = start_nginx(
        upstream=upstream.address,
        certificate=site_certificate.cert_chain,
        private_key=site_certificate.private_key,
        keep_logs_in=tmp_path / "nginx-logs",
    )
    try:
        started = time.monotonic()
        response = https_person.http.get(nginx.https_url + "/", timeout=30)
        elapsed = time.monotonic() - started
        error_log = nginx.site_error_log.read_text(errors="replace")
    finally:
        nginx.stop()
        upstream.close()
    assert response.status_code == 504 and "504 Gateway Time-out" in response.text
    assert connect_timeout <= elapsed < connect_timeout + 3
    assert "upstream timed out" in error_log and "while connecting to upstream" in error_log


def test_plain_http_is_sent_to_https(proxied_webapp):
    response = requests.get(
        f"{proxied_webapp.nginx.http_url}/claims?tab=1", allow_redirects=False, timeout=15
    )
    assert response.status_code == 301
    assert response.headers["Location"] == "https://localhost/claims?tab=1"  # port 443 in production


def _handshake(port: int, ca_bundle: str, version: ssl.TLSVersion) -> str:
    context = ssl.create_default_context(cafile=ca_bundle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer the old protocol at all
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version() or ""


def test_nginx_speaks_tls_1_2_and_1_3_only(proxied_webapp, site_certificate):
    port, bundle = proxied_webapp.nginx.https_port, str(site_certificate.client_bundle)
    assert _handshake(port, bundle, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert _handshake(port, bundle, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError, match="(?i)protocol version|unsupported protocol"):
        _handshake(port, bundle, ssl.TLSVersion.TLSv1_1)


def test_access_log_records_no_query_string_and_no_referer(proxied_webapp, https_person, tenant, customer):
    home = sign_in(https_person, proxied_webapp, tenant, customer.email, customer.password)
    signed_out = https_person.submit(home, form=sign_out_form(home))
    assert signed_out.status == 200
    referer = https_person.referers_sent[-1]
    assert referer == proxied_webapp.url("/")

    lines = proxied_webapp.nginx.access_log_lines()
    assert any('"GET /auth/redirect HTTP/1.1" 303' in line for line in lines), lines[-5:]
    assert any('"POST /auth/sign-out HTTP/1.1" 303' in line for line in lines), lines[-5:]
    for line in lines:
        assert "?" not in line and "code=" not in line and "state=" not in line, line
        assert referer not in line, line

    log = proxied_webapp.served.log_text()
    assert "Booting worker" in log and "Traceback" not in log  # gunicorn started its worker
    for secret in (tenant.client_secret, proxied_webapp.environment["SECRET_KEY"], customer.password):
        assert secret not in log
    assert not JWT.search(log) and "code=" not in log


SLOW_CLIENTS = 16
TRICKLE_SECONDS = 1.0


def _slow_header_client(port: int, ca_bundle: str, until: float, cut_off_after: list[float]) -> None:
    """Opens a request and sends one more header line each second, never the blank line that ends them."""
    context = ssl.create_default_context(cafile=ca_bundle)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /claims HTTP/1.1\r\nHost: localhost\r\n")
            line = 0
            while time.monotonic() < until:
                time.sleep(TRICKLE_SECONDS)
                try:
                    tls.sendall(f"X-Slow-{line}: a\r\n".encode())
                    line += 1
                    tls.settimeout(0.01)
                    if tls.recv(1024) == b"":  # nginx closed the connection
                        break
                except (TimeoutError, ssl.SSLWantReadError):
                    continue  # still open, nothing to read
                except (OSError, ssl.SSLError):
                    break
                # An answer (408) arrived, or the connection was reset: nginx cut it off either way.
                break
            else:
                return  # never cut off
    cut_off_after.append(time.monotonic() - started)


def test_slow_header_clients_are_held_and_cut_off_by_nginx_while_healthz_stays_fast(
    proxied_webapp, site_certificate
):
    header_timeout = seconds(directive(committed_config(), "client_header_timeout"))
    assert header_timeout <= 10, "a client gets at most 10 s for its headers"
    until = time.monotonic() + header_timeout + 4
    cut_off_after: list[float] = []
    clients = [
        threading.Thread(
            target=_slow_header_client,
            args=(proxied_webapp.nginx.https_port, str(site_certificate.client_bundle), until, cut_off_after),
        )
        for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.start()
    probes: list[tuple[int, float]] = []
    probe = requests.Session()
    probe.trust_env = False  # REQUESTS_CA_BUNDLE would replace `verify`
    probe.verify = str(site_certificate.client_bundle)
    while time.monotonic() < until:
        started = time.monotonic()
        status = probe.get(proxied_webapp.url("/healthz"), headers={"Connection": "close"}, timeout=10).status_code
        probes.append((status, time.monotonic() - started))
        time.sleep(0.25)
    for client in clients:
        client.join(timeout=30)

    latencies = [seconds for _, seconds in probes]
    assert all(status == 200 for status, _ in probes) and len(probes) >= 10
    assert max(latencies) < 1.0, f"/healthz through nginx waited behind slow clients: max {max(latencies):.2f} s"
    assert len(cut_off_after) == SLOW_CLIENTS, "nginx cut every slow client off"
    assert all(header_timeout - 1 <= after < header_timeout + 3 for after in cut_off_after), cut_off_after
