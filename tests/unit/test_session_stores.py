"""The session stores' contract (sessions/store.py), checked the same way on the embedded store and on
real Redis, and StoredRecord's write rules on top of each: only changed fields are written, a deleted
session is never brought back, concurrent changes are merged or kept, the idle deadline slides by a
TTL refresh at most once a minute."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import redis

from ciam_webapp.sessions import (
    CookieAction,
    RedisSessionStore,
    SqliteSessionStore,
    StoredRecord,
    WriteStatus,
    field_merges,
)
from ciam_webapp.token_cache import TokenCacheCodec

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """Wraps a store and counts what the record asks of it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[str] = []
        self.name = store.name

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


@pytest.fixture(params=["embedded", "redis"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Any]:
    if request.param == "embedded":
        yield SqliteSessionStore(tmp_path / "sessions.sqlite3")
        return
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    prefix = f"ciam_unit_{secrets.token_hex(4)}:"
    yield RedisSessionStore(client, key_prefix=prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def exists(store: Any, sid: str) -> bool:
    if isinstance(store, RedisSessionStore):
        return bool(store.client.exists(store.key(sid)))
    with store._transaction(write=False) as conn:
        return conn.execute("SELECT 1 FROM sessions WHERE sid = ?", (sid,)).fetchone() is not None


# -- the store contract -------------------------------------------------------------------------------


def test_create_then_load(store):
    store.create("s1", {"user": b"u", "cache": b"c"}, idle_timeout=60, lifetime=3600)
    loaded = store.load("s1")
    assert loaded.values == {"user": b"u", "cache": b"c"}
    assert loaded.versions == {"user": 1, "cache": 1}
    assert 55 < loaded.idle_remaining <= 60 and 3590 < loaded.lifetime_remaining <= 3600
    assert store.load("unknown") is None


def test_a_write_changes_only_its_fields_and_bumps_their_versions(store):
    store.create("s1", {"user": b"u", "cache": b"c"}, idle_timeout=60, lifetime=3600)
    assert store.write("s1", {"cache": b"c2"}, {"cache": 1}).status is WriteStatus.SAVED
    loaded = store.load("s1")
    assert loaded.values == {"user": b"u", "cache": b"c2"} and loaded.versions == {"user": 1, "cache": 2}


def test_a_write_against_a_stale_version_is_a_conflict_and_writes_nothing(store):
    store.create("s1", {"user": b"u", "cache": b"c"}, idle_timeout=60, lifetime=3600)
    store.write("s1", {"cache": b"theirs"}, {"cache": 1})
    result = store.write("s1", {"cache": b"ours", "edit": b"e"}, {"cache": 1})
    assert result.status is WriteStatus.CONFLICT and result.conflicts == {"cache"}
    assert store.load("s1").values == {"user": b"u", "cache": b"theirs"}


def test_a_deleted_field_keeps_its_version_so_a_late_writer_conflicts(store):
    store.create("s1", {"user": b"u", "edit": b"e"}, idle_timeout=60, lifetime=3600)
    assert store.write("s1", {"edit": None}, {"edit": 1}).status is WriteStatus.SAVED
    loaded = store.load("s1")
    assert "edit" not in loaded.values and loaded.versions["edit"] == 2
    assert store.write("s1", {"edit": b"late"}, {"edit": 1}).status is WriteStatus.CONFLICT
    assert store.write("s1", {"new": b"n"}, {}).status is WriteStatus.SAVED, "a field never written has version 0"


def test_a_deleted_session_is_gone_and_no_write_or_touch_brings_it_back(store):
    store.create("s1", {"user": b"u"}, idle_timeout=60, lifetime=3600)
    store.delete("s1")
    assert store.write("s1", {"cache": b"c"}, {"cache": 0}).status is WriteStatus.GONE
    store.touch("s1", 60)
    assert store.load("s1") is None and not exists(store, "s1")


def test_an_idle_session_expires(store, tmp_path):
    if isinstance(store, SqliteSessionStore):
        clock = Clock()
        store = SqliteSessionStore(tmp_path / "clocked.sqlite3", clock=clock)
        store.create("s1", {"user": b"u"}, idle_timeout=60, lifetime=3600)
        clock.now += 61
    else:  # Redis drops it on its own clock
        store.create("s1", {"user": b"u"}, idle_timeout=0.05, lifetime=3600)
        time.sleep(0.1)
    assert store.load("s1") is None
    assert store.write("s1", {"user": b"x"}, {"user": 1}).status is WriteStatus.GONE


def test_touch_slides_the_idle_deadline_but_never_past_the_lifetime(store):
    store.create("s1", {"user": b"u"}, idle_timeout=10, lifetime=20)
    store.touch("s1", 15)
    assert 14 < store.load("s1").idle_remaining <= 15
    store.touch("s1", min(60, store.load("s1").lifetime_remaining))  # what StoredRecord passes
    assert store.load("s1").idle_remaining <= 20


def test_probe_writes(store):
    store.probe()


def test_entries_that_are_not_sessions_are_no_session():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    prefix = f"ciam_unit_{secrets.token_hex(4)}:"
    store = RedisSessionStore(client, key_prefix=prefix)
    try:
        client.set(prefix + "a-string", b"\x80\x04pickle?", ex=60)
        client.hset(prefix + "no-ttl", mapping={"v:user": b"x"})
        client.hset(prefix + "no-ends", mapping={"v:user": b"x"})
        client.expire(prefix + "no-ends", 60)
        store.probe()
        for sid in ("a-string", "no-ttl", "no-ends", "readyz-probe"):
            assert store.load(sid) is None, sid
    finally:
        client.delete(*client.keys(prefix + "*"))
        client.close()


# -- StoredRecord on each store ------------------------------------------------------------------------


def new_record(store: Any, sid: str | None, **kwargs: Any) -> StoredRecord:
    return StoredRecord(store, sid, idle_timeout=3600, lifetime=8 * 3600, required_field="user", **kwargs)


def signed_in(store: Any) -> str:
    record = new_record(store, None)
    record["user"] = {"oid": "alice"}
    record["cache"] = b"tokens-1"
    result = record.commit()
    assert result.cookie is CookieAction.SET
    return result.sid


def test_a_visitor_who_has_not_signed_in_is_never_stored(store):
    counting = CountingStore(store)
    record = new_record(counting, None)
    record["csrf_token"] = "t"  # e.g. a form rendered for an anonymous visitor
    assert record.commit().cookie is CookieAction.KEEP
    assert "create" not in counting.calls


def test_a_request_that_changes_nothing_writes_nothing(store):
    sid = signed_in(store)
    counting = CountingStore(store)
    record = new_record(counting, sid)
    assert record["user"] == {"oid": "alice"}
    assert record.commit().cookie is CookieAction.KEEP
    assert counting.calls == ["load"], "read once, no write, no TTL refresh within the first minute"


def test_only_the_changed_field_is_written(store):
    sid = signed_in(store)
    record = new_record(store, sid)
    record["edit"] = {"city": "Paris"}
    record.commit()
    assert store.load(sid).versions == {"user": 1, "cache": 1, "edit": 1}


def test_a_request_that_started_before_sign_out_cannot_bring_the_session_back(store):
    sid = signed_in(store)
    slow = new_record(store, sid)
    assert slow["user"]  # the slow page read the session...
    sign_out = new_record(store, sid)
    sign_out.clear()  # ...then sign-out deleted it
    assert sign_out.commit().cookie is CookieAction.CLEAR
    slow["cache"] = b"refreshed-while-signing-out"
    assert slow.commit().cookie is CookieAction.CLEAR
    assert store.load(sid) is None and not exists(store, sid)


def test_concurrent_changes_to_different_fields_are_both_kept(store):
    sid = signed_in(store)
    first, second = new_record(store, sid), new_record(store, sid)
    first.get("user"), second.get("user")
    first["step_up"] = {"at": 1}
    second["edit"] = {"city": "Paris"}
    first.commit(), second.commit()
    values = store.load(sid).values
    assert "step_up" in values and "edit" in values


def test_concurrent_token_cache_changes_are_merged(store):
    sid = signed_in(store)
    merged: list[tuple[Any, Any]] = []

    def merge(base: Any, theirs: Any, ours: Any) -> Any:
        merged.append((base, theirs, ours))
        return theirs + b"+" + ours

    first, second = new_record(store, sid, merges={"cache": merge}), new_record(store, sid, merges={"cache": merge})
    first.get("cache"), second.get("cache")
    first["cache"] = b"graph"
    second["cache"] = b"mfa"
    first.commit(), second.commit()
    assert merged == [(b"tokens-1", b"graph", b"mfa")], "the merge sees what the request loaded, too"
    assert new_record(store, sid)["cache"] == b"graph+mfa"


def test_a_token_refreshed_by_one_request_is_not_put_back_by_another_that_only_carried_it(store):
    codec = TokenCacheCodec((), secret_key="k" * 40)

    def sealed(data: dict[str, Any]) -> bytes:
        cache = msal.SerializableTokenCache()
        cache.deserialize(json.dumps(data))
        return codec.seal(cache)

    record = new_record(store, None)
    record["user"] = {"oid": "alice"}
    record["token_cache"] = sealed({"AccessToken": {"graph": {"secret": "graph-1"}}})
    sid = record.commit().sid
    page = new_record(store, sid, merges=field_merges(codec))
    callback = new_record(store, sid, merges=field_merges(codec))
    page.get("token_cache"), callback.get("token_cache")
    page["token_cache"] = sealed({"AccessToken": {"graph": {"secret": "graph-2"}}})  # refreshed Graph
    callback["token_cache"] = sealed({"AccessToken": {"graph": {"secret": "graph-1"}, "mfa": {"secret": "mfa-1"}}})
    page.commit(), callback.commit()
    stored = json.loads(codec.load(new_record(store, sid)["token_cache"]).serialize())
    assert stored["AccessToken"] == {"graph": {"secret": "graph-2"}, "mfa": {"secret": "mfa-1"}}


def test_a_field_another_request_changed_is_left_as_that_request_wrote_it(store):
    sid = signed_in(store)
    stale, fresh = new_record(store, sid), new_record(store, sid)
    stale.get("user"), fresh.get("user")
    fresh["edit"] = {"city": "New"}
    fresh.commit()
    stale["edit"] = {"city": "Old"}
    stale.commit()
    assert new_record(store, sid)["edit"] == {"city": "New"}


def test_clearing_ends_the_session_at_once_and_new_fields_start_a_new_one(store):
    sid = signed_in(store)
    record = new_record(store, sid)
    record.clear()
    assert store.load(sid) is None, "deleted at once, before the response"
    record["user"] = {"oid": "bob"}
    result = record.commit()
    assert result.cookie is CookieAction.SET and result.sid != sid


def test_the_idle_deadline_slides_at_most_once_a_minute(store):
    sid = signed_in(store)
    counting = CountingStore(store)
    fresh = StoredRecord(counting, sid, idle_timeout=3600, lifetime=8 * 3600, required_field="user")
    fresh.get("user")
    fresh.commit()
    assert "touch" not in counting.calls
    # Pretend 61 seconds passed since the deadline was last set.
    stale = StoredRecord(counting, sid, idle_timeout=3661, lifetime=8 * 3600, required_field="user")
    stale.get("user")
    stale.commit()
    assert counting.calls.count("touch") == 1 and "write" not in counting.calls and "create" not in counting.calls


def test_a_cookie_naming_no_session_is_cleared_and_nothing_is_created(store):
    counting = CountingStore(store)
    record = new_record(counting, "no-such-session")
    assert record.get("user") is None
    assert record.commit().cookie is CookieAction.CLEAR
    assert "create" not in counting.calls


# -- the embedded store at scale ----------------------------------------------------------------------


def test_embedded_store_writes_take_the_same_time_with_100000_sessions(tmp_path):
    store = SqliteSessionStore(tmp_path / "big.sqlite3")
    value = b"x" * 4000  # about a signed-in session's token cache

    def median_write_ms(sid_prefix: str) -> float:
        sids = [f"{sid_prefix}{i}" for i in range(150)]
        for sid in sids:
            store.create(sid, {"user": b"u"}, idle_timeout=3600, lifetime=3600)
        samples = []
        for sid in sids:
            started = time.perf_counter()
            store.write(sid, {"cache": value}, {})
            samples.append((time.perf_counter() - started) * 1000)
        return sorted(samples)[len(samples) // 2]

    small = median_write_ms("small-")
    with store._transaction() as conn:  # fill it directly: 100,000 signed-in sessions
        now = time.time()
        conn.executemany(
            "INSERT INTO sessions (sid, expires_at, ends_at) VALUES (?, ?, ?)",
            ((f"bulk-{i}", now + 3600, now + 3600) for i in range(100_000)),
        )
        conn.executemany(
            "INSERT INTO session_fields (sid, name, value, version) VALUES (?, 'cache', ?, 1)",
            ((f"bulk-{i}", value[:500]) for i in range(100_000)),
        )
    assert store.count() >= 100_000
    large = median_write_ms("large-")
    print(f"median write: {small:.3f} ms with 150 sessions, {large:.3f} ms with 100,150")
    assert large < max(3 * small, small + 1.0), (small, large)
    assert store.load("bulk-99999") is not None, "nothing was evicted"
