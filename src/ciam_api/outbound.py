"""The API's HTTP sessions to the tenant and to Graph: every request has a timeout, a configured CA
bundle is passed per request (`requests` lets REQUESTS_CA_BUNDLE override `Session.verify` but never
an explicit `verify=`; entra-notes §11), and retries are bounded urllib3 Retry policies.

The tenant session retries idempotent GETs (discovery, JWKS) only, never the token POST; the Graph
session also retries 429/503 on GET and PATCH (PATCH /me sets values: repeating it is harmless),
honouring Retry-After up to a bound.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class OutboundSession(requests.Session):
    def __init__(self, *, timeout: float, ca_bundle: str | None = None, retry: Retry | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.ca_bundle = ca_bundle
        adapter = HTTPAdapter(max_retries=retry or tenant_retry(), pool_connections=4, pool_maxsize=32)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = "ciam-api"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if self.ca_bundle and kwargs.get("verify") in (None, True):
            kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)


def tenant_retry() -> Retry:
    return Retry(
        total=2,
        connect=2,
        read=1,
        status=2,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )


def graph_retry(*, attempts: int = 3, retry_after_max: int = 5) -> Retry:
    return Retry(
        total=attempts,
        connect=1,
        read=0,
        status=attempts,
        backoff_factor=0.5,
        status_forcelist=(429, 503),
        allowed_methods=frozenset({"GET", "PATCH"}),
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,
        raise_on_status=False,
    )
