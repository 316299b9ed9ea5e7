"""The API's HTTP sessions to the tenant and to Graph: ciam_core's (`ciam_core/outbound.py`), named
in User-Agent. Every request has a timeout, every HTTPS connection is verified against one TLS
context built once with the trusted CAs (CA_BUNDLE, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE), and
retries are bounded urllib3 Retry policies.

The tenant session retries idempotent GETs (discovery, JWKS) only, never the token POST; the Graph
session also retries 429/503 on GET and PATCH (PATCH /me sets values: repeating it is harmless),
honouring Retry-After up to a bound.
"""

from __future__ import annotations

from urllib3.util.retry import Retry

from ciam_core import outbound as core_outbound
from ciam_core.outbound import tenant_retry

__all__ = ["OutboundSession", "graph_retry", "tenant_retry"]


class OutboundSession(core_outbound.OutboundSession):
    user_agent = "ciam-api"


def graph_retry(*, attempts: int = 3, retry_after_max: int = 5) -> Retry:
    """The API's Graph budget: one more attempt and a longer Retry-After than the web app's, since its
    caller (the web app) waits for the answer and gunicorn's timeout is the API's own."""
    return core_outbound.graph_retry(attempts=attempts, retry_after_max=retry_after_max)
