"""The HTTP sessions the web app and the API use to talk to the tenant, to Microsoft Graph and (the
web app) to the API. Each app subclasses `OutboundSession` only to name itself in User-Agent.

Two guarantees live here so no caller can forget them:
- every request has a timeout (MSAL, discovery, JWKS and Graph all go through these sessions);
- every HTTPS connection is verified against one TLS context, built once with the trusted CAs
  (CA_BUNDLE, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE as `requests` reads them, else certifi's
  bundle, `requests`' default); nothing in the environment can swap it afterwards.

What a call costs is kept to the HTTP work itself. Left to its defaults, `requests` re-reads the
whole environment for proxy settings and ~/.netrc on every call (`trust_env`), and a per-call
`verify=<path>` makes every new connection load the CA file again; that was most of the 2-3.5 ms
of CPU a kept-alive call took (benchmarks/profiling-notes.md). So the environment is read once,
here: without proxy variables `trust_env` is off; with them it stays on, so NO_PROXY and the
proxies keep working exactly as `requests` applies them.
The retry policy is per use: the tenant session retries idempotent GETs (discovery, JWKS) on
connection errors and 502/503/504 but never a POST (a code redemption must not be replayed blindly);
the Graph session also retries 429/503 on GET and PATCH, honouring Retry-After up to a bound.

A third guarantee protects the process rather than the call: bulkheads bound how many outbound
calls are in flight at once, for the process (tenant and Graph together) and for each destination.
A hanging tenant would otherwise hold every thread of a gunicorn worker, so that /healthz and static
files wait behind it and the platform replaces a healthy instance; and with one bound only, a
hanging tenant would take every slot and Graph pages would fail too. When a bound is reached a
call waits a moment for a slot while the calls in flight are young (a burst against a healthy
destination), and fails at once when one of them has hung for half a second, with
`OutboundCallsExhausted`, a `requests.ConnectionError`, which every caller already turns into a
503 ("try again in a moment"), exactly as for an unreachable tenant.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util.retry import Retry
from urllib3.util.ssl_ import create_urllib3_context

log = logging.getLogger(__name__)

# (connect, read) seconds, as `requests` takes them; a single number means both.
Timeout = float | tuple[float, float]


class OutboundCallsExhausted(requests.ConnectionError):
    """The process already has as many outbound calls in flight as its bulkhead allows."""


class Bulkhead:
    """At most `limit` outbound calls in flight through it.

    One more call waits for a slot, at most `max_wait` seconds, only while the calls in flight are
    young (none older than `slow_after`): a healthy tenant or Graph answers in tens of milliseconds,
    so a burst of page views (more calls than slots) queues for a moment instead of showing the 503
    page. Once a call in flight has taken longer than that, the destination is hanging: the extra call
    is refused at once, because a queued call would hold its thread as a hanging one does, and
    /healthz and static files would wait behind it."""

    def __init__(self, limit: int, name: str, *, max_wait: float = 0.2, slow_after: float = 0.5) -> None:
        if limit < 1:
            raise ValueError("a bulkhead needs room for at least one call")
        self.limit = limit
        self.name = name
        self.max_wait = max_wait
        self.slow_after = slow_after
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}  # thread id -> when its call took the slot

    def enter(self, method: str, url: str) -> None:
        if not self._slots.acquire(blocking=False) and not (
            self._in_flight_are_young() and self._slots.acquire(timeout=self.max_wait)
        ):
            parts = urlsplit(url)  # host and path only: a query string may carry a code or hint
            log.warning(
                "outbound call refused: %d %s calls already in flight (its limit); %s %s://%s%s",
                self.limit,
                self.name,
                method,
                parts.scheme,
                parts.netloc,
                parts.path,
            )
            raise OutboundCallsExhausted(f"{self.limit} {self.name} calls already in flight")
        with self._lock:
            self._started[threading.get_ident()] = time.monotonic()

    def leave(self) -> None:
        with self._lock:
            self._started.pop(threading.get_ident(), None)
        self._slots.release()

    def _in_flight_are_young(self) -> bool:
        with self._lock:
            oldest = min(self._started.values(), default=None)
        return oldest is None or time.monotonic() - oldest < self.slow_after


# Outbound calls in flight per process when the server sets no bound (`serve` sets its threads - 1):
# a development server starts a thread per request, so there the bound only stops a runaway, it
# cannot keep a thread free.
DEFAULT_OUTBOUND_CALL_LIMIT = 32


def destination_bulkheads(limit: int, destinations: Sequence[str]) -> dict[str, tuple[Bulkhead, Bulkhead]]:
    """Each destination's bulkheads: its own bound, one less than the process's, and the process's,
    shared by all. The process's bound protects its threads; one less for each destination keeps a
    slot for the others, so a hanging tenant does not also fail pages that need only Graph (and the
    reverse)."""
    every_call = Bulkhead(limit, "outbound")
    return {name: (Bulkhead(max(1, limit - 1), name), every_call) for name in destinations}


def trusted_ca_file(ca_bundle: str | None) -> str:
    """The CA file to trust: CA_BUNDLE, else what `requests` would take from the environment, else its default."""
    return (
        ca_bundle
        or os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or DEFAULT_CA_BUNDLE_PATH
    )


def tls_context(ca_file: str) -> ssl.SSLContext:
    """urllib3's own defaults (TLS 1.2+, certificate and host name required), with `ca_file` loaded once."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.load_verify_locations(cafile=ca_file)
    return context


