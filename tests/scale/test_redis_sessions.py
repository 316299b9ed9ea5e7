"""On real Redis: instances share sessions; what is stored is small, sealed and only what is needed;
sessions expire (idle timeout as a Redis TTL, absolute lifetime) and sign-out deletes them."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import time
from pathlib import Path

from ciam_webapp.sessions.sign_in_session import RECORD_FIELDS
from ciam_webapp.token_cache import TokenCacheCodec
from tests.conftest import FakeClock
from tests.scale.conftest import remember_tokens, session_id
from tests.support.journeys import TenantPages, on_app, sign_in

MAX_SESSION_BYTES = 8 * 1024
JWT = re.compile(rb"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")


def _edit_with_mfa_through(instance, person, tenant, customer, new_name):
    page = person.get(instance.url("/profile/edit"))
    assert page.url.startswith(tenant.base_url), "the edit asks for MFA first"
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, instance) and page.path == "/profile/edit", page.text[:500]
    saved = person.submit(page, {"displayName": new_name})
    assert saved.path == "/profile" and "Your profile was saved." in saved.text, saved.text[:500]
    return saved


def _tokens_in(stored, settings) -> list[str]:
    """Every token string in a stored session's (decrypted) MSAL cache."""
    codec = TokenCacheCodec(settings.token_cache_keys, secret_key=settings.secret_key)
    cache = json.loads(codec.load(stored["token_cache"]).serialize())
    tokens = [
        entry["secret"]
        for section in ("AccessToken", "RefreshToken", "IdToken")
        for entry in cache.get(section, {}).values()
    ]
    remember_tokens(tokens)
    return tokens


def test_sign_in_on_a_then_profile_view_and_edit_with_mfa_on_b(redis_instances, shared_redis, person, tenant, customer):
    a, b = redis_instances
    home = sign_in(person, a, tenant, customer.email, customer.password)
    assert on_app(home, a) and "Signed in as" in home.text
    sid = session_id(person)
    assert shared_redis.stored(sid)["user"]["preferred_username"] == customer.email

    profile = person.get(b.url("/profile"))  # the same cookie, another instance
    assert profile.url == b.url("/profile") and profile.status == 200
    assert profile.soup.select_one('[data-field="email"]').get_text() == customer.email

    saved = _edit_with_mfa_through(b, person, tenant, customer, "Edited Through B")
    assert on_app(saved, b)
    assert saved.soup.select_one('[data-field="displayName"]').get_text() == "Edited Through B"
    assert tenant.user(customer.email)["displayName"] == "Edited Through B"

    back_on_a = person.get(a.url("/profile"))  # and A sees what B wrote (the MFA session state)
    assert back_on_a.status == 200 and back_on_a.url == a.url("/profile")
    assert back_on_a.soup.select_one('[data-field="displayName"]').get_text() == "Edited Through B"


def test_stored_session_is_small_sealed_and_holds_only_what_is_needed(
    redis_instances, shared_redis, person, tenant, customer
):
    a, b = redis_instances
    sign_in(person, a, tenant, customer.email, customer.password)
    after_sign_in = shared_redis.stored_bytes(session_id(person))
    _edit_with_mfa_through(b, person, tenant, customer, "Sealed Customer")
    sid = session_id(person)
    stored = shared_redis.stored(sid)

    sizes = {"after sign-in": after_sign_in, "after MFA and edit": shared_redis.stored_bytes(sid)}
    print(f"stored session size per signed-in user: {sizes}")
    assert max(sizes.values()) < MAX_SESSION_BYTES, sizes
    assert set(stored) <= RECORD_FIELDS, f"unexpected fields in the session: {set(stored) - RECORD_FIELDS}"
    assert "pending_edit" not in stored, "an applied edit is not kept"

    tokens = _tokens_in(stored, a.settings)
    assert len(tokens) >= 4, "the sealed cache holds ID, refresh and both access tokens"
    everything = b"".join(
        value for key in shared_redis.keys() if shared_redis.client.type(key) == b"hash"
        for value in shared_redis.client.hgetall(key).values()
    )
    for token in tokens:
        assert token.encode() not in everything
        assert token.encode()[-40:] not in everything  # not even the signature part
    assert not JWT.search(everything), "something token-shaped is stored in clear"


