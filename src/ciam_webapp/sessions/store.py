"""What a session store must do so that concurrent requests from one browser cannot undo each other.

A stored session is a set of named fields, each with its own version, plus two deadlines: the idle
deadline (slid forward while the user is active) and the end of its absolute lifetime. The rules
every store implements (tests/unit/test_session_stores.py runs the same checks on each):

- `create` stores a new session under a new, random id. Nothing else ever creates one.
- `write` changes only the fields it is given, and only if the session still exists and each field
  still has the version this request read (compare-and-set). A session deleted in the meantime
  (signed out, expired) is reported `GONE` and is not brought back; a field someone else changed
  is reported as a conflict and nothing is written, so the caller can merge and try again.
- `touch` slides the idle deadline of an existing session; it never creates one.
- `delete` removes the session at once.

Values are opaque bytes here; encoding them is the caller's business.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class SessionStoreError(Exception):
    """The store could not be read or written; `reason` is safe to log (no secrets, no ids)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredSession:
    values: dict[str, bytes]
    # Version of every field ever written, deleted ones included (a delete is a change too).
    versions: dict[str, int]
    # Seconds until the idle deadline, as the store sees it.
    idle_remaining: float
    # Seconds until the absolute end of the session's lifetime.
    lifetime_remaining: float


class WriteStatus(enum.Enum):
    SAVED = "saved"
    CONFLICT = "conflict"
    GONE = "gone"


@dataclass(frozen=True)
class WriteResult:
    status: WriteStatus
    conflicts: frozenset[str] = field(default_factory=frozenset)


# A field change: new bytes, or None to delete the field.
FieldChanges = Mapping[str, bytes | None]


class SessionStore(Protocol):
    name: str

    def create(self, sid: str, values: Mapping[str, bytes], *, idle_timeout: float, lifetime: float) -> None: ...

    def load(self, sid: str) -> StoredSession | None: ...

    def write(self, sid: str, changes: FieldChanges, expected_versions: Mapping[str, int]) -> WriteResult: ...

    def touch(self, sid: str, idle_timeout: float) -> None: ...

    def delete(self, sid: str) -> None: ...

    def probe(self) -> None:
        """Raise SessionStoreError unless a session could be written right now."""
        ...
