"""Entra's error body: ``AADSTSnnnnn: message`` plus trace/correlation ids and a timestamp."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ciam_emulator.errors import EntraProtocolError


def correlation_id_from(client_request_id: str | None) -> str:
    """Entra reuses the client's ``client-request-id`` as the correlation id when it is a GUID."""
    if client_request_id:
        try:
            return str(uuid.UUID(client_request_id))
        except ValueError:
            pass
    return str(uuid.uuid4())


def entra_timestamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%SZ")


def error_description(error: EntraProtocolError, trace_id: str, correlation_id: str, timestamp: str) -> str:
    return (
        f"AADSTS{error.code}: {error.message}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    )


def error_body(error: EntraProtocolError, correlation_id: str) -> dict[str, Any]:
    """The JSON body of a token-endpoint (or other API) error, in Entra's member order."""
    trace_id = str(uuid.uuid4())
    timestamp = entra_timestamp()
    body: dict[str, Any] = {
        "error": error.error,
        "error_description": error_description(error, trace_id, correlation_id, timestamp),
        "error_codes": [error.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={error.code}",
    }
    body.update(error.extra)
    return body
