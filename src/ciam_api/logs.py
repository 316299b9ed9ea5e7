"""Structured logs: one JSON object a line, with the request id, never a token.

Only what the code passes explicitly (message and `extra=`) is written; headers and bodies never are.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, has_request_context, request

from ciam_core import json_logs as core_json_logs
from ciam_core.json_logs import log_as_json, request_id_for


class JsonFormatter(core_json_logs.JsonFormatter):
    """ciam_core's JSON lines, with the id and path of the request being served."""

    def context_fields(self) -> dict[str, Any]:
        if has_request_context():
            return {"request_id": g.get("request_id"), "path": request.path}
        return {}


def configure_logging(app: Flask, level: str) -> None:
    log_as_json("ciam_api", level, JsonFormatter())

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_for(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response
