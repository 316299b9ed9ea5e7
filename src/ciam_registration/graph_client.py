"""A small Microsoft Graph client: JSON in and out, timeouts, bounded retries, typed errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from ciam_registration.errors import (
    GraphAuthenticationError,
    GraphConflictError,
    GraphNotFoundError,
    GraphPermissionError,
    GraphRequestError,
    GraphThrottledError,
    GraphUnavailableError,
)

logger = logging.getLogger(__name__)

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
# (connect, read) seconds for every call.
DEFAULT_TIMEOUT = (5.0, 30.0)
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 10.0
_RETRYABLE_STATUSES = {429, 502, 503, 504}
# A POST that got a 5xx may have been carried out; retrying it could create a second object.
# 429 means Graph refused the request before doing anything, so only that is safe to repeat.
_RETRYABLE_POST_STATUSES = {429}


class GraphClient:
    """Calls one Graph endpoint with one delegated access token.

    ``ca_bundle`` is passed as ``verify=`` on each request: with REQUESTS_CA_BUNDLE set in the
    environment, requests would let it override a Session-level ``verify``.
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = DEFAULT_GRAPH_ENDPOINT,
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._access_token = access_token
        self.base_url = base_url.rstrip("/")
        self._verify: str | bool = ca_bundle or True
        self._timeout = timeout
        self._http = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the token
        return f"GraphClient(base_url={self.base_url!r})"

    # --- verbs ------------------------------------------------------------------------------

    def get(self, path: str, *, permission: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._call("GET", path, permission=permission, params=params) or {}

    def list(self, path: str, *, permission: str, odata_filter: str | None = None) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink pages."""
        params = {"$filter": odata_filter} if odata_filter else None
        page = self._call("GET", path, permission=permission, params=params) or {}
        items = list(page.get("value", []))
        while page.get("@odata.nextLink"):
            page = self._call("GET", page["@odata.nextLink"], permission=permission) or {}
            items.extend(page.get("value", []))
        return items

    def post(self, path: str, body: dict[str, Any], *, permission: str) -> dict[str, Any]:
        return self._call("POST", path, permission=permission, body=body) or {}

    def patch(self, path: str, body: dict[str, Any], *, permission: str) -> None:
        self._call("PATCH", path, permission=permission, body=body)

    # --- plumbing ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path  # a nextLink
        return f"{self.base_url}/{path.lstrip('/')}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        permission: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        url = self._url(path)
        shown_path = urlsplit(url).path  # logs and errors name the path, never the token
        retryable = _RETRYABLE_POST_STATUSES if method == "POST" else _RETRYABLE_STATUSES
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"},
                    timeout=self._timeout,
                    verify=self._verify,
                )
            except requests.RequestException as problem:
                if method != "POST" and attempt < MAX_ATTEMPTS:
                    logger.warning("Graph %s %s failed (%s); retrying", method, shown_path, type(problem).__name__)
                    self._sleep(1.0 * attempt)
                    continue
                raise GraphUnavailableError(
                    f"Microsoft Graph could not be reached for {method} {shown_path}: {type(problem).__name__}. "
                    "Check --graph-endpoint, your network and (for a local tenant) --ca-bundle.",
                    method=method,
                    path=shown_path,
                ) from problem
            logger.info("Graph %s %s -> %s", method, shown_path, response.status_code)
            if response.status_code in retryable and attempt < MAX_ATTEMPTS:
                self._sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 400:
                raise _error_from(response, method, shown_path, permission)
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError as problem:
                raise GraphUnavailableError(
                    f"Microsoft Graph answered {method} {shown_path} with something that is not JSON.",
                    method=method,
                    path=shown_path,
                    status=response.status_code,
                ) from problem
        raise AssertionError("unreachable: the last attempt returns or raises")


def _retry_after(response: requests.Response, attempt: int) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        seconds = 2.0 * attempt
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def _error_from(response: requests.Response, method: str, path: str, permission: str) -> GraphRequestError:
    """Turn Graph's ``{"error": {"code", "message", "innerError": {"request-id"}}}`` into a typed error."""
    code = graph_message = request_id = None
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if isinstance(error, dict):
        code = error.get("code")
        graph_message = error.get("message")
        inner = error.get("innerError") or {}
        request_id = inner.get("request-id") if isinstance(inner, dict) else None
    request_id = request_id or response.headers.get("request-id")
    status = response.status_code
    said = f"Graph said {status} {code or ''}: {graph_message or response.reason}".replace("  ", " ")
    if request_id:
        said += f" (request-id {request_id})"
    details = {
        "method": method,
        "path": path,
        "status": status,
        "code": code,
        "graph_message": graph_message,
        "request_id": request_id,
    }
    if status == 401:
        return GraphAuthenticationError(
            f"The admin token was refused for {method} {path}: it is missing, expired or not a Microsoft Graph "
            f"token. Sign in again. {said}",
            **details,
        )
    if status == 403:
        return GraphPermissionError(
            f"The signed-in admin lacks {permission} (needed for {method} {path}). Sign in as an admin of the "
            f"external tenant and consent to that permission. {said}",
            **details,
        )
    if status == 404:
        return GraphNotFoundError(f"{method} {path}: not found. {said}", **details)
    if status == 409:
        return GraphConflictError(f"{method} {path}: the object exists already. {said}", **details)
    if status == 429:
        return GraphThrottledError(f"Microsoft Graph is throttling requests; try again later. {said}", **details)
    if status >= 500:
        return GraphUnavailableError(f"Microsoft Graph failed {method} {path}; try again later. {said}", **details)
    return GraphRequestError(f"Microsoft Graph refused {method} {path}. {said}", **details)
