"""Whether this instance can serve a signed-in user, asked at most once every few seconds.

A load balancer polls readiness often and from several places; each real probe writes to the
session store and fetches the tenant's discovery document. So the answer is kept for
`cache_seconds`, and a caller arriving while another thread probes gets the last answer (or "not
ready" before the first) instead of waiting or probing a second time. What failed is logged here,
once per probe, and never answered to the caller: an error such as "Error 111 connecting to
127.0.0.1:6391" maps the inside of the deployment for whoever can reach the probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

from .sessions import SessionStore, SessionStoreError

log = logging.getLogger(__name__)

# A check returns None when all is well, else why not (for the log only).
Check = Callable[[], str | None]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checked_at: float


class ReadinessProbe:
    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = dict(checks)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Readiness | None = None

    def current(self) -> Readiness:
        last = self._last
        if last is not None and self._clock() - last.checked_at < self._cache_seconds:
            return last
        if not self._lock.acquire(blocking=False):
            # Another thread is probing: answer what was known, and "not ready" before the first
            # answer, rather than hold this thread too.
            return last if last is not None else Readiness(ready=False, checked_at=self._clock())
        try:
            last = self._last
            if last is None or self._clock() - last.checked_at >= self._cache_seconds:
                self._last = last = self._probe()
            return last
        finally:
            self._lock.release()

    def _probe(self) -> Readiness:
        problems = {name: problem for name, check in self._checks.items() if (problem := check()) is not None}
        for name, problem in problems.items():
            log.warning("not ready: %s: %s", name, problem)
        return Readiness(ready=not problems, checked_at=self._clock())


# The discovery check's own timeouts (connect, read): a probe must answer before the prober gives up.
PROBE_TIMEOUT = (1.0, 2.0)


def session_store_check(store: SessionStore) -> Check:
    def check() -> str | None:
        try:
            store.probe()
        except SessionStoreError as exc:
            return f"session store ({store.name}): {exc.reason}"
        return None

    return check


def tenant_discovery_check(http: requests.Session, url: str) -> Check:
    def check() -> str | None:
        try:
            response = http.get(url, timeout=PROBE_TIMEOUT)
        except requests.RequestException as exc:
            return f"tenant discovery: {type(exc).__name__} reaching {url}"
        if response.status_code != 200:
            return f"tenant discovery: HTTP {response.status_code} from {url}"
        return None

    return check