def test_idle_timeout_is_the_redis_ttl_and_an_idle_session_is_gone(
    start_instance, shared_redis, person, tenant, customer
):
    instance = start_instance(
        secret_key="i" * 64,
        key_prefix=shared_redis.prefix,
        changes={"session_idle_timeout": 1},
        SESSION_TYPE="redis",
        REDIS_URL=shared_redis.url,
    )
    sign_in(person, instance, tenant, customer.email, customer.password)
    key = shared_redis.session_key(session_id(person))
    assert 0 < shared_redis.client.pttl(key) <= 1000
    stored_before = shared_redis.client.hgetall(key)

    time.sleep(0.6)
    assert person.get(instance.url("/claims")).status == 200  # activity slides the expiry...
    assert shared_redis.client.pttl(key) > 700
    assert shared_redis.client.hgetall(key) == stored_before, "...by a TTL refresh, not by rewriting the session"

    time.sleep(1.2)
    assert shared_redis.client.exists(key) == 0, "Redis dropped the idle session by itself"
    # (not followed: the tenant's own SSO cookie would sign the person straight back in)
    response = person.http.get(instance.url("/profile"), allow_redirects=False, timeout=15)
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"], "signed out after idling"


def test_absolute_lifetime_ends_a_busy_session_and_deletes_its_entry(
    start_instance, shared_redis, person, tenant, customer
):
    instance = start_instance(
        secret_key="l" * 64,
        key_prefix=shared_redis.prefix,
        SESSION_TYPE="redis",
        REDIS_URL=shared_redis.url,
    )
    clock = FakeClock()
    instance.app.extensions["ciam"] = dataclasses.replace(instance.app.extensions["ciam"], clock=clock)
    sign_in(person, instance, tenant, customer.email, customer.password)
    key = shared_redis.session_key(session_id(person))
    assert shared_redis.client.exists(key) == 1
    assert shared_redis.client.ttl(key) <= instance.settings.session_idle_timeout
    for _ in range(4):  # busy all along: a request every couple of hours of the (fake) clock
        clock.advance(instance.settings.session_lifetime / 4 + 1)
        response = person.http.get(instance.url("/claims"), allow_redirects=False, timeout=15)
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]
    assert shared_redis.client.exists(key) == 0, "the expired session's entry is deleted, not just ignored"


def test_sign_out_deletes_the_server_side_entry(redis_instances, shared_redis, person, tenant, customer):
    a, b = redis_instances
    home = sign_in(person, a, tenant, customer.email, customer.password)
    key = shared_redis.session_key(session_id(person))
    assert shared_redis.client.exists(key) == 1

    signed_out = person.submit(home, form=home.soup.find("form", attrs={"action": "/auth/sign-out"}))
    assert signed_out.status == 200 and "Signed in as" not in signed_out.text
    assert "You have been signed out." in signed_out.text
    assert shared_redis.client.exists(key) == 0
    assert session_id(person) is None, "no new server-side session, not even for the farewell message"
    assert "Signed in as" not in person.get(b.url("/")).text


class _TouchesAFileWhenUnpickled:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_entries_that_are_not_sessions_are_ignored_and_never_unpickled(
    redis_instances, shared_redis, person, tmp_path
):
    a, _ = redis_instances
    witness = tmp_path / "unpickled"
    planted = {
        "pickled": pickle.dumps(_TouchesAFileWhenUnpickled(str(witness))),
        "notmsgpack": b"\xc1\xc1\xc1",
        "notadict": b"\x01",
        "readyz-probe": None,  # the readiness probe's own key, written by /readyz
    }
    assert a.app.test_client().get("/readyz").status_code == 200
    for sid, value in planted.items():
        if value is not None:
            shared_redis.client.set(shared_redis.session_key(sid), value, ex=60)
        person.http.cookies.set("ciam_session", sid, domain="localhost.local")
        response = person.http.get(a.url("/"), timeout=15)
        assert response.status_code == 200 and "Sign in" in response.text, sid
    assert not witness.exists(), "a pickle planted in Redis was never loaded"
