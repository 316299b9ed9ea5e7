"""Step-up rules for the profile edit, as plain functions over plain data.

An edit needs (a) a token for the MFA-guarded scope, which the tenant only issues after MFA, and
(b) an interactive MFA no older than STEP_UP_MAX_AGE. What the user typed is kept as a pending edit
while they do MFA, and applied once when they come back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

PENDING_EDIT_LIFETIME = 15 * 60


def mfa_is_fresh(mfa_at: float | None, max_age: int, *, now: float | None = None) -> bool:
    if mfa_at is None:
        return False
    return (now if now is not None else time.time()) - mfa_at <= max_age


@dataclass(frozen=True)
class PendingEdit:
    changes: dict[str, str]
    created_at: float

    def to_session(self) -> dict[str, Any]:
        return {"changes": dict(self.changes), "created_at": self.created_at}

    @classmethod
    def from_session(cls, data: Any, *, now: float | None = None) -> PendingEdit | None:
        """The edit if it is well-formed and not stale; a stale edit is dropped, never applied."""
        if not isinstance(data, dict) or not isinstance(data.get("changes"), dict):
            return None
        created_at = float(data.get("created_at") or 0)
        if (now if now is not None else time.time()) - created_at > PENDING_EDIT_LIFETIME:
            return None
        return cls(changes={str(k): str(v) for k, v in data["changes"].items()}, created_at=created_at)
