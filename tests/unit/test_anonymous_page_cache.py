"""The anonymous home page is answered from memory for a few seconds (issue 16): the same bytes and
headers Flask gives, a fresh request id each time, and nothing kept that could belong to someone."""

from __future__ import annotations

import pytest
from flask import Flask, make_response

from ciam_webapp import ANONYMOUS_PAGE_SECONDS, Settings, create_app
from ciam_webapp.web.anonymous_pages import AnonymousPageCache
from tests.unit.test_config import VALID


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def app(tmp_path):
    app = create_app(Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)}))
    app.rendered = []  # type: ignore[attr-defined]
    app.before_request(lambda: app.rendered.append(1))  # type: ignore[attr-defined]
    return app


def without_request_id(response) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted((n, v) for n, v in response.headers.items() if n != "X-Request-Id")


def test_a_visitor_without_cookies_gets_flasks_answer_from_memory(app):
    client = app.test_client(use_cookies=False)
    first = client.get("/")
    again = [client.get("/") for _ in range(3)]
    assert len(app.rendered) == 1, "Flask rendered the anonymous home page once"
    for response in again:
        assert response.status_code == 200
        assert response.data == first.data
        assert without_request_id(response) == without_request_id(first)
    ids = {r.headers["X-Request-Id"] for r in [first, *again]}
    assert len(ids) == 4, "every answer carries its own request id"
    assert client.get("/", headers={"X-Request-Id": "proxy42"}).headers["X-Request-Id"] == "proxy42"
    assert first.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in first.headers
    assert "Set-Cookie" not in first.headers


def test_any_cookie_a_query_or_another_method_or_path_goes_to_flask(app):
    client = app.test_client(use_cookies=False)
    client.get("/")
    rendered = len(app.rendered)
    client.get("/", headers={"Cookie": "ciam_session=whatever"})
    client.get("/?x=1")
    client.head("/")
    client.get("/healthz")
    client.get("/healthz")
    assert len(app.rendered) == rendered + 5


def test_each_scheme_has_its_own_answer(app):
    client = app.test_client(use_cookies=False)
    plain = client.get("/")
    secure = client.get("/", base_url="https://localhost")
    assert "Strict-Transport-Security" not in plain.headers
    assert "Strict-Transport-Security" in secure.headers
    assert "Strict-Transport-Security" in client.get("/", base_url="https://localhost").headers
    assert "Strict-Transport-Security" not in client.get("/").headers
    assert len(app.rendered) == 2


def test_the_answer_is_rendered_again_after_its_time(app):
    clock = Clock()
    inner = app.wsgi_app.app  # under the cache create_app installed
    app.wsgi_app = AnonymousPageCache(inner, ["/"], ttl=ANONYMOUS_PAGE_SECONDS, clock=clock)
    client = app.test_client(use_cookies=False)
    client.get("/")
    clock.now += ANONYMOUS_PAGE_SECONDS - 0.01
    client.get("/")
    assert len(app.rendered) == 1
    clock.now += 0.02
    client.get("/")
    assert len(app.rendered) == 2


def test_only_a_200_without_set_cookie_is_kept():
    toy = Flask(__name__)
    calls: list[str] = []

    @toy.get("/cookie")
    def with_cookie():  # type: ignore[no-untyped-def]
        calls.append("cookie")
        response = make_response("hello")
        response.set_cookie("visitor", "v1")
        return response

    @toy.get("/missing")
    def missing():  # type: ignore[no-untyped-def]
        calls.append("missing")
        return "gone", 404

    toy.wsgi_app = AnonymousPageCache(toy.wsgi_app, ["/cookie", "/missing"], ttl=60)  # type: ignore[method-assign]
    client = toy.test_client(use_cookies=False)
    for _ in range(2):
        assert client.get("/cookie").headers["Set-Cookie"].startswith("visitor=v1")
        assert client.get("/missing").status_code == 404
    assert calls == ["cookie", "missing", "cookie", "missing"]
