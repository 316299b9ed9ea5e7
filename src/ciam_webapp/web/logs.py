"""Structured logs: one JSON object a line, with the request id, never a secret.

Only what a handler passes explicitly (message and `extra=`) is written; request bodies, query
strings, cookies and headers are never logged, so codes, tokens and session ids cannot leak here.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["path"] = request.path
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class QueryStringRedactor(logging.Filter):
    """The development server logs request lines, query string included, and a callback's query
    string holds the authorization code: keep the path, drop the query."""

    _query = re.compile(r"\?\S*")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(self._query.sub("?[redacted]", a) if isinstance(a, str) else a for a in record.args)
        record.msg = self._query.sub("?[redacted]", str(record.msg)) if isinstance(record.msg, str) else record.msg
        return True


class MsalRedactor(logging.Filter):
    """What MSAL itself logs, without the secrets it leaves in.

    - msal.token_cache logs every token event at DEBUG as JSON ("event=%s"); MSAL masks the tokens
      and the client secret in it, but not the authorization code, the PKCE verifier or a
      certificate app's client assertion (a signed JWT that authenticates as the app).
    - msal.oauth2cli.oauth2 logs a token response that is not JSON whole, at ERROR, tokens
      included. identity/token_response.py keeps such a body from MSAL (it is refused first); this
      is the second line, for any MSAL path that check does not cover.
    Installed on those two loggers: a logger's filters see only the records made on it.
    """

    MASKED_EVENT_DATA = frozenset({"code", "code_verifier", "client_assertion"})
    NOT_JSON_MESSAGE = "Token response is not in json format: %s"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self.NOT_JSON_MESSAGE:
            record.args = ("[body withheld]",)
        elif record.msg == "event=%s" and isinstance(record.args, tuple) and len(record.args) == 1:
            record.args = (self._masked_event(record.args[0]),)
        return True

    def _masked_event(self, text: object) -> str:
        try:
            event = json.loads(str(text))
        except ValueError:
            return "[event withheld: not the JSON MSAL is known to log]"
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict):
            return "[event withheld: not the JSON MSAL is known to log]"
        for name in self.MASKED_EVENT_DATA & data.keys():
            data[name] = "********"
        return json.dumps(event, sort_keys=True, default=str)


# Loggers whose records can hold the query string of a URL: the development server's request lines
# (a callback's query string is its authorization code) and urllib3's, which at DEBUG logs the
# request line of every outbound call and of every retry.
QUERY_STRING_LOGGERS = ("werkzeug", "urllib3.connectionpool", "urllib3.util.retry")
MSAL_LOGGERS_WITH_SECRETS = ("msal.token_cache", "msal.oauth2cli.oauth2")


def configure_logging(app: Flask, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    package_logger = logging.getLogger("ciam_webapp")
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)
    package_logger.propagate = True  # tests capture through the root logger
    # Flask-Limiter logs a breached limit (INFO) and a counter store it could not reach (ERROR: the
    # request was let through) on its own logger, which holds only a NullHandler: without ours both
    # lines are lost.
    limiter_logger = logging.getLogger("flask-limiter")
    limiter_logger.handlers[:] = [handler]
    limiter_logger.setLevel(level)
    for name in QUERY_STRING_LOGGERS:
        _install_once(logging.getLogger(name), QueryStringRedactor)
    for name in MSAL_LOGGERS_WITH_SECRETS:
        _install_once(logging.getLogger(name), MsalRedactor)

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_for(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response


def request_id_for(incoming: str) -> str:
    """The request's id: the caller's X-Request-Id when it is plain (letters and digits, at most
    64), so a proxy's id carries through; otherwise a new one."""
    return incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)


def _install_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    # Every create_app() configures logging again (tests build many apps); one filter of a kind is enough.
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())
