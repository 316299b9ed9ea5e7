"""The filters our logging set-up puts on library loggers (web/logs.py), record by record."""

import json
import logging

from ciam_webapp.web.logs import MsalRedactor, QueryStringRedactor


def record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, None)


def test_msal_token_body_that_is_not_json_is_withheld():
    body = '{"access_token": "at-secret", "refresh_token": "rt-secret", "id_token": "eyJ'
    line = record("msal.oauth2cli.oauth2", "Token response is not in json format: %s", body)
    assert MsalRedactor().filter(line)
    assert "secret" not in line.getMessage() and "withheld" in line.getMessage()


def test_msal_token_event_keeps_its_shape_without_code_verifier_or_assertion():
    event = {
        "client_id": "app",
        "data": {"code": "the-code", "code_verifier": "the-verifier", "client_assertion": "eyJ.x.y", "scope": "a"},
        "response": {"access_token": "********"},
    }
    line = record("msal.token_cache", "event=%s", json.dumps(event))
    assert MsalRedactor().filter(line)
    logged = json.loads(line.getMessage().removeprefix("event="))
    masked = "********"
    assert logged["data"] == {"code": masked, "code_verifier": masked, "client_assertion": masked, "scope": "a"}
    assert logged["client_id"] == "app"


def test_an_msal_event_in_an_unknown_format_is_withheld_whole():
    line = record("msal.token_cache", "event=%s", "code=the-code; not JSON")
    assert MsalRedactor().filter(line)
    assert "the-code" not in line.getMessage()


def test_urllib3_request_lines_lose_their_query_string():
    line = record(
        "urllib3.connectionpool",
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "localhost",
        443,
        "GET",
        "/auth/redirect?code=the-code&state=s",
        "HTTP/1.1",
        303,
        0,
    )
    assert QueryStringRedactor().filter(line)
    assert "the-code" not in line.getMessage() and "/auth/redirect?[redacted]" in line.getMessage()
