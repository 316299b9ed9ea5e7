"""An app instance on each session store (`app_on_store`), customers for parallel browsers, and a way
to look into the store behind the app (does it hold this session id? how many sessions?)."""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from tests.conftest import SUITE_SECRETS, Customer, FakeClock, Tenant
from tests.scale.conftest import (  # noqa: F401 - private_redis, shared_redis and start_instance are fixtures
    RedisSpace,
    private_redis,
    shared_redis,
    start_instance,
)
from tests.support.served_app import ServedApp, serve_for_tenant
from tests.support.servers import AppOnThread

STORES = ("embedded", "redis")


@dataclass
class AppOnStore:
    """An app instance and a read-only view of the store it keeps its sessions in."""

    kind: str
    instance: AppOnThread
    redis: RedisSpace | None = None
    key_prefix: str = ""

    def holds(self, sid: str) -> bool:
        """Does the store hold anything at all for this session id?"""
        if self.redis is not None:
            return bool(self.redis.client.exists(self.key_prefix + sid))
        with sqlite3.connect(self._sqlite_path()) as db:
            rows = db.execute("SELECT count(*) FROM sessions WHERE sid = ?", (sid,)).fetchone()[0]
            rows += db.execute("SELECT count(*) FROM session_fields WHERE sid = ?", (sid,)).fetchone()[0]
        return rows > 0

    def field(self, sid: str, name: str) -> Any:
        """One field of a stored session, decoded (None when absent)."""
        if self.redis is not None:
            raw = self.redis.client.hget(self.key_prefix + sid, f"v:{name}")
        else:
            with sqlite3.connect(self._sqlite_path()) as db:
                row = db.execute("SELECT value FROM session_fields WHERE sid = ? AND name = ?", (sid, name)).fetchone()
            raw = row[0] if row else None
        return None if raw is None else msgspec.msgpack.decode(raw)

    def session_count(self) -> int:
        if self.redis is not None:
            return sum(1 for _ in self.redis.client.scan_iter(match=self.key_prefix + "*", count=500))
        with sqlite3.connect(self._sqlite_path()) as db:
            return int(db.execute("SELECT count(*) FROM sessions WHERE sid != '~readyz-probe'").fetchone()[0])

    def _sqlite_path(self) -> str:
        return str(self.instance.app.extensions["ciam"].session_store.path)


@pytest.fixture(params=STORES)
def app_on_store(request: pytest.FixtureRequest, start_instance: Callable[..., AppOnThread]) -> AppOnStore:  # noqa: F811
    """One app instance, with its sessions in the embedded store or in (the shared) Redis under a key
    prefix of its own."""
    secret_key = secrets.token_hex(32)
    if request.param == "embedded":
        return AppOnStore("embedded", start_instance(secret_key=secret_key))
    space: RedisSpace = request.getfixturevalue("shared_redis")
    prefix = f"{space.prefix}{secrets.token_hex(4)}:"
    instance = start_instance(secret_key=secret_key, key_prefix=prefix, SESSION_TYPE="redis", REDIS_URL=space.url)
    return AppOnStore("redis", instance, redis=space, key_prefix=prefix)


@pytest.fixture()
def app_clock(app_on_store: AppOnStore) -> FakeClock:
    """The instance's session clock (Services.clock), moved by the test: advancing it past
    STEP_UP_MAX_AGE makes every browser's next edit ask for MFA again, without a new sign-in."""
    clock = FakeClock()
    app = app_on_store.instance.app
    app.extensions["ciam"] = dataclasses.replace(app.extensions["ciam"], clock=clock)
    return clock


@pytest.fixture()
def customers(tenant: Tenant) -> Callable[[int], list[Customer]]:
    """`customers(n)`: n fresh customers (parallel browsers each need their own: MFA codes are read
    from the customer's outbox)."""

    def make(n: int) -> list[Customer]:
        made = []
        for _ in range(n):
            email = f"race{secrets.token_hex(4)}@contoso.example"
            password = "Pa55-" + secrets.token_urlsafe(12)
            tenant.create_user(email, password, "Race Customer")
            SUITE_SECRETS.add(password)
            made.append(Customer(email=email, password=password, display_name="Race Customer"))
        return made

    return make


@pytest.fixture()
def short_lived_access_tokens(tenant: Tenant) -> Iterator[None]:
    """Access tokens the tenant issues live 60 seconds, so MSAL refreshes them at every use (it treats
    a token with less than five minutes left as expired) and the page writes the new tokens into
    the session at its end."""
    tenant._call("POST", "token/lifetime", json={"access_token_seconds": 60})
    try:
        yield
    finally:
        tenant._call("POST", "token/lifetime", json={"access_token_seconds": None})


def remember_cookies(*jars: Any) -> None:
    """Session ids seen by a test are secrets: the suite's last test checks the logs for them."""
    for jar in jars:
        SUITE_SECRETS.update(c.value for c in jar if c.value and len(c.value) >= 16)


@pytest.fixture()
def serve_app(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServedApp]]:
    """`serve_app(workers=2, **env)` starts `ciam-webapp serve` with the test tenant's settings plus `env`."""
    started: list[ServedApp] = []

    def serve(*, workers: int = 2, **env: str) -> ServedApp:
        served = serve_for_tenant(
            tenant,
            tmp_path_factory.mktemp("served"),
            workers=workers,
            # As for every app of the suite (tests/conftest.py app_settings); a test may set its own.
            env={"SIGN_IN_RATE_LIMIT": "100000 per minute", **env},
        )
        started.append(served)
        return served

    yield serve
    for served in started:
        served.stop()
