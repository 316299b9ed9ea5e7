"""OBO_CACHE_REDIS_URL: the on-behalf-of cache shared by several API instances, sealed at rest, and
a Redis that fails is a cache miss, never an error."""

from __future__ import annotations

from flask import Flask

from ciam_api import create_app
from ciam_api.on_behalf_of import cache_lookup
from tests.api.conftest import api_settings, bearer
from tests.api.fake_tenant import FakeTenant
from tests.scale.conftest import PrivateRedis


def _instances(tenant: FakeTenant, url: str) -> tuple[Flask, Flask]:
    settings = api_settings(tenant, OBO_CACHE_REDIS_URL=url, OBO_CACHE_KEY_PREFIX="test-obo:")
    return create_app(settings), create_app(settings)


def test_two_instances_share_one_exchange(fake_tenant: FakeTenant, private_redis: PrivateRedis) -> None:
    first, second = _instances(fake_tenant, private_redis.url)
    token = fake_tenant.token()
    assert first.test_client().patch("/profile", headers=bearer(token), json={"city": "Paris"}).status_code == 204
    assert second.test_client().patch("/profile", headers=bearer(token), json={"city": "Lyon"}).status_code == 204
    assert len(fake_tenant.recorded.token_requests) == 1
    assert fake_tenant.profile["city"] == "Lyon"

    client = private_redis.client()
    [key] = client.keys("test-obo:*")
    assert key.decode() == "test-obo:" + cache_lookup(token)
    sealed = client.get(key)
    graph_token = fake_tenant.recorded.graph_requests[0]["authorization"].removeprefix("Bearer ")
    assert token.encode() not in sealed and graph_token.encode() not in sealed and b"refresh-" not in sealed
    # The entry lives as long as the assertion (an hour here), not longer.
    assert 3500 < client.ttl(key) <= 3600


def test_redis_down_means_an_exchange_per_request_not_an_error(
    fake_tenant: FakeTenant, private_redis: PrivateRedis
) -> None:
    first, second = _instances(fake_tenant, private_redis.url)
    private_redis.kill()
    token = fake_tenant.token()
    assert first.test_client().patch("/profile", headers=bearer(token), json={"city": "Paris"}).status_code == 204
    assert second.test_client().patch("/profile", headers=bearer(token), json={"city": "Lyon"}).status_code == 204
    assert len(fake_tenant.recorded.token_requests) == 2
