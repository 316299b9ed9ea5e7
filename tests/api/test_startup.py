"""Start-up: the API fetches the tenant's signing keys before its first request, so overlapping first
requests of a fresh worker are not refused (ciam_core fails a lookup that overlaps a cold fetch)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ciam_api import create_app
from tests.api.conftest import api_settings, bearer
from tests.api.fake_tenant import FakeTenant
from tests.support.servers import free_port


def test_a_new_api_holds_the_tenants_keys_and_serves_overlapping_first_requests(fake_tenant: FakeTenant) -> None:
    api = create_app(api_settings(fake_tenant))
    assert api.extensions["ciam_api"].access_tokens._verifier.jwks.keys is not None
    tokens = [fake_tenant.token() for _ in range(8)]

    def read(token: str) -> int:
        return api.test_client().get("/profile", headers=bearer(token)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(read, tokens)) == [200] * 8


def test_a_tenant_unreachable_at_start_up_is_not_fatal(fake_tenant: FakeTenant) -> None:
    nowhere = f"https://127.0.0.1:{free_port()}/{fake_tenant.tenant_id}"
    api = create_app(api_settings(fake_tenant, AUTHORITY=nowhere, HTTP_TIMEOUT="1"))
    response = api.test_client().get("/profile", headers=bearer(fake_tenant.token()))
    assert response.status_code == 503 and response.get_json() == {"error": "temporarily_unavailable"}
