"""The sign-in rate limit covers the sign-in starts and nothing else, and the limiter does no work for the
other pages (web/rate_limits.py: its request filter; the bench measured the work it saves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ciam_webapp import create_app
from tests.conftest import app_settings


@pytest.fixture()
def app(tenant, tmp_path) -> Iterator:
    settings = app_settings(tenant, "http://localhost:5999", tmp_path, SIGN_IN_RATE_LIMIT="3 per minute")
    yield create_app(settings)


def _limiter(app):
    (limiter,) = app.extensions["limiter"]
    return limiter


def test_sign_in_and_sign_up_starts_share_the_limit(app):
    client = app.test_client()
    statuses = [client.get(path).status_code for path in ("/auth/sign-in", "/auth/sign-up", "/auth/sign-in")]
    assert statuses == [302, 302, 302]
    refused = client.get("/auth/sign-up")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]


def test_other_pages_are_never_limited_nor_counted(app):
    client = app.test_client()
    for _ in range(10):
        assert client.get("/").status_code == 200
        assert client.get("/claims").status_code == 302  # to sign in: not signed in
        assert client.get("/signed-in-cancelled").status_code == 200
    assert [client.get("/auth/sign-in").status_code for _ in range(3)] == [302, 302, 302]


def test_the_limiter_resolves_no_limits_for_pages_that_have_none(app, monkeypatch):
    resolved: list[str | None] = []
    manager = _limiter(app).limit_manager
    original = manager.resolve_limits

    def counting(flask_app, endpoint, *args, **kwargs):
        resolved.append(endpoint)
        return original(flask_app, endpoint, *args, **kwargs)

    monkeypatch.setattr(manager, "resolve_limits", counting)
    client = app.test_client()
    for path in ("/", "/claims", "/profile", "/signed-in-cancelled", "/healthz"):
        client.get(path)
    assert resolved == [], "the limiter worked out limits for a page that has none"
    assert client.get("/auth/sign-in").status_code == 302
    assert "auth.sign_in" in resolved, "the sign-in start is still checked against its limit"
