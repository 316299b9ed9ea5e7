"""The process-wide objects every request shares, built once by create_app()."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet

from .config import Settings
from .graph import GraphClient
from .identity import EntraClient
from .profile_api import ProfileApiClient
from .readiness import ReadinessProbe
from .sessions import SessionPolicy, SessionStore
from .token_cache import TokenCacheCodec


@dataclass(frozen=True)
class Services:
    settings: Settings
    entra: EntraClient
    graph: GraphClient
    token_cache_codec: TokenCacheCodec
    session_store: SessionStore
    browser_sealer: Fernet = field(repr=False)
    session_policy: SessionPolicy
    readiness: ReadinessProbe
    # API mode (PROFILE_API_URL): the edit goes to the mfa-app API; None in direct mode (Graph PATCH /me).
    profile_api: ProfileApiClient | None = None
    # The one clock for session rules; tests replace it to move time without sleeping.
    clock: Callable[[], float] = time.time