class OneContextAdapter(HTTPAdapter):
    """Verifies every HTTPS connection, direct or through a proxy, with one prepared TLS context.

    `requests` would otherwise name a CA file on each pool (`cert_verify`), and urllib3 loads a named
    file into a new context for every new connection."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self.tls = context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, ssl_context=self.tls, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("ssl_context", self.tls)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        if verify is True and not cert and url.lower().startswith("https"):
            conn.cert_reqs = "CERT_REQUIRED"  # against self.tls: no file to name
            conn.ca_certs = None
            conn.ca_cert_dir = None
            return
        super().cert_verify(conn, url, verify, cert)  # a caller's explicit verify=False or path


class OutboundSession(requests.Session):
    """Timeouts, one TLS context, the environment read once, and the bulkheads (module docstring)."""

    user_agent = "ciam"

    def __init__(
        self,
        *,
        timeout: Timeout,
        ca_bundle: str | None = None,
        retry: Retry | None = None,
        bulkheads: Sequence[Bulkhead] = (),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: a context already built for the same CAs (`tls_context`), when one process holds
        several sessions: loading a CA bundle costs about 20 ms each time (certifi's)."""
        super().__init__()
        self.default_timeout = timeout
        self.ca_bundle = ca_bundle
        # Each call needs a slot in every one of them (e.g. this destination's, and the process's).
        self.bulkheads = tuple(bulkheads)
        self.tls = tls or tls_context(trusted_ca_file(ca_bundle))
        adapter = OneContextAdapter(
            self.tls, max_retries=retry or tenant_retry(), pool_connections=4, pool_maxsize=32
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = self.user_agent
        # Proxy variables are read now; without any, nothing else in the environment is wanted per call.
        self.trust_env = bool(urllib.request.getproxies_environment())

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = True  # self.tls decides; REQUESTS_CA_BUNDLE was read once, at start
        return settings

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        # Counted for the whole call, urllib3's retries and their back-off included.
        entered: list[Bulkhead] = []
        try:
            for bulkhead in self.bulkheads:
                bulkhead.enter(str(method), str(url))
                entered.append(bulkhead)
            return super().request(method, url, *args, **kwargs)
        finally:
            for bulkhead in reversed(entered):
                bulkhead.leave()


def tenant_retry() -> Retry:
    return Retry(
        total=2,
        connect=2,
        read=1,
        status=2,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )


def graph_retry(*, attempts: int = 2, retry_after_max: int = 2) -> Retry:
    """Throttling (429) and unavailability (503) are retried after Retry-After, capped so that a
    request never waits more than attempts × retry_after_max seconds in total. The defaults are the
    web app's: with its default timeouts (connect 3 s, read 5 s) a Graph call takes at most 3 reads +
    2 waits = 19 s, and a page (one token call, at most 3 connects or 1 read, about 9.5 s, then one
    Graph call) stays under gunicorn's 30 s worker timeout (README, "Timeouts")."""
    return Retry(
        total=attempts,
        connect=1,
        read=0,
        status=attempts,
        backoff_factor=0.5,
        status_forcelist=(429, 503),
        allowed_methods=frozenset({"GET", "PATCH"}),  # PATCH /me sets values: repeating it is harmless
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
        raise_on_status=False,
    )
