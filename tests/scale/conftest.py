"""Fixtures for running several app instances on real Redis, and a private redis-server to kill.

Extra instances listen on their own ports, so their redirect URIs are registered in the emulator's
web app registration (the seed merges extra URIs into the existing one). Instances that share a
session store use one SECRET_KEY and one key prefix, as replicas behind a load balancer would.

Keys on the shared Redis (127.0.0.1:6379) carry a prefix unique to the test run and are deleted
afterwards; tests that need to stop Redis start their own `redis-server` on a free port.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from werkzeug.serving import make_server as make_wsgi_server

from ciam_webapp import create_app
from tests.conftest import SUITE_SECRETS, ServerThread, Tenant, app_settings, free_port
from tests.support.registration import register_app_urls
from tests.support.servers import AppOnThread

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
SESSION_COOKIE = "ciam_session"


@dataclass
class RedisSpace:
    """A Redis database and the key prefix this test run owns in it."""

    url: str
    prefix: str
    client: redis.Redis

    def keys(self) -> list[bytes]:
        return list(self.client.scan_iter(match=self.prefix + "*", count=500))

    def session_key(self, sid: str) -> str:
        return self.prefix + sid

    def stored(self, sid: str) -> dict[str, Any] | None:
        """A stored session's fields, decoded (sessions/redis_store.py: one hash field per session field)."""
        raw = self.client.hgetall(self.session_key(sid))
        if not raw:
            return None
        return {k[2:].decode(): msgspec.msgpack.decode(v) for k, v in raw.items() if k.startswith(b"v:")}

    def stored_bytes(self, sid: str) -> int:
        """What the session's hash holds, field names and values (Redis adds its own per-key overhead)."""
        return sum(len(k) + len(v) for k, v in self.client.hgetall(self.session_key(sid)).items())

    def delete_all(self) -> None:
        keys = self.keys()
        if keys:
            self.client.delete(*keys)


def session_id(person: Any) -> str | None:
    return person.http.cookies.get(SESSION_COOKIE)


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisSpace]:
    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {SHARED_REDIS_URL} ({type(exc).__name__}); these tests need a real one")
    space = RedisSpace(url=SHARED_REDIS_URL, prefix=f"ciam_test_{secrets.token_hex(6)}:", client=client)
    yield space
    space.delete_all()
    client.close()


@pytest.fixture()
def start_instance(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AppOnThread]]:
    """Starts app instances; `key_prefix` puts their sessions under this run's Redis prefix,
    `changes` alters Settings after validation (e.g. a 3-second idle timeout for a test)."""
    started: list[AppOnThread] = []

    def start(
        *,
        secret_key: str,
        key_prefix: str | None = None,
        changes: dict[str, Any] | None = None,
        **overrides: str,
    ) -> AppOnThread:
        port = free_port()
        base_url = f"http://localhost:{port}"
        register_app_urls(tenant, base_url)
        if key_prefix is not None:
            overrides["SESSION_KEY_PREFIX"] = key_prefix
        settings = app_settings(
            tenant, base_url, tmp_path_factory.mktemp("instance"), SECRET_KEY=secret_key, **overrides
        )
        if changes:
            settings = dataclasses.replace(settings, **changes)
        app = create_app(settings)
        server = ServerThread(make_wsgi_server("127.0.0.1", port, app, threaded=True))
        instance = AppOnThread(base_url=base_url, app=app, settings=settings, server=server)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.server.stop()
        client = getattr(instance.app.extensions["ciam"].session_store, "client", None)
        if client is not None:
            client.close()


@pytest.fixture()
def redis_instances(
    shared_redis: RedisSpace, start_instance: Callable[..., AppOnThread]
) -> tuple[AppOnThread, AppOnThread]:
    """Two instances sharing the real Redis and one SECRET_KEY, as two replicas would."""
    secret_key = secrets.token_hex(32)
    return tuple(  # type: ignore[return-value]
        start_instance(
            secret_key=secret_key, key_prefix=shared_redis.prefix, SESSION_TYPE="redis", REDIS_URL=shared_redis.url
        )
        for _ in range(2)
    )


class PrivateRedis:
    """A redis-server of our own (no persistence), which a test may stop, pause and start again."""

    def __init__(self, workdir: Path, *options: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.options = options  # more redis-server options, e.g. "--maxmemory", "4mb"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.process.send_signal(18)  # SIGCONT, in case a test left it paused
    server.kill()


def remember_tokens(tokens: list[str]) -> None:
    """Tokens seen by a test are secrets too: the suite's last test checks the logs for them."""
    SUITE_SECRETS.update(t for t in tokens if len(t) >= 16)
