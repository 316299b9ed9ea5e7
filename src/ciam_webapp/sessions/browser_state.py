"""Short-lived state the browser carries for us in cookies, sealed so it can neither read nor forge it.

Used for what belongs to a browser before (or besides) a signed-in session: the pending
authorizations of sign-ins in progress (one cookie each, keyed by `state`, so two tabs never
overwrite each other's) and a one-shot notice to show on the next page. Keeping them in the browser
means a visitor who has not signed in costs the server nothing, however many sign-ins they start.

Each value is msgpack, sealed with Fernet (AES-CBC + HMAC-SHA256) under a key derived from
SECRET_KEY; a sealed value older than `max_age` is refused on reading whatever the cookie's own
expiry says. Cookies are HttpOnly, SameSite=Lax (sent with the tenant's top-level redirect back to
us), and over HTTPS Secure with the `__Host-` prefix (no other host can set them).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

MAX_COOKIE_BYTES = 3800  # browsers keep at least 4096 bytes per cookie, name and attributes included


class _Deleted:
    pass


_DELETED = _Deleted()


def browser_state_sealer(secret_key: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ciam-webapp browser state v1")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8"))))


@dataclass(frozen=True)
class CookieChange:
    name: str
    value: str | None  # None: delete the cookie


class BrowserState(MutableMapping[str, Any]):
    def __init__(self, incoming: Mapping[str, str], *, sealer: Fernet, cookie_prefix: str, max_age: int) -> None:
        self._incoming = incoming
        self._sealer = sealer
        self.cookie_prefix = cookie_prefix
        self.max_age = max_age
        self._read: dict[str, Any] = {}
        self._changes: dict[str, Any] = {}

    def _cookie_name(self, key: str) -> str:
        return self.cookie_prefix + key

    def _unseal(self, key: str) -> Any:
        if key not in self._read:
            raw = self._incoming.get(self._cookie_name(key))
            value: Any = _DELETED
            if raw:
                try:
                    value = msgspec.msgpack.decode(self._sealer.decrypt(raw.encode("ascii"), ttl=self.max_age))
                except (InvalidToken, UnicodeEncodeError, msgspec.DecodeError):
                    # Expired, tampered with, or sealed under another SECRET_KEY: forget it.
                    self._changes.setdefault(key, _DELETED)
            self._read[key] = value
        return self._read[key]

    def __getitem__(self, key: str) -> Any:
        value = self._changes[key] if key in self._changes else self._unseal(key)
        if value is _DELETED:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        keys = [name[len(self.cookie_prefix) :] for name in self._incoming if name.startswith(self.cookie_prefix)]
        keys += [key for key in self._changes if key not in keys]
        return iter([key for key in keys if key in self])

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        value = self._changes[key] if key in self._changes else self._unseal(key)
        return value is not _DELETED

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def cookie_changes(self) -> list[CookieChange]:
        """What the response must set or delete."""
        changes = []
        for key, value in self._changes.items():
            name = self._cookie_name(key)
            if value is _DELETED:
                if name in self._incoming:
                    changes.append(CookieChange(name, None))
                continue
            sealed = self._sealer.encrypt(msgspec.msgpack.encode(value)).decode("ascii")
            if len(name) + len(sealed) > MAX_COOKIE_BYTES:
                raise ValueError(f"browser state {key!r} is too large for a cookie ({len(sealed)} bytes)")
            changes.append(CookieChange(name, sealed))
        return changes
