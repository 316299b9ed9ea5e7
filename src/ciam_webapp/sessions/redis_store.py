"""Sessions in Redis: one hash per session, one hash field per session field, and the idle timeout
as the key's TTL.

Layout of `{prefix}{sid}`: `v:{name}` holds a field's value, `n:{name}` its version (kept after
the value is deleted), `@ends` the end of the session's absolute lifetime (Unix seconds). The key's
TTL is the idle deadline, never later than `@ends`, so Redis itself drops idle and ended sessions.

Writes are one Lua script (atomic in Redis): it writes nothing unless the key still exists and every
field has the version the caller read, so a request that started before a sign-out cannot bring the
session back, and two requests changing the same field cannot silently overwrite each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .store import FieldChanges, SessionStoreError, StoredSession, WriteResult, WriteStatus

REDIS_TIMEOUT_SECONDS = 2.0
_ENDS = b"@ends"
_PROBE_KEY = "readyz-probe"

# KEYS[1] the session; ARGV: then per field: name, expected version ("" = none), "s"et or "d"elete, value.
_WRITE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local conflicts = {'conflict'}
for i = 1, #ARGV, 4 do
  local seen = redis.call('HGET', KEYS[1], 'n:' .. ARGV[i]) or '0'
  if seen ~= ARGV[i + 1] then table.insert(conflicts, ARGV[i]) end
end
if #conflicts > 1 then return conflicts end
for i = 1, #ARGV, 4 do
  if ARGV[i + 2] == 's' then
    redis.call('HSET', KEYS[1], 'v:' .. ARGV[i], ARGV[i + 3])
  else
    redis.call('HDEL', KEYS[1], 'v:' .. ARGV[i])
  end
  redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[i], 1)
end
return {'saved'}
"""


def redis_client(url: str) -> redis.Redis:
    """Short timeouts and one brief retry: a dead pooled connection (Redis restarted) is replaced on
    the retry, but a Redis that is down costs a request well under a second."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
    )


class RedisSessionStore:
    name = "redis"

    def __init__(self, client: redis.Redis, *, key_prefix: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self._clock = clock
        self._write = client.register_script(_WRITE_SCRIPT)

    def key(self, sid: str) -> str:
        return self.key_prefix + sid

    def create(self, sid: str, values: Mapping[str, bytes], *, idle_timeout: float, lifetime: float) -> None:
        mapping: dict[str | bytes, Any] = {f"v:{name}": value for name, value in values.items()}
        mapping.update({f"n:{name}": 1 for name in values})
        mapping[_ENDS] = repr(self._clock() + lifetime)
        with self._errors("create"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self.key(sid), mapping=mapping)
            pipe.pexpire(self.key(sid), _ms(min(idle_timeout, lifetime)))
            pipe.execute()

    def load(self, sid: str) -> StoredSession | None:
        with self._errors("load"):
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(self.key(sid))
            pipe.pttl(self.key(sid))
            raw, ttl_ms = pipe.execute(raise_on_error=False)
        if isinstance(raw, redis.ResponseError) and "WRONGTYPE" in str(raw):
            return None  # a cookie naming a key that is not a hash (not one of our sessions)
        for answer in (raw, ttl_ms):
            if isinstance(answer, Exception):
                raise SessionStoreError(f"redis load: {type(answer).__name__}: {str(answer)[:200]}")
        if not raw or ttl_ms is None or ttl_ms < 0:
            # -2: no such key. -1: a key without TTL was not written by us: not a session.
            return None
        values: dict[str, bytes] = {}
        versions: dict[str, int] = {}
        try:
            for key, value in raw.items():
                if key.startswith(b"v:"):
                    values[key[2:].decode()] = value
                elif key.startswith(b"n:"):
                    versions[key[2:].decode()] = int(value)
            ends_at = float(raw[_ENDS])
        except (KeyError, ValueError, UnicodeDecodeError):
            return None  # a hash that is not one of our sessions is no session
        lifetime_remaining = ends_at - self._clock()
        if lifetime_remaining <= 0:
            return None
        return StoredSession(values, versions, ttl_ms / 1000.0, lifetime_remaining)

    def write(self, sid: str, changes: FieldChanges, expected_versions: Mapping[str, int]) -> WriteResult:
        args: list[Any] = []
        for name, value in changes.items():
            args += [name, str(expected_versions.get(name, 0)), "d" if value is None else "s", value or b""]
        with self._errors("write"):
            answer = self._write(keys=[self.key(sid)], args=args)
        status = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        if status == "saved":
            return WriteResult(WriteStatus.SAVED)
        if status == "gone":
            return WriteResult(WriteStatus.GONE)
        return WriteResult(WriteStatus.CONFLICT, frozenset(n.decode() for n in answer[1:]))

    def touch(self, sid: str, idle_timeout: float) -> None:
        with self._errors("touch"):
            self.client.pexpire(self.key(sid), _ms(idle_timeout))  # a no-op for a key that is gone

    def delete(self, sid: str) -> None:
        with self._errors("delete"):
            self.client.delete(self.key(sid))

    def probe(self) -> None:
        # A write, since a Redis that is out of memory still answers PING.
        with self._errors("probe"):
            self.client.set(self.key_prefix + _PROBE_KEY, b"1", ex=10)

    @staticmethod
    @contextmanager
    def _errors(operation: str) -> Iterator[None]:
        """redis-py's errors as SessionStoreError; its messages name host and port, never the URL's password."""
        try:
            yield
        except redis.RedisError as exc:
            raise SessionStoreError(f"redis {operation}: {type(exc).__name__}: {str(exc)[:200]}") from exc


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
