"""Structured logs: one JSON object a line. Pure `logging`, no web framework.

Only what the code passes explicitly (message and `extra=`) is written; each app adds the fields of
the request being served (its id and path) through `JsonFormatter.context_fields`, so request
bodies, query strings, cookies and headers are never logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """ts, level, logger and message, then `context_fields()`, then the record's `extra=` values."""

    def context_fields(self) -> dict[str, Any]:
        """Fields of what is being served when the record is made; none outside a web framework."""
        return {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(self.context_fields())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_as_json(package: str, level: str, formatter: JsonFormatter) -> logging.Handler:
    """Make one stderr handler with `formatter` the only handler of `package`'s logger and of
    ciam_core's (the signing keys, a refused outbound call: the app's lines too), at `level`.
    Returns the handler, for other loggers the app wants in the same stream."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    for name in (package, "ciam_core"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = True  # tests capture through the root logger
    return handler


def request_id_for(incoming: str) -> str:
    """The request's id: the caller's X-Request-Id when it is plain (letters and digits, at most
    64), so a proxy's id carries through; otherwise a new one."""
    return incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
