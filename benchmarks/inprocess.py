"""Measurements taken inside the app's process: CPU per request, session bytes, tenant round trips.

The app runs here, on one WSGI server thread; the emulator runs in its own process. A middleware
reads the handling thread's CPU clock (`time.thread_time`) before and after the app answers, so the
figure is the app's own work (Flask, MSAL, ID token checks, session store, TLS on our side) and never
the emulator's, nor that of the harness's simulated person, which run elsewhere.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from werkzeug.serving import make_server

from ciam_webapp import create_app
from ciam_webapp.sessions import RedisSessionStore, SqliteSessionStore
from ciam_webapp.sessions.sign_in_session import TOKEN_CACHE
from tests.support.person import Person
from tests.support.servers import ServerThread, free_port

from .bare_app import create_bare_app
from .stack import (
    HTTP_TIMEOUT,
    AppUrl,
    Customer,
    Tenant,
    app_settings,
    finish_on_tenant,
    forget_app_cookies,
    session_id,
    sign_in,
)


class CpuMeter:
    """WSGI middleware: CPU and wall time of each request to the watched paths, per path."""

    def __init__(self, app: Any, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = set(paths)
        self.samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in self.paths:
            return self.app(environ, start_response)
        cpu_started, wall_started = time.thread_time(), time.perf_counter()
        result = self.app(environ, start_response)
        try:
            body = list(result)  # the watched pages are small: producing them is part of the cost
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        cpu, wall = time.thread_time() - cpu_started, time.perf_counter() - wall_started
        with self._lock:
            self.samples[path].append((cpu, wall))
        return body

    def clear(self) -> None:
        with self._lock:
            self.samples.clear()


@dataclass
class Distribution:
    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Distribution:
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            p50_ms=_percentile(ordered, 50) * 1000,
            p99_ms=_percentile(ordered, 99) * 1000,
            mean_ms=statistics.fmean(ordered) * 1000,
        )


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


class InProcessApp:
    """The real app (create_app) on a loopback port in this process, with a CPU meter around it.

    One server thread answers every request, one at a time, and lives as long as the server, as
    gunicorn's gthread workers keep their threads: per-thread state (the embedded store's SQLite
    connection) is then set up once, as in production, not once per request as it would be on a
    thread-per-request server (a new connection costs about 0.3 ms of CPU).
    """

    def __init__(
        self, tenant: Tenant, port: int, instance_dir: Path, *, threaded: bool = False, **overrides: str
    ) -> None:
        self.base_url = f"http://localhost:{port}"
        self.settings = app_settings(tenant, self.base_url, instance_dir, **overrides)
        self.flask_app = create_app(self.settings)
        self.meter = CpuMeter(self.flask_app.wsgi_app, [self.settings.redirect_path, "/profile", "/claims", "/"])
        self.flask_app.wsgi_app = self.meter  # type: ignore[method-assign]
        self.server = ServerThread(make_server("127.0.0.1", port, self.flask_app, threaded=threaded))
        self.url = AppUrl(self.base_url)

    def stop(self) -> None:
        self.server.stop()


@dataclass
class CallbackCpu:
    cpu: Distribution
    wall: Distribution


def callback_cpu(app: InProcessApp, tenant: Tenant, customer: Customer, iterations: int, warmup: int) -> CallbackCpu:
    """CPU of the app's sign-in callback (code redemption, ID token validation, session write).

    Each iteration is a complete sign-in into a new app session. After the first, the tenant
    remembers the person (its SSO cookie), so the hosted pages answer at once with a code; what the
    app does with the code is the same as after a password.
    """
    person = Person(tenant.ca_bundle)
    for index in range(warmup + iterations):
        if index == warmup:
            app.meter.clear()  # discovery, JWKS and first-use costs stay out of the figures
        forget_app_cookies(person)
        sign_in(person, tenant, app.base_url, customer)
    samples = app.meter.samples[app.settings.redirect_path]
    return CallbackCpu(
        cpu=Distribution.of([cpu for cpu, _ in samples]), wall=Distribution.of([wall for _, wall in samples])
    )


def page_cpu(app: InProcessApp, person: Person, path: str, iterations: int) -> Distribution:
    """App CPU per view of a signed-in page, one request at a time (no contention in the figure)."""
    for _ in range(5):
        person.get(app.base_url + path)  # warm: connection pools, template cache
    app.meter.clear()
    for _ in range(iterations):
        page = person.get(app.base_url + path)
        if page.status != 200 or page.path != path:
            raise RuntimeError(f"{path} answered {page.status} at {page.url}: the session was lost")
    return Distribution.of([cpu for cpu, _ in app.meter.samples[path]])


def bare_page_cpu(port: int, iterations: int) -> Distribution:
    """The baseline: the bare app's template page, measured the same way as the signed-in pages."""
    bare = create_bare_app()
    meter = CpuMeter(bare.wsgi_app, ["/page"])
    bare.wsgi_app = meter  # type: ignore[method-assign]
    server = ServerThread(make_server("127.0.0.1", port, bare))  # one thread, as for the app
    try:
        http = requests.Session()
        http.trust_env = False
        for index in range(5 + iterations):
            if index == 5:
                meter.clear()
            response = http.get(f"http://127.0.0.1:{port}/page", timeout=HTTP_TIMEOUT)
            response.raise_for_status()
    finally:
        server.stop()
    return Distribution.of([cpu for cpu, _ in meter.samples["/page"]])


