"""Flask's coroutine check on every hook and view is worked out once per function (issue 16)."""

from __future__ import annotations

import flask.app
import pytest

from ciam_webapp import Settings, create_app
from tests.unit.test_config import VALID


@pytest.fixture()
def app(tmp_path):
    return create_app(Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)}))


def test_a_repeated_page_asks_no_coroutine_question(app, monkeypatch):
    client = app.test_client()
    assert client.get("/").status_code == 200  # every hook and the view are seen once
    asked: list[object] = []
    check = flask.app.iscoroutinefunction

    def counting(func):  # type: ignore[no-untyped-def]
        asked.append(func)
        return check(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counting)
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert asked == []


def test_every_function_gets_flasks_own_answer(app):
    def plain() -> str:
        return "plain"

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain  # the remembered answer is the same one

    async def asynchronous() -> str:
        return "async"

    # Flask wraps an async function (and needs asgiref for it); the cache must not change that.
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(asynchronous)
