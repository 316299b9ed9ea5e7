"""Runs last (directory order): the logs of the whole suite hold no secret, code, token or cookie.

The suite log (tests/conftest.py, suite_log) holds the app's loggers and those of the libraries it
talks to the tenant through (msal, urllib3, requests) at DEBUG.
"""

import io
import json
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ciam_webapp.web.logs import JsonFormatter
from tests.conftest import LOGGED_AT_DEBUG, SUITE_ONE_TIME_CODES, SUITE_RECORD_DIR, SUITE_SECRETS
from tests.support.journeys import TenantPages, on_app

STANDALONE_RUN = re.compile(r"[0-9A-Za-z]+")
JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
# In MSAL's DEBUG token events (JSON inside the JSON log line, so its quotes may be escaped): a name
# that holds a secret, with its value masked ("********") or not.
SECRET_NAMES = r"(code|code_verifier|client_assertion|client_secret|access_token|refresh_token|id_token)"
MASKED = re.compile(rf'\\?"{SECRET_NAMES}\\?": \\?"\*+\\?"')
UNMASKED = re.compile(rf'\\?"{SECRET_NAMES}\\?": \\?"(?!\*+\\?")')


# MSAL's events also name the grant: the word, not a token.
REFRESH_GRANT = re.compile(r'\\?"grant_type\\?": \\?"refresh_token\\?"')


def without_masked_fields(text: str) -> str:
    """The text without the mentions of a secret's name that carry no secret (masked, or a grant type)."""
    return REFRESH_GRANT.sub("", MASKED.sub("", text))


def test_a_sign_in_and_a_token_response_that_is_not_json_leave_nothing_secret_in_any_log(
    person, webapp, tenant, customer
):
    """Every library logger at DEBUG, one good sign-in, then a token endpoint answering HTTP 200 with
    JSON cut short (access, refresh and ID token inside: MSAL used to log it whole)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    loggers = [root] + [logging.getLogger(name) for name in LOGGED_AT_DEBUG]
    saved_levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        page = person.get(webapp.url("/auth/sign-in"))
        page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
        assert on_app(page, webapp) and page.status == 200
        callback = next(r.url for r in page.response.history if "/auth/redirect" in r.url)
        code = parse_qs(urlsplit(callback).query)["code"][0]

        other = type(person)(tenant.ca_bundle)
        tenant.misbehave("token_response_not_json")
        refused = TenantPages(other, tenant, customer.email, customer.password).finish(
            other.get(webapp.url("/auth/sign-in"))
        )
        assert refused.status == 400 and "Sign-in failed" in refused.title()
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)
    text = stream.getvalue()
    assert '"logger": "msal' in text and '"logger": "urllib3' in text, "the libraries' DEBUG lines were captured"
    assert not JWT.search(text), "a JWT appears in the logs"
    assert "refresh_token" not in without_masked_fields(text)
    assert code not in text, "the authorization code appears in the logs"
    assert not UNMASKED.search(text), "a code, verifier, assertion or token appears in a library's log"
    assert "token endpoint answered HTTP 200 with a body that is not JSON" in text, "the refusal is logged"


def suite_records(own_log: Path) -> tuple[str, set[str], set[str]]:
    """Every log line, secret and one-time code of the run: this process's, and under `make test`
    (CIAM_SUITE_RECORD_DIR) those the suite's other processes left behind when they finished."""
    logs, secrets, codes = [own_log], set(SUITE_SECRETS), set(SUITE_ONE_TIME_CODES)
    if SUITE_RECORD_DIR:
        logs += [p for p in sorted(Path(SUITE_RECORD_DIR).glob("suite-*.log")) if p != own_log]
        for path in sorted(Path(SUITE_RECORD_DIR).glob("secrets-*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            secrets.update(record["secrets"])
            codes.update(record["codes"])
        assert len(logs) > 1, f"no other process's log in {SUITE_RECORD_DIR}: the suite did not run before this check"
    return "\n".join(p.read_text(encoding="utf-8") for p in logs), secrets, codes


def test_the_other_processes_logs_secrets_and_codes_are_read(tmp_path, monkeypatch):
    """Under `make test` the suite ran in other processes: what they left must reach the check."""
    monkeypatch.setattr(f"{__name__}.SUITE_RECORD_DIR", str(tmp_path))
    own = tmp_path / "suite-main.log"
    own.write_text('{"message": "this process"}\n')
    (tmp_path / "suite-gw7.log").write_text('{"message": "leaked other-process-secret-42"}\n')
    record = {"secrets": ["other-process-secret-42"], "codes": ["271828"]}
    (tmp_path / "secrets-gw7.json").write_text(json.dumps(record))
    text, secrets, codes = suite_records(own)
    assert "this process" in text and "other-process-secret-42" in text
    assert "other-process-secret-42" in secrets and "271828" in codes


# Last in this file: the suite log then holds the test above too.
def test_logs_of_the_whole_suite_hold_no_secrets(suite_log, tenant):
    for handler in logging.getLogger("ciam_webapp").handlers:
        handler.flush()
    text, suite_secrets, codes = suite_records(suite_log)
    # The app's own lines are in it (every create_app() replaces its loggers' handlers: the suite's
    # handler listens on the root logger so that they still arrive), and the libraries' too. The
    # test above signs in, so these are there in any run, a subset too (the API's only if its tests ran).
    for logger in ("ciam_webapp", "msal", "urllib3"):
        assert f'"logger": "{logger}' in text, f"no line of {logger} in the suite log"
    codes |= {m["code"] for m in tenant.outbox()}
    leaked = [s for s in suite_secrets if s and s in text]
    assert not leaked, f"{len(leaked)} secret value(s) found in the logs"
    # One-time codes are short digit strings: only a standalone occurrence counts. One pass over the
    # log collects its standalone letter-and-digit runs (a search per code took over a minute).
    standalone_runs = set(STANDALONE_RUN.findall(text))
    leaked_codes = [
        c
        for c in codes
        if (c in standalone_runs if c.isalnum() else re.search(rf"(?<![0-9A-Za-z]){re.escape(c)}(?![0-9A-Za-z])", text))
    ]
    assert not leaked_codes, f"{len(leaked_codes)} one-time code(s) found in the logs"
    assert not JWT.search(text), "a JWT appears in the logs"
    assert "code=" not in text, "an authorization code parameter appears in the logs"
    assert not UNMASKED.search(text), "a code, verifier, assertion or token appears in a library's log"
    unmasked_text = without_masked_fields(text)
    assert "refresh_token" not in unmasked_text and "client_secret" not in unmasked_text
