"""The pages a visitor without any cookie sees, answered from memory for a few seconds.

A request with no cookie at all cannot belong to a signed-in customer or a sign-in in progress, so
what the app answers it (the anonymous home page) is the same for every such request, apart from
the request id. Rendering it anyway costs Flask's whole request cycle, the hooks and the template;
this WSGI layer, inside ProxyFix (so the scheme is the client's), keeps the first answer per path
and scheme for `ttl` seconds and replays it with a fresh X-Request-Id. Only a 200 without
Set-Cookie is kept; anything else, any cookie, a query string or another method goes to Flask.
The answer can follow the tenant (sign-up offered or not) at most `ttl` seconds late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .logs import request_id_for

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class _Answer:
    status: str
    headers: tuple[tuple[str, str], ...]  # without the request id
    body: bytes
    expires: float


class AnonymousPageCache:
    def __init__(
        self, app: WsgiApp, paths: Iterable[str], *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.ttl = ttl
        self.clock = clock
        self._answers: dict[tuple[str, str], _Answer] = {}  # (path, scheme): a handful at most
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            path not in self.paths
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("HTTP_COOKIE")
            or environ.get("QUERY_STRING")
        ):
            return self.app(environ, start_response)
        key = (path, environ.get("wsgi.url_scheme", "http"))
        answer = self._answers.get(key)
        if answer is None or answer.expires <= self.clock():
            return self._answer_and_keep(key, environ, start_response)
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(answer.status, [*answer.headers, ("X-Request-Id", request_id)])
        return [answer.body]

    def _answer_and_keep(
        self, key: tuple[str, str], environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = seen.get("headers", [])
        if seen.get("status", "").startswith("200 ") and not any(n.lower() == "set-cookie" for n, _ in headers):
            kept = tuple((n, v) for n, v in headers if n.lower() != REQUEST_ID_HEADER)
            with self._lock:
                self._answers[key] = _Answer(seen["status"], kept, body, self.clock() + self.ttl)
        return [body]
