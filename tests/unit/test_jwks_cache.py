"""The shared JWKS cache's schedule (ciam_core.jwks): a withdrawn key stops being trusted within the
response's max-age (clamped to 5 min .. 24 h, 1 h without one), a provider that is down leaves the
known keys in use for a bounded grace, and made-up kids cannot make it hammer the provider."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ciam_core.discovery import MetadataProvider
from ciam_core.errors import ProviderUnavailable, UntrustedKey
from ciam_core.jwks import JwksCache, freshness_from_headers
from tests.unit.test_id_token import AUTHORITY, FakeTenant


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture()
def provider():
    provider = FakeTenant()
    provider.published = {"k1", "k2"}
    return provider


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def cache(provider, clock):
    return JwksCache(MetadataProvider(AUTHORITY, provider), provider, clock=clock)


def test_a_withdrawn_key_is_refused_once_the_max_age_has_passed(cache, provider, clock):
    provider.jwks_headers = {"Cache-Control": "public, max-age=600"}
    assert cache.key_for("k2")
    provider.published.discard("k2")  # the provider withdraws k2
    clock.now += 599
    assert cache.key_for("k2"), "still fresh: no request, the known key is used"
    assert provider.jwks_fetches() == 1
    clock.now += 2
    with pytest.raises(UntrustedKey, match="unknown kid"):
        cache.key_for("k2")
    assert provider.jwks_fetches() == 2
    assert cache.key_for("k1")


@pytest.mark.parametrize(
    "headers, freshness",
    [
        ({}, 3600),  # no max-age: an hour
        ({"Cache-Control": "max-age=600"}, 600),
        ({"Cache-Control": "private, max-age=86400"}, 86400),
        ({"Cache-Control": "max-age=10"}, 300),  # at least 5 minutes
        ({"Cache-Control": "max-age=0"}, 300),
        ({"Cache-Control": "no-cache"}, 300),
        ({"Cache-Control": "max-age=31536000"}, 86400),  # at most a day
        ({"Cache-Control": "max-age=7200", "Age": "3600"}, 3600),
        ({"Cache-Control": "max-age=nonsense"}, 3600),
    ],
)
def test_freshness_honours_cache_control_within_bounds(headers, freshness):
    assert freshness_from_headers(headers) == freshness


def test_the_key_set_is_refetched_on_schedule_even_for_known_kids(cache, provider, clock):
    provider.jwks_headers = {"Cache-Control": "max-age=31536000"}
    cache.key_for("k1")
    clock.now += 86400 - 1
    cache.key_for("k1")
    assert provider.jwks_fetches() == 1
    clock.now += 2
    cache.key_for("k1")
    assert provider.jwks_fetches() == 2


def test_refresh_fetches_now_so_lookups_need_no_request(cache, provider):
    cache.refresh()
    assert provider.jwks_fetches() == 1
    cache.key_for("k1")
    cache.key_for("k2")
    assert provider.jwks_fetches() == 1


def test_refresh_reports_a_provider_that_is_down(cache, provider):
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        cache.refresh()


def test_a_provider_down_at_refresh_time_leaves_the_known_keys_for_a_bounded_grace(cache, provider, clock):
    cache.key_for("k1")  # fresh for an hour (no max-age)
    provider.down = True
    clock.now += 3600 + 1
    assert cache.key_for("k1"), "stale but inside the grace: still served"
    attempts = len(provider.gets)
    clock.now += 30
    cache.key_for("k1")
    assert len(provider.gets) == attempts, "one attempt per minute, not one per sign-in"
    clock.now += 31
    cache.key_for("k1")
    assert len(provider.gets) == attempts + 1
    clock.now = 1000 + 3600 + 6 * 3600 + 1  # past the 6 h grace
    with pytest.raises(ProviderUnavailable):
        cache.key_for("k1")


def test_the_provider_back_after_an_outage_is_asked_again(cache, provider, clock):
    cache.key_for("k1")
    provider.down = True
    clock.now += 3601
    cache.key_for("k1")
    provider.down = False
    provider.published.discard("k2")
    clock.now += 61
    with pytest.raises(UntrustedKey):
        cache.key_for("k2")


def test_a_stream_of_made_up_kids_costs_one_jwks_request_per_interval(cache, provider, clock):
    cache.key_for("k1")
    for n in range(50):
        with pytest.raises(UntrustedKey, match="unknown kid"):
            cache.key_for(f"made-up-{n}")
    assert provider.jwks_fetches() == 2  # the first fetch, then one refetch for all fifty
    clock.now += 31
    with pytest.raises(UntrustedKey):
        cache.key_for("made-up-again")
    assert provider.jwks_fetches() == 3


def test_a_new_kid_turned_away_by_the_rate_limit_is_found_on_a_later_try(cache, provider, clock):
    cache.key_for("k1")
    with pytest.raises(UntrustedKey):
        cache.key_for("made-up")  # uses up the refetch
    provider.keys["k3"] = provider.keys["k2"]
    provider.published.add("k3")  # the provider rolls a new key in
    with pytest.raises(UntrustedKey):
        cache.key_for("k3")
    clock.now += 31
    assert cache.key_for("k3")


class HangingProvider(FakeTenant):
    """A JWKS answer that waits until the test lets it go, so that other lookups really overlap it."""

    def __init__(self):
        super().__init__()
        self.fetching = threading.Event()
        self.answer = threading.Event()

    def get(self, url, **kwargs):
        if url.endswith("/keys") and self.jwks_fetches() >= 1:
            self.fetching.set()
            assert self.answer.wait(10)
        return super().get(url, **kwargs)


def test_lookups_overlapping_a_refresh_use_the_known_keys_and_never_queue(clock):
    provider = HangingProvider()
    cache = JwksCache(MetadataProvider(AUTHORITY, provider), provider, clock=clock)
    cache.refresh()
    clock.now += 3601  # stale: the next lookup refreshes
    with ThreadPoolExecutor(max_workers=1) as refresher:
        refreshing = refresher.submit(cache.key_for, "k1")
        assert provider.fetching.wait(10)
        # The refresh hangs; every other lookup is answered at once with the keys already known.
        assert all(cache.key_for("k1") for _ in range(32))
        with pytest.raises(ProviderUnavailable, match="being fetched"):
            cache.key_for("k-new")  # might be a new key: not refused, not queued either
        provider.answer.set()
        assert refreshing.result(10)
    assert provider.jwks_fetches() == 2


def test_a_lookup_during_the_first_fetch_fails_at_once(clock):
    provider = HangingProvider()
    provider.gets.append("/keys")  # make the first fetch hang too
    cache = JwksCache(MetadataProvider(AUTHORITY, provider), provider, clock=clock)
    with ThreadPoolExecutor(max_workers=1) as first:
        fetching = first.submit(cache.key_for, "k1")
        assert provider.fetching.wait(10)
        with pytest.raises(ProviderUnavailable, match="being fetched"):
            cache.key_for("k1")
        provider.answer.set()
        assert fetching.result(10)


def test_a_key_set_fetched_by_one_cache_can_be_handed_to_another(cache, provider, clock):
    """As gunicorn's master hands what it fetched before forking to its workers."""
    assert cache.keys is None
    cache.refresh()
    worker = JwksCache(MetadataProvider(AUTHORITY, provider), provider, clock=clock)
    worker.preload(cache.keys)
    fetches = provider.jwks_fetches()
    assert worker.key_for("k1") and worker.key_for("k2")
    assert provider.jwks_fetches() == fetches
    clock.now += 3601  # and it ages on the same schedule
    worker.key_for("k1")
    assert provider.jwks_fetches() == fetches + 1
