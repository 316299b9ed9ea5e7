"""One JSON log line format for the web app and the API (ciam_core.json_logs), with each app's request fields."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from flask import Flask

from ciam_api import logs as api_logs
from ciam_core.json_logs import JsonFormatter, request_id_for
from ciam_webapp.web import logs as webapp_logs


def record(**extra: object) -> logging.LogRecord:
    line = logging.LogRecord("ciam_core.jwks", logging.WARNING, __file__, 1, "keys %s", ("refreshed",), None)
    for name, value in extra.items():
        setattr(line, name, value)
    return line


def test_a_line_holds_the_message_and_what_extra_passed_and_no_request_fields_outside_a_request() -> None:
    entry = json.loads(JsonFormatter().format(record(kid="k1", absent=None)))
    assert list(entry) == ["ts", "level", "logger", "message", "kid"]
    assert entry["message"] == "keys refreshed" and entry["level"] == "WARNING" and entry["ts"].endswith("Z")


def test_ciam_core_logs_without_flask() -> None:
    # A fresh interpreter: the test process has Flask loaded already.
    probe = "import sys, ciam_core.json_logs; print('flask' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("incoming", ["proxy42", "A" * 64])
def test_a_plain_request_id_from_a_proxy_carries_through(incoming: str) -> None:
    assert request_id_for(incoming) == incoming


@pytest.mark.parametrize("incoming", ["", "a b", "x" * 65, "id\nforged"])
def test_any_other_request_id_is_replaced(incoming: str) -> None:
    replaced = request_id_for(incoming)
    assert replaced != incoming and replaced.isalnum() and len(replaced) == 16


@pytest.mark.parametrize("logs", [api_logs, webapp_logs], ids=["api", "webapp"])
def test_each_app_adds_the_request_id_and_path_inside_a_request(logs) -> None:  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    logs.configure_logging(app, "INFO")
    lines: list[dict[str, object]] = []

    @app.get("/where")
    def where() -> str:
        lines.append(json.loads(logs.JsonFormatter().format(record(user="u1"))))
        return "ok"

    response = app.test_client().get("/where?code=secret", headers={"X-Request-Id": "proxy42"})
    assert response.headers["X-Request-Id"] == "proxy42"
    assert lines == [{**lines[0], "request_id": "proxy42", "path": "/where", "user": "u1"}]
    assert list(lines[0]) == ["ts", "level", "logger", "message", "request_id", "path", "user"]


@pytest.mark.parametrize("logs", [api_logs, webapp_logs], ids=["api", "webapp"])
def test_ciam_cores_lines_go_through_the_apps_json_handler(logs) -> None:  # type: ignore[no-untyped-def]
    # e.g. a bulkhead's refusal (ciam_core.outbound) or a key set that could not be refreshed (ciam_core.jwks)
    logs.configure_logging(Flask(__name__), "INFO")
    [handler] = logging.getLogger("ciam_core").handlers
    assert isinstance(handler.formatter, logs.JsonFormatter)
    assert logging.getLogger("ciam_core.outbound").getEffectiveLevel() == logging.INFO
