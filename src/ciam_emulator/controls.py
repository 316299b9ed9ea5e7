"""In-memory run-time state: request counters and the faults tests can inject.

Counters are always kept (they are cheap) but only the test-control API exposes them.
Faults and misbehaviours can only be set through the test-control API, which exists only
when the emulator runs with ``test_controls=True``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ciam_emulator.tokens import (
    CALLBACK_MISBEHAVIOURS,
    DISCOVERY_MISBEHAVIOURS,
    ID_TOKEN_MISBEHAVIOURS,
    TOKEN_RESPONSE_MISBEHAVIOURS,
)

MISBEHAVIOUR_CASES = (
    ID_TOKEN_MISBEHAVIOURS | CALLBACK_MISBEHAVIOURS | TOKEN_RESPONSE_MISBEHAVIOURS | frozenset(DISCOVERY_MISBEHAVIOURS)
)


@dataclass(frozen=True)
class InjectedResponse:
    """One scripted answer: a status (with Retry-After / claims challenge) and/or a delay."""

    status: int | None = None
    retry_after: int | None = None
    delay_seconds: float = 0.0
    claims: dict[str, Any] | None = None
    error: str | None = None
    error_description: str | None = None

    @classmethod
    def from_json(cls, item: Any) -> InjectedResponse:
        if not isinstance(item, dict):
            raise ValueError("each response must be a JSON object")
        status = item.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        retry_after = item.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer")
        delay = item.get("delay_seconds", 0)
        if not isinstance(delay, int | float) or not 0 <= delay <= 60:
            raise ValueError("delay_seconds must be between 0 and 60")
        claims = item.get("claims")
        if claims is not None and not isinstance(claims, dict):
            raise ValueError("claims must be a JSON object")
        if status is None and not delay:
            raise ValueError("give a status, a delay_seconds, or both")
        return cls(
            status=status,
            retry_after=retry_after,
            delay_seconds=float(delay),
            claims=claims,
            error=item.get("error"),
            error_description=item.get("error_description"),
        )


class RuntimeControls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._graph_faults: deque[InjectedResponse] = deque()
        self._token_faults: deque[InjectedResponse] = deque()
        self._misbehaviour: str | None = None
        self._jwks_extras: list[dict[str, Any]] = []
        self.access_token_lifetime_seconds: int | None = None
        self._paused_until = 0.0  # time.monotonic(); in the past: not paused
        self._pause_graph_too = True

    # counters
    def count(self, name: str) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(self._counters)
        return {
            "token": {
                "authorization_code": counters.get("token:authorization_code", 0),
                "refresh_token": counters.get("token:refresh_token", 0),
                "on_behalf_of": counters.get("token:on_behalf_of", 0),
            },
            "graph": {"GET /me": counters.get("graph:GET /me", 0), "PATCH /me": counters.get("graph:PATCH /me", 0)},
            "authorize": counters.get("authorize", 0),
            "discovery": counters.get("discovery", 0),
            "jwks": counters.get("jwks", 0),
            "logout": counters.get("logout", 0),
        }

    def reset_stats(self) -> None:
        with self._lock:
            self._counters.clear()

    # scripted faults
    def set_graph_faults(self, responses: list[InjectedResponse]) -> None:
        with self._lock:
            self._graph_faults = deque(responses)

    def next_graph_fault(self) -> InjectedResponse | None:
        with self._lock:
            return self._graph_faults.popleft() if self._graph_faults else None

    def set_token_faults(self, responses: list[InjectedResponse]) -> None:
        with self._lock:
            self._token_faults = deque(responses)

    def next_token_fault(self) -> InjectedResponse | None:
        with self._lock:
            return self._token_faults.popleft() if self._token_faults else None

    # one-shot misbehaviour
    def set_misbehaviour(self, case: str | None) -> None:
        if case is not None and case not in MISBEHAVIOUR_CASES:
            raise ValueError(f"unknown case {case!r}")
        with self._lock:
            self._misbehaviour = case

    def take_id_token_misbehaviour(self) -> str | None:
        return self._take(ID_TOKEN_MISBEHAVIOURS)

    def take_callback_misbehaviour(self) -> str | None:
        return self._take(CALLBACK_MISBEHAVIOURS)

    def take_token_response_misbehaviour(self) -> str | None:
        return self._take(TOKEN_RESPONSE_MISBEHAVIOURS)

    def take_discovery_misbehaviour(self) -> str | None:
        return self._take(frozenset(DISCOVERY_MISBEHAVIOURS))

    def _take(self, family: frozenset[str]) -> str | None:
        with self._lock:
            case = self._misbehaviour
            if case in family:
                self._misbehaviour = None
                return case
            return None

    def publish_once(self, jwk: dict[str, Any]) -> None:
        """A foreign key (FOREIGN_KEY_MISBEHAVIOURS) for the next JWKS answer only."""
        with self._lock:
            self._jwks_extras.append(jwk)

    def take_jwks_extras(self) -> list[dict[str, Any]]:
        with self._lock:
            extras, self._jwks_extras = self._jwks_extras, []
            return extras

    def pending_misbehaviour(self) -> str | None:
        with self._lock:
            return self._misbehaviour

    # the whole tenant hanging (test control, not an Entra behaviour): every endpoint accepts the
    # connection and then answers nothing until the pause ends, as a tenant behind a stalled front
    # door or a network partition looks from the app
    def pause(self, seconds: float, *, graph_too: bool = True) -> None:
        if not 0 <= seconds <= 120:
            raise ValueError("seconds must be between 0 and 120")
        with self._lock:
            self._paused_until = time.monotonic() + seconds
            self._pause_graph_too = graph_too

    def wait_while_paused(self, *, is_graph: bool) -> None:
        if is_graph and not self._pause_graph_too:
            return
        while (remaining := self._paused_until - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.05))  # polled, so ending the pause early releases every request
