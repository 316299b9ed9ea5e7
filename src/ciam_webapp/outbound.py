"""The web app's outbound HTTP session: ciam_core's (`ciam_core/outbound.py`), named in User-Agent.

The rest is re-exported for the app factory, the tests and the benchmarks that import it from here.
"""

from __future__ import annotations

from ciam_core import outbound as core_outbound
from ciam_core.outbound import (
    Bulkhead,
    OneContextAdapter,
    OutboundCallsExhausted,
    Timeout,
    graph_retry,
    tenant_retry,
    tls_context,
    trusted_ca_file,
)

__all__ = [
    "Bulkhead",
    "OneContextAdapter",
    "OutboundCallsExhausted",
    "OutboundSession",
    "Timeout",
    "graph_retry",
    "tenant_retry",
    "tls_context",
    "trusted_ca_file",
]


class OutboundSession(core_outbound.OutboundSession):
    user_agent = "ciam-webapp"