# -- bytes stored per signed-in user -------------------------------------------------------------


@dataclass
class SessionSize:
    store: str
    users: int
    bytes_per_user_mean: float
    bytes_per_user_max: int
    sealed_token_cache_bytes: int  # the encrypted MSAL cache, the biggest single value
    keys: list[str] = field(default_factory=list)
    # What the store itself reports for one session with its overhead (Redis: MEMORY USAGE), if it can.
    store_reported_bytes_max: int | None = None


@dataclass
class StoredSessionBytes:
    """One session as its store holds it: what every field name and value takes, read from the store itself."""

    total: int  # the session fields' names and stored values, the same measure for every store
    values: dict[str, int]  # each session field's stored value, by field name
    store_reported: int | None = None  # Redis: MEMORY USAGE of the hash (versions, `@ends`, overhead)


def sqlite_session_bytes(path: Path, sid: str) -> StoredSessionBytes:
    """The session's field rows in the embedded store's file: each field's name and stored value.

    Read with a connection of its own, straight from `session_fields`, not through the store's API.
    The per-row key, version and SQLite's page overhead are not counted.
    """
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT name, value FROM session_fields WHERE sid = ?", (sid,)).fetchall()
    values = {name: len(value) for name, value in rows if value is not None}
    if not values:
        raise RuntimeError("the embedded store holds no fields for this session")
    return StoredSessionBytes(total=sum(len(name) + size for name, size in values.items()), values=values)


def redis_session_bytes(client: redis.Redis, key: str) -> StoredSessionBytes:
    """The session's hash in Redis: each field's name and stored value (its `v:` entries), and Redis' own
    MEMORY USAGE of the whole key (versions, `@ends`, the key and Redis' encoding overhead included)."""
    raw: dict[bytes, bytes] = client.hgetall(key)
    values = {name[2:].decode(): len(value) for name, value in raw.items() if name.startswith(b"v:")}
    if not values:
        raise RuntimeError("Redis holds no session fields under this key")
    usage = client.memory_usage(key, samples=0)
    return StoredSessionBytes(
        total=sum(len(name) + size for name, size in values.items()),
        values=values,
        store_reported=int(usage) if usage is not None else None,
    )


def stored_session_bytes(app: InProcessApp, sid: str) -> StoredSessionBytes:
    store = app.flask_app.extensions["ciam"].session_store
    if isinstance(store, SqliteSessionStore):
        return sqlite_session_bytes(store.path, sid)
    if isinstance(store, RedisSessionStore):
        return redis_session_bytes(store.client, store.key(sid))
    raise TypeError(f"no byte count for a {type(store).__name__}")


def session_sizes(app: InProcessApp, tenant: Tenant, customers: list[Customer], store: str) -> SessionSize:
    """Sign each customer in, view the profile once (which adds the CSRF token), then weigh the session."""
    sizes: list[StoredSessionBytes] = []
    for customer in customers:
        person = Person(tenant.ca_bundle)
        sign_in(person, tenant, app.base_url, customer)
        page = person.get(app.base_url + "/profile")
        if page.status != 200 or page.path != "/profile":
            raise RuntimeError(f"/profile answered {page.status} at {page.url}: the session was lost")
        sizes.append(stored_session_bytes(app, session_id(person)))
    reported = [s.store_reported for s in sizes if s.store_reported is not None]
    return SessionSize(
        store=store,
        users=len(customers),
        bytes_per_user_mean=statistics.fmean(s.total for s in sizes),
        bytes_per_user_max=max(s.total for s in sizes),
        sealed_token_cache_bytes=max(s.values.get(TOKEN_CACHE, 0) for s in sizes),
        keys=sorted(set().union(*(s.values for s in sizes))),
        store_reported_bytes_max=max(reported) if reported else None,
    )


