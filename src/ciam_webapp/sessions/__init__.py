"""Session state and where it is kept; no Flask here.

`SignInSession` owns every piece of a browser's session state and its rules. It reads and writes a
`StoredRecord` (the server-side session: fields with versions, in `SqliteSessionStore` or
`RedisSessionStore`) and a `BrowserState` (sealed cookies for sign-ins in progress and notices).
"""

from .browser_state import BrowserState, CookieChange, browser_state_sealer
from .record import CommitResult, CookieAction, StoredRecord
from .redis_store import RedisSessionStore, redis_client
from .sign_in_session import (
    AuthorizationResult,
    Outcome,
    SessionEnded,
    SessionPolicy,
    SignedInUser,
    SignInSession,
    StepUpNeeded,
    field_merges,
)
from .sqlite_store import SqliteSessionStore
from .store import SessionStore, SessionStoreError, StoredSession, WriteResult, WriteStatus

__all__ = [
    "AuthorizationResult",
    "BrowserState",
    "CommitResult",
    "CookieAction",
    "CookieChange",
    "Outcome",
    "RedisSessionStore",
    "SessionEnded",
    "SessionPolicy",
    "SessionStore",
    "SessionStoreError",
    "SignInSession",
    "SignedInUser",
    "SqliteSessionStore",
    "StepUpNeeded",
    "StoredRecord",
    "StoredSession",
    "WriteResult",
    "WriteStatus",
    "browser_state_sealer",
    "field_merges",
    "redis_client",
]
