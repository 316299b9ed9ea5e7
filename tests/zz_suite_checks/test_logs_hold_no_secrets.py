"""Runs last (directory order): the logs of the whole suite hold no secret, code, token or cookie."""

import logging
import re

from tests.conftest import SUITE_SECRETS

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")


def test_logs_of_the_whole_suite_hold_no_secrets(suite_log, tenant):
    for handler in logging.getLogger("ciam_webapp").handlers:
        handler.flush()
    text = suite_log.read_text(encoding="utf-8")
    codes = {m["code"] for m in tenant.control().get(f"{tenant.base_url}/_emulator/outbox.json", timeout=10).json()}
    leaked = [s for s in SUITE_SECRETS if s and s in text]
    assert not leaked, f"{len(leaked)} secret value(s) found in the logs"
    # One-time codes are short digit strings: only a standalone occurrence counts.
    leaked_codes = [c for c in codes if re.search(rf"(?<![0-9A-Za-z]){re.escape(c)}(?![0-9A-Za-z])", text)]
    assert not leaked_codes, f"{len(leaked_codes)} one-time code(s) found in the logs"
    assert not JWT.search(text), "a JWT appears in the logs"
    assert "code=" not in text, "an authorization code parameter appears in the logs"
    assert "refresh_token" not in text and "client_secret" not in text
