"""The session store fails. Our own redis-server is killed, paused, filled up and brought
back: people get a clear 503 page in the site's style, /readyz says not ready (the log says why), nothing is half-saved,
and the app recovers by itself. Also the embedded store: it works, holds no token in clear, and a
folder that cannot be written gives the same 503 page."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis

from ciam_webapp import READINESS_CACHE_SECONDS, ConfigError, create_app
from tests.conftest import app_settings
from tests.scale.conftest import session_id
from tests.scale.test_redis_sessions import JWT
from tests.support.journeys import sign_in, sign_in_up_to_the_callback
from tests.support.person import form_values


def _assert_store_unavailable_page(response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers.get("Retry-After") == "5"
    text = response.text
    assert "Temporarily unavailable" in text and "Nothing was changed" in text
    assert 'class="site-header"' in text and "/static/css/site.css" in text  # the site's own frame and style
    assert "Traceback" not in text and "Internal Server Error" not in text


@pytest.fixture()
def instance_on_private_redis(private_redis, start_instance):
    return start_instance(secret_key="o" * 64, SESSION_TYPE="redis", REDIS_URL=private_redis.url)


def test_redis_killed_mid_run_gives_503_pages_readyz_says_not_ready_and_the_app_recovers(
    instance_on_private_redis, private_redis, person, tenant, customer, app_logs
):
    app = instance_on_private_redis
    sign_in(person, app, tenant, customer.email, customer.password)
    assert person.get(app.url("/profile")).status == 200
    assert app.app.test_client().get("/readyz").status_code == 200
    home = person.get(app.url("/"))

    private_redis.kill()

    started = time.monotonic()
    _assert_store_unavailable_page(person.http.get(app.url("/profile"), timeout=15))
    _assert_store_unavailable_page(person.http.get(app.url("/claims"), allow_redirects=False, timeout=15))
    # A form post is answered the same way, not as an expired CSRF token or a crash.
    sign_out_form = home.soup.find("form", attrs={"action": "/auth/sign-out"})
    post = person.http.post(
        app.url("/auth/sign-out"), data=form_values(sign_out_form), allow_redirects=False, timeout=15
    )
    _assert_store_unavailable_page(post)
    assert time.monotonic() - started < 5, "a refused connection fails fast"
    # The cookie is kept: the session is still there once the store is back (here: it is not).
    assert session_id(person) is not None

    # What needs no session keeps working: the stylesheet of the error page, the probes.
    assert person.http.get(app.url("/static/css/site.css"), timeout=15).status_code == 200
    assert person.http.get(app.url("/healthz"), timeout=15).status_code == 200
    ready = _readiness_once_the_cache_expires(person, app, 503)
    assert ready.headers["Content-Type"] == "application/json"
    assert ready.json() == {"status": "not ready"}, "no detail of the deployment is answered"
    assert str(private_redis.port) not in ready.text
    # The operator finds why in the log, once per probe, not per hit.
    [reason] = [r.getMessage() for r in app_logs.records if r.getMessage().startswith("not ready:")]
    assert "session store (redis)" in reason and "ConnectionError" in reason and str(private_redis.port) in reason
    assert "tenant discovery" not in reason
    # Starting a sign-in needs no store (the flow travels in a sealed cookie); finishing it does, and
    # says so instead of pretending.
    stranger = person.__class__(tenant.ca_bundle)
    start = stranger.http.get(app.url("/auth/sign-in"), allow_redirects=False, timeout=15)
    assert start.status_code == 302 and start.headers["Location"].startswith(tenant.base_url)
    callback_url = sign_in_up_to_the_callback(stranger, app, customer.email, customer.password)
    finish = stranger.http.get(callback_url, allow_redirects=False, timeout=15)
    _assert_store_unavailable_page(finish)
    assert "ciam_session" not in finish.headers.get("Set-Cookie", "")

    private_redis.start()  # same port, empty: this Redis keeps nothing on disk

    _readiness_once_the_cache_expires(person, app, 200)
    gone = person.http.get(app.url("/profile"), allow_redirects=False, timeout=15)
    assert gone.status_code == 302 and "/auth/sign-in" in gone.headers["Location"], "the lost session means: sign in"
    page = sign_in(person, app, tenant, customer.email, customer.password, next_path="/profile")
    assert page.status == 200 and page.path == "/profile", "recovered without a restart"


def _readiness_once_the_cache_expires(person, app, status: int):
    """/readyz answers from its last probe for READINESS_CACHE_SECONDS; poll until a new one says `status`."""
    deadline = time.monotonic() + READINESS_CACHE_SECONDS + 3
    while True:
        response = person.http.get(app.url("/readyz"), timeout=15)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.25)


def test_paused_redis_costs_a_bounded_wait_then_503(instance_on_private_redis, private_redis, person, tenant, customer):
    app = instance_on_private_redis
    sign_in(person, app, tenant, customer.email, customer.password)
    os.kill(private_redis.process.pid, signal.SIGSTOP)  # connections open, nothing answers
    try:
        started = time.monotonic()
        response = person.http.get(app.url("/profile"), timeout=30)
        waited = time.monotonic() - started
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    _assert_store_unavailable_page(response)
    assert waited < 10, f"took {waited:.1f}s: the Redis timeouts bound the wait"
    assert person.get(app.url("/profile")).status == 200, "and once Redis answers, the session is all there"


def test_a_session_that_cannot_be_written_is_not_saved_at_all(
    instance_on_private_redis, private_redis, person, tenant, customer
):
    app = instance_on_private_redis
    prefix = app.settings.session_key_prefix
    admin = private_redis.client()
    home = sign_in(person, app, tenant, customer.email, customer.password)
    # A second sign-in, started now and stopped at the tenant's redirect back to us, so that later
    # the callback's write (new tokens into the same customer's session) is what fails.
    callback_url = sign_in_up_to_the_callback(person, app, customer.email, customer.password)
    key = prefix + session_id(person)
    before = admin.hgetall(key)

    # Out of memory, Redis refuses writes; reads and deletes still work.
    admin.config_set("maxmemory", 1)
    try:
        # An edit that needs MFA would keep a pending edit and a new flow, then redirect to the
        # tenant: the save fails, so the page says so instead of redirecting.
        response = person.http.post(
            app.url("/profile/edit"),
            data={**form_values(home.form_with("csrf_token")), "displayName": "Never Saved"},
            allow_redirects=False,
            timeout=15,
        )
        _assert_store_unavailable_page(response)
        assert "Location" not in response.headers and "Set-Cookie" not in response.headers
        assert admin.hgetall(key) == before, "the stored session is exactly what it was"

        # The callback would add the new tokens to the session: the write fails, so nothing of it is
        # kept, and the page says so instead of redirecting as if it had worked.
        response = person.http.get(callback_url, allow_redirects=False, timeout=15)
        _assert_store_unavailable_page(response)
        assert "Set-Cookie" not in response.headers
        assert admin.hgetall(key) == before
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()
    assert tenant.user(customer.email)["displayName"] == customer.display_name
    assert person.get(app.url("/profile")).status == 200, "the session is whole and still works"


def test_embedded_store_works_and_holds_no_token_in_clear(start_instance, person, tenant, customer):
    app = start_instance(secret_key="f" * 64)  # SESSION_TYPE unset: the embedded default
    sign_in(person, app, tenant, customer.email, customer.password)
    assert person.get(app.url("/profile")).status == 200
    database = Path(app.settings.session_dir) / "sessions.sqlite3"
    assert database.stat().st_mode & 0o077 == 0, "readable by the app's user only"
    stored = b"".join(p.read_bytes() for p in database.parent.iterdir() if p.is_file())  # with the WAL
    assert len(stored) > 1000
    assert not JWT.search(stored), "no token stored in clear"
    assert app.app.test_client().get("/readyz").get_json() == {"status": "ready"}


def test_embedded_store_that_cannot_write_gives_the_503_page(
    start_instance, tmp_path, tenant, person, customer, app_logs
):
    app = start_instance(secret_key="w" * 64)
    sign_in(person, app, tenant, customer.email, customer.password)
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    store = app.app.extensions["ciam"].session_store
    store.path = not_a_folder / "sessions.sqlite3"  # the disk went away: every new connection fails
    store._local = threading.local()
    _assert_store_unavailable_page(person.http.get(app.url("/claims"), timeout=15))
    assert app.app.test_client().get("/readyz").get_json() == {"status": "not ready"}
    assert any(
        "session store (embedded)" in r.getMessage() and "unable to open database file" in r.getMessage()
        for r in app_logs.records
    )


def test_embedded_store_folder_that_cannot_be_used_stops_the_app_naming_the_variable(tenant, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    settings = app_settings(tenant, "http://localhost:1", tmp_path / "instance", SESSION_DIR=str(not_a_folder))
    with pytest.raises(ConfigError, match="SESSION_DIR"):
        create_app(settings)


def test_a_redis_error_inside_a_view_is_the_503_page_too(start_instance, private_redis, person):
    # E.g. regenerating the session id at sign-in deletes the old entry from inside the view.
    app = start_instance(secret_key="v" * 64, SESSION_TYPE="redis", REDIS_URL=private_redis.url)

    def view_meeting_a_dead_store():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    app.app.add_url_rule("/_test/store-fails-in-view", view_func=view_meeting_a_dead_store)
    _assert_store_unavailable_page(person.http.get(app.url("/_test/store-fails-in-view"), timeout=15))
