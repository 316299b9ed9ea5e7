"""Runs last (directory order): the logs of the whole suite hold no secret, code, token or cookie.

The suite log (tests/conftest.py, suite_log) holds the app's loggers and those of the libraries it
talks to the tenant through (msal, urllib3, requests) at DEBUG.
"""

import io
import logging
import re
from urllib.parse import parse_qs, urlsplit

from ciam_webapp.web.logs import JsonFormatter
from tests.conftest import LOGGED_AT_DEBUG, SUITE_SECRETS
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


# Last in this file: the suite log then holds the test above too.
def test_logs_of_the_whole_suite_hold_no_secrets(suite_log, tenant):
    for handler in logging.getLogger("ciam_webapp").handlers:
        handler.flush()
    text = suite_log.read_text(encoding="utf-8")
    codes = {m["code"] for m in tenant.control().get(f"{tenant.base_url}/_emulator/outbox.json", timeout=10).json()}
    leaked = [s for s in SUITE_SECRETS if s and s in text]
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
