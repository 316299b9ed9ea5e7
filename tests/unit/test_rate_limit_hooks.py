"""Flask-Limiter's request hooks run for the sign-in starts only (issue 16): every other page skips
its limit resolution, header injection and context, while the sign-in starts are still checked."""

from __future__ import annotations

import flask_limiter._extension as limiter_module
import pytest

from ciam_webapp import Settings, create_app
from tests.unit.test_config import VALID


@pytest.fixture()
def client(tmp_path):
    app = create_app(Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)}))
    return app.test_client()


def test_pages_other_than_the_sign_in_starts_never_reach_the_limiter(client, monkeypatch):
    looked_up: list[str] = []
    identify = limiter_module.Limiter.identify_request

    def counting(self):  # type: ignore[no-untyped-def]
        looked_up.append("x")
        return identify(self)

    monkeypatch.setattr(limiter_module.Limiter, "identify_request", counting)
    for path in ("/", "/healthz", "/static/favicon.svg", "/claims"):
        client.get(path)
    assert looked_up == []
    client.get("/auth/sign-in")  # the tenant cannot be reached here; the limit is checked first all the same
    assert looked_up, "the sign-in start is still checked against its limit"
