"""One browser's server-side session as a dict: read lazily, written field by field, never resurrected.

`StoredRecord` is what `SignInSession` (and Flask-WTF's CSRF token) read and write. It loads the
stored session the first time a field is read, remembers which fields this request changed, and
`commit()` writes only those, with compare-and-set on their versions (see store.py):

- a field changed by another request meanwhile is merged (the token cache: both requests' tokens are
  kept) or left as the other request wrote it; nothing is overwritten blindly;
- a session deleted meanwhile (signed out in another tab, expired) stays deleted: this request's
  changes are dropped and the browser's cookie is cleared;
- `clear()` deletes the stored session at once (sign-out, or a sign-in as someone else); fields set
  afterwards become a new session under a new id;
- only a session holding `required_field` (the signed-in user) is ever created, so a visitor who
  has not signed in costs the store nothing;
- the idle deadline slides by `touch` (a TTL refresh), at most once per `slide_interval`, never by
  rewriting the session.
"""

from __future__ import annotations

import enum
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec

from .store import SessionStore, StoredSession, WriteStatus

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 3
SLIDE_INTERVAL = 60.0


class _Deleted:
    def __repr__(self) -> str:
        return "<deleted>"


DELETED = _Deleted()
# How a field changed by two requests at once is resolved:
# (value this request loaded or None, value now stored, this request's value) -> value to write.
Merge = Callable[[Any, Any, Any], Any]


class CookieAction(enum.Enum):
    KEEP = "keep"  # the browser's cookie stays as it is
    SET = "set"  # a new session was created: send its id
    CLEAR = "clear"  # the session is gone: make the browser forget its id


@dataclass(frozen=True)
class CommitResult:
    cookie: CookieAction
    sid: str | None = None


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class StoredRecord(MutableMapping[str, Any]):
    def __init__(
        self,
        store: SessionStore,
        sid: str | None,
        *,
        idle_timeout: float,
        lifetime: float,
        required_field: str,
        merges: Mapping[str, Merge] | None = None,
        slide_interval: float = SLIDE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sid = sid or None
        self._cookie_named_a_session = self._sid is not None
        self._idle_timeout = idle_timeout
        self._lifetime = lifetime
        self._required_field = required_field
        self._merges = dict(merges or {})
        # At most once a minute, and at least twice per idle timeout (which is never under a minute
        # in production; tests use shorter ones).
        self._slide_interval = min(slide_interval, idle_timeout / 2)
        self._clock = clock
        self._loaded = False
        self._stored: StoredSession | None = None
        self._values: dict[str, Any] = {}
        self._changes: dict[str, Any] = {}
        self._ended = False

    # -- reading --------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._sid is None:
            return
        stored = self._store.load(self._sid)
        if stored is None:
            self._sid = None  # unknown or expired: this browser has no session
            return
        try:
            self._values = {name: _decode(raw) for name, raw in stored.values.items()}
        except msgspec.DecodeError:
            log.warning("ignored a stored session that cannot be read")
            self._sid = None
            return
        self._stored = stored

    def __getitem__(self, key: str) -> Any:
        self._load()
        if key in self._changes:
            value = self._changes[key]
            if value is DELETED:
                raise KeyError(key)
            return value
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        self._load()
        names = dict.fromkeys([*self._values, *self._changes])
        return iter([name for name in names if self._current(name) is not DELETED])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _current(self, name: str) -> Any:
        return self._changes.get(name, self._values.get(name, DELETED))

    # -- changing -----------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._load()
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = DELETED

    def clear(self) -> None:
        """End the stored session now (the store deletes it); fields set later start a new one."""
        self._load()
        if self._sid is not None:
            self._store.delete(self._sid)
        self._sid = None
        self._stored = None
        self._values = {}
        self._changes = {}
        self._ended = True

    @property
    def changed(self) -> bool:
        return bool(self._changes) or self._ended

    # -- saving -----------------------------------------------------------------------------------

    def commit(self) -> CommitResult:
        """Write what this request changed. Raises SessionStoreError when the store fails."""
        if self._sid is None:
            return self._create()
        if not self._changes:
            self._slide()
            return CommitResult(CookieAction.KEEP)
        assert self._stored is not None
        versions = dict(self._stored.versions)
        changes = dict(self._changes)
        for _ in range(MAX_WRITE_ATTEMPTS):
            result = self._store.write(self._sid, _encoded(changes), versions)
            if result.status is WriteStatus.SAVED:
                self._changes = {}
                self._slide()
                return CommitResult(CookieAction.KEEP)
            if result.status is WriteStatus.GONE:
                log.info("session ended by another request; this request's changes were dropped")
                return CommitResult(CookieAction.CLEAR)
            stored = self._store.load(self._sid)
            if stored is None:
                return CommitResult(CookieAction.CLEAR)
            versions = dict(stored.versions)
            changes = self._resolve(changes, result.conflicts, stored)
            if not changes:
                return CommitResult(CookieAction.KEEP)
        log.warning("session fields kept changing under this request; its changes were dropped")
        return CommitResult(CookieAction.KEEP)

    def _create(self) -> CommitResult:
        values = {name: value for name, value in self._changes.items() if value is not DELETED}
        if self._required_field not in values:
            # Nobody signed in: nothing is stored (and a cookie naming a dead session is cleared).
            forget = self._ended or self._cookie_named_a_session
            return CommitResult(CookieAction.CLEAR if forget else CookieAction.KEEP)
        sid = new_session_id()
        self._store.create(
            sid,
            {name: _encode(value) for name, value in values.items()},
            idle_timeout=self._idle_timeout,
            lifetime=self._lifetime,
        )
        self._sid = sid
        self._changes = {}
        return CommitResult(CookieAction.SET, sid)

    def _resolve(self, changes: dict[str, Any], conflicts: frozenset[str], stored: StoredSession) -> dict[str, Any]:
        """This request's changes after another request changed some of the same fields."""
        resolved = dict(changes)
        for name in conflicts:
            theirs = _decode(stored.values[name]) if name in stored.values else DELETED
            merge = self._merges.get(name)
            ours = changes[name]
            if merge is not None and theirs is not DELETED and ours is not DELETED:
                resolved[name] = merge(self._values.get(name), theirs, ours)
            else:
                # The other request acted later on what it saw; its value stands.
                del resolved[name]
        return resolved

    def _slide(self) -> None:
        stored = self._stored
        if stored is None or self._sid is None:
            return
        if self._idle_timeout - stored.idle_remaining < self._slide_interval:
            return
        self._store.touch(self._sid, min(self._idle_timeout, stored.lifetime_remaining))


def _encode(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


def _decode(raw: bytes) -> Any:
    return msgspec.msgpack.decode(raw)


def _encoded(changes: Mapping[str, Any]) -> dict[str, bytes | None]:
    return {name: None if value is DELETED else _encode(value) for name, value in changes.items()}
