"""4,000 anonymous sign-in starts store nothing, so they cannot evict signed-in customers.

Before the rewrite every `GET /auth/sign-in` stored a 1.1 KB session, and on a 6 MB Redis with
`volatile-lru` 8,000 of them evicted every signed-in user. Here the app runs as in production
(`ciam-webapp serve`, two workers) on a redis-server of its own capped at 2 MB (an empty one uses
about 1 MB) with `volatile-lru`, the policy Azure Cache for Redis uses by default. Some customers
sign in, then 4,000 sign-in starts arrive (stored as before, they would need 4.4 MB) from clients
that never come back (threads, HTTP keep-alive, no cookies). The sign-in rate limit is set out of
the way (a million a minute, its counters in the app's memory instead of this Redis): what keeps the
customers signed in must be that a sign-in start stores nothing, not that the limit refused most of
the flood, and Redis then holds nothing but the sessions. tests/concurrency/test_rate_limits.py
covers the limit with its counters in Redis. Redis must evict nothing, gain no key and grow by no
more than a small bound; every customer must still load `/claims`.
"""

from __future__ import annotations

import http.client
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.concurrency.browser import Browser
from tests.conftest import SUITE_SECRETS
from tests.scale.conftest import PrivateRedis

SIGN_IN_STARTS = 4_000
CLIENT_THREADS = 8
CUSTOMERS = 5
REDIS_MAXMEMORY = "2mb"
MAX_GROWTH_BYTES = 256 * 1024  # what 4,000 stored sign-ins would need: about 4.4 MB
SESSION_KEYS = "ciam:s:*"  # SESSION_KEY_PREFIX's default
STARTED = "started (302 to the tenant, one sealed cookie, no session)"


@pytest.fixture()
def capped_redis(tmp_path):
    server = PrivateRedis(tmp_path, "--maxmemory", REDIS_MAXMEMORY, "--maxmemory-policy", "volatile-lru")
    server.start()
    yield server
    server.kill()


def _start_sign_ins(port: int, count: int) -> Counter[str]:
    """`count` sign-in starts on one kept-alive connection, each as a new visitor (no cookies sent)."""
    outcomes: Counter[str] = Counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(count):
            connection.request("GET", "/auth/sign-in")
            response = connection.getresponse()
            response.read()
            cookies = response.msg.get_all("Set-Cookie") or []
            started = (
                response.status == 302
                and "/oauth2/v2.0/authorize?" in (response.getheader("Location") or "")
                and [c.split("=", 1)[0].startswith("ciam.auth.") for c in cookies] == [True]
            )
            outcomes[STARTED if started else str(response.status)] += 1
    finally:
        connection.close()
    return outcomes


def test_thousands_of_sign_in_starts_store_nothing_and_evict_nobody(capped_redis, serve_app, tenant, customers):
    app = serve_app(
        SESSION_TYPE="redis",
        REDIS_URL=capped_redis.url,
        SIGN_IN_RATE_LIMIT="1000000 per minute",
        RATE_LIMIT_STORAGE_URL="memory://",
    )
    admin = capped_redis.client()
    assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"

    browsers = [Browser(app, tenant, c.email, c.password) for c in customers(CUSTOMERS)]
    for browser in browsers:
        browser.sign_in()
        SUITE_SECRETS.add(browser.session_id())
    sessions_before = set(admin.scan_iter(match=SESSION_KEYS))
    assert len(sessions_before) == CUSTOMERS
    keys_before = admin.dbsize()
    memory_before = admin.info("memory")["used_memory"]

    started = time.monotonic()
    port = urlsplit(app.base_url).port
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        per_thread = [SIGN_IN_STARTS // CLIENT_THREADS] * CLIENT_THREADS
        outcomes = sum(pool.map(lambda n: _start_sign_ins(port, n), per_thread), Counter())
    seconds = time.monotonic() - started

    memory_after = admin.info("memory")["used_memory"]
    stats = admin.info("stats")
    print(
        f"{SIGN_IN_STARTS} sign-in starts in {seconds:.1f}s ({SIGN_IN_STARTS / seconds:.0f}/s): {dict(outcomes)}; "
        f"Redis keys {keys_before} -> {admin.dbsize()}, used_memory {memory_before} -> {memory_after} bytes, "
        f"evicted_keys {stats['evicted_keys']}"
    )
    assert outcomes == {STARTED: SIGN_IN_STARTS}, outcomes
    assert stats["evicted_keys"] == 0
    assert set(admin.scan_iter(match=SESSION_KEYS)) == sessions_before, "no session was added or lost"
    assert admin.dbsize() == keys_before == CUSTOMERS, "Redis holds the sessions and nothing else"
    assert memory_after - memory_before < MAX_GROWTH_BYTES
    for browser in browsers:
        page = browser.get("/claims")
        assert page.status == 200 and page.url == app.url("/claims"), f"{browser.email} was signed out"
        assert browser.email in page.text
    admin.close()
