"""Issue 6: 50 signed-in customers load their profile at the same moment through two instances
that share Redis, with zero errors (loopback only, bounded in time)."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import SUITE_SECRETS
from tests.support.journeys import sign_in
from tests.support.person import Person

USERS = 50
SIGN_IN_THREADS = 10
TIME_LIMIT_SECONDS = 60


def test_fifty_signed_in_users_load_the_profile_through_two_instances_at_once(redis_instances, tenant):
    a, b = redis_instances
    started = time.monotonic()

    def new_customer(n: int) -> tuple[str, str]:
        email = f"load{n}-{secrets.token_hex(3)}@contoso.example"
        password = "Pa55-" + secrets.token_urlsafe(12)
        SUITE_SECRETS.add(password)
        tenant.create_user(email, password, f"Load Customer {n}")
        return email, password

    def signed_in(n: int, credentials: tuple[str, str]) -> Person:
        person = Person(tenant.ca_bundle)
        instance = a if n % 2 == 0 else b
        home = sign_in(person, instance, tenant, *credentials)
        assert "Signed in as" in home.text, f"customer {n} could not sign in"
        return person

    with ThreadPoolExecutor(max_workers=SIGN_IN_THREADS) as pool:
        accounts = list(pool.map(new_customer, range(USERS)))
        people = list(pool.map(signed_in, range(USERS), accounts))
    signed_in_after = time.monotonic() - started

    everyone_ready = threading.Barrier(USERS, timeout=30)

    def load_profile(n: int) -> tuple[int, str, float]:
        instance = b if n % 2 == 0 else a  # the other instance than the one used to sign in
        everyone_ready.wait()
        began = time.monotonic()
        page = people[n].get(instance.url("/profile"))
        mail = page.soup.select_one('[data-field="email"]') if page.status == 200 else None
        return page.status, mail.get_text() if mail else page.url, time.monotonic() - began

    load_started = time.monotonic()
    with ThreadPoolExecutor(max_workers=USERS) as pool:
        results = list(pool.map(load_profile, range(USERS)))
    load_seconds = time.monotonic() - load_started

    errors = [
        (n, status, what) for n, (status, what, _) in enumerate(results) if status != 200 or what != accounts[n][0]
    ]
    slowest = max(seconds for _, _, seconds in results)
    print(
        f"{USERS} users: signed in after {signed_in_after:.1f}s; concurrent profile loads took "
        f"{load_seconds:.2f}s (slowest {slowest:.2f}s)"
    )
    assert errors == [], errors[:5]
    assert time.monotonic() - started < TIME_LIMIT_SECONDS
