"""The sign-in rate limit (Flask-Limiter, `SIGN_IN_RATE_LIMIT`): one budget per client for starting a
sign-in or a sign-up, a 429 page in the site's style, per real client behind a trusted proxy,
counted together by every instance on Redis, and open (logged) when its Redis is down.

Flask-Limiter's own log lines are product behaviour too: operators read them. They are checked in
the log of the app run as in production (`ciam-webapp serve`), not through pytest's log capture,
which would see them even if the app never wrote them anywhere.
"""

from __future__ import annotations

import json
import time

import requests

from tests.concurrency.browser import Browser
from tests.conftest import SUITE_SECRETS

LIMITED = ("/auth/sign-in", "/auth/sign-up")


def _start(app, path: str, **headers: str) -> requests.Response:
    return requests.get(app.url(path), headers=headers, allow_redirects=False, timeout=10)


def _started(response: requests.Response) -> bool:
    return response.status_code == 302 and "/oauth2/v2.0/authorize?" in response.headers["Location"]


def _assert_too_many(response: requests.Response) -> None:
    assert response.status_code == 429, (response.status_code, response.headers.get("Location"))
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60, retry_after
    assert response.headers["Content-Type"].startswith("text/html")
    text = response.text
    assert "Too many attempts" in text and "Wait a minute, then try again." in text
    assert 'class="site-header"' in text and "/static/css/site.css" in text  # the site's own frame and style
    assert "Traceback" not in text


def test_sign_in_and_sign_up_share_one_budget_and_the_429_page_is_the_sites(start_instance):
    app = start_instance(secret_key="r" * 64, SIGN_IN_RATE_LIMIT="5 per minute")
    for path in ("/auth/sign-in", "/auth/sign-up", "/auth/sign-in", "/auth/sign-up", "/auth/sign-in"):
        assert _started(_start(app, path)), path
    for path in LIMITED:
        _assert_too_many(_start(app, path))
    # Other pages are not limited.
    assert _start(app, "/").status_code == 200


def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(start_instance):
    app = start_instance(secret_key="p" * 64, SIGN_IN_RATE_LIMIT="3 per minute", TRUSTED_PROXIES="1")
    first, second = "203.0.113.7", "198.51.100.9"
    for _ in range(3):
        assert _started(_start(app, "/auth/sign-in", **{"X-Forwarded-For": first}))
    _assert_too_many(_start(app, "/auth/sign-up", **{"X-Forwarded-For": first}))
    # A client that sends its own X-Forwarded-For is still known by the address the proxy appends.
    _assert_too_many(_start(app, "/auth/sign-in", **{"X-Forwarded-For": f"10.9.9.9, {first}"}))
    for _ in range(3):
        assert _started(_start(app, "/auth/sign-in", **{"X-Forwarded-For": second})), "another client has its own"
    _assert_too_many(_start(app, "/auth/sign-in", **{"X-Forwarded-For": second}))


def test_without_a_trusted_proxy_a_forged_forwarded_header_does_not_escape_the_limit(start_instance):
    app = start_instance(secret_key="q" * 64, SIGN_IN_RATE_LIMIT="3 per minute")
    for n in range(3):
        assert _started(_start(app, "/auth/sign-in", **{"X-Forwarded-For": f"192.0.2.{n}"}))
    _assert_too_many(_start(app, "/auth/sign-in", **{"X-Forwarded-For": "192.0.2.99"}))


def test_on_redis_two_instances_count_together(start_instance, private_redis):
    secret_key = "s" * 64
    a, b = (
        start_instance(
            secret_key=secret_key, SESSION_TYPE="redis", REDIS_URL=private_redis.url, SIGN_IN_RATE_LIMIT="4 per minute"
        )
        for _ in range(2)
    )
    for app in (a, b, a, b):
        assert _started(_start(app, "/auth/sign-in"))
    _assert_too_many(_start(a, "/auth/sign-in"))
    _assert_too_many(_start(b, "/auth/sign-up"))
    counters = [k for k in private_redis.client().scan_iter() if b"ciam-limits" in k]
    assert len(counters) == 1, counters  # one counter for this client, shared by both


def _log_lines(served) -> list[dict]:
    lines = []
    for line in served.log_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _wait_for_log(served, condition, what: str) -> list[dict]:
    deadline = time.monotonic() + 5
    while not any(condition(entry) for entry in _log_lines(served)):
        assert time.monotonic() < deadline, f"the app's log has no {what}:\n{served.log_text()[-3000:]}"
        time.sleep(0.1)
    return [entry for entry in _log_lines(served) if condition(entry)]


def test_the_limit_is_logged_and_without_its_redis_sign_in_still_works_and_that_is_logged(
    serve_app, private_redis, tenant, customer
):
    # As in production: gunicorn with two workers, the counters in Redis, sessions in the embedded store.
    app = serve_app(SIGN_IN_RATE_LIMIT="3 per minute", RATE_LIMIT_STORAGE_URL=private_redis.url)
    for _ in range(3):
        assert _started(_start(app, "/auth/sign-in"))
    _assert_too_many(_start(app, "/auth/sign-in"))
    breach = _wait_for_log(
        app, lambda e: e["logger"] == "flask-limiter" and "exceeded at endpoint" in e["message"], "Flask-Limiter line"
    )
    assert breach[0]["message"] == "ratelimit 3 per 1 minute (127.0.0.1) exceeded at endpoint: sign-in-start"
    _wait_for_log(app, lambda e: e["message"] == "sign-in starts rate-limited for a client", "429 line of the app")

    private_redis.kill()
    started = time.monotonic()
    for path in LIMITED:  # over the limit, but the counters cannot be read: let customers in
        assert _started(_start(app, path)), path
    browser = Browser(app, tenant, customer.email, customer.password)
    browser.sign_in()
    SUITE_SECRETS.add(browser.session_id())
    assert browser.get("/claims").status == 200
    assert time.monotonic() - started < 10, "a refused connection to the counters' Redis fails fast"
    failed = _wait_for_log(
        app,
        lambda e: e["logger"] == "flask-limiter" and e["message"] == "Failed to rate limit. Swallowing error",
        "line saying the limit could not be checked",
    )
    assert f":{private_redis.port}" in failed[0]["exception"], "the reason names the Redis it could not reach"
    assert "Traceback" not in browser.get("/").text