def redis_app_overrides(redis_url: str, key_prefix: str) -> dict[str, str]:
    # Rate-limit counters stay in the process: the bench leaves nothing in the shared Redis but the
    # sessions it deletes afterwards (only sessions are measured here).
    return {
        "SESSION_TYPE": "redis",
        "REDIS_URL": redis_url,
        "SESSION_KEY_PREFIX": key_prefix,
        "RATE_LIMIT_STORAGE_URL": "memory://",
    }


def delete_redis_keys_with_prefix(redis_url: str, prefix: str) -> int:
    """Delete the keys under this run's own prefix (nothing else in the shared Redis); returns how many."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    keys = list(client.scan_iter(match=prefix + "*", count=500))
    if keys:
        client.delete(*keys)
    return len(keys)


# -- round trips to the tenant and Graph per operation ---------------------------------------------


@dataclass
class RoundTrips:
    operation: str
    authorize: int
    token_code: int
    token_refresh: int
    discovery: int
    jwks: int
    graph_get: int
    graph_patch: int

    @classmethod
    def from_stats(cls, operation: str, stats: dict[str, Any]) -> RoundTrips:
        return cls(
            operation=operation,
            authorize=stats["authorize"],
            token_code=stats["token"]["authorization_code"],
            token_refresh=stats["token"]["refresh_token"],
            discovery=stats["discovery"],
            jwks=stats["jwks"],
            graph_get=stats["graph"]["GET /me"],
            graph_patch=stats["graph"]["PATCH /me"],
        )

    @property
    def token_calls(self) -> int:
        return self.token_code + self.token_refresh


def round_trips(tenant: Tenant, port: int, instance_dir: Path, customer: Customer) -> list[RoundTrips]:
    """Count what each operation asks of the tenant and Graph, from the emulator's own counters.

    A new app process is started for this, so the first sign-in shows what a cold process fetches
    (discovery, JWKS) once; everything after it is the steady state.
    """
    app = InProcessApp(tenant, port, instance_dir)
    rows = []
    try:

        def measured(operation: str, action: Any) -> Any:
            tenant.reset_stats()
            outcome = action()
            rows.append(RoundTrips.from_stats(operation, tenant.stats()))
            return outcome

        person = Person(tenant.ca_bundle)
        measured("sign-in (new app process)", lambda: sign_in(person, tenant, app.base_url, customer))
        forget_app_cookies(person)
        measured("sign-in (warm process, tenant SSO)", lambda: sign_in(person, tenant, app.base_url, customer))
        second = Person(tenant.ca_bundle)
        measured("sign-in (warm process, password)", lambda: sign_in(second, tenant, app.base_url, customer))
        measured("profile view (token valid)", lambda: _get_ok(second, app.base_url + "/profile", "/profile"))
        measured("claims view", lambda: _get_ok(second, app.base_url + "/claims", "/claims"))
        measured("edit with step-up (MFA)", lambda: _edit(second, tenant, app, customer, "Bench With Step-up"))
        measured("edit without step-up (MFA fresh)", lambda: _edit(second, tenant, app, customer, "Bench No Step-up"))
    finally:
        app.stop()
    return rows


def _get_ok(person: Person, url: str, expected_path: str) -> None:
    page = person.get(url)
    if page.status != 200 or page.path != expected_path:
        raise RuntimeError(f"{url} ended at {page.status} {page.url}")


def _edit(person: Person, tenant: Tenant, app: InProcessApp, customer: Customer, new_name: str) -> None:
    """Open the edit form (doing MFA if the tenant asks), save a new display name, land on the profile."""
    page = person.get(app.base_url + "/profile/edit")
    page = finish_on_tenant(person, tenant, customer, page)
    if page.path != "/profile/edit" or page.status != 200:
        raise RuntimeError(f"the edit form did not open: {page.status} {page.url}")
    page = person.submit(page, {"displayName": new_name})
    if page.path != "/profile" or new_name not in page.text:
        raise RuntimeError(f"the edit was not saved: {page.status} {page.url}")


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)
