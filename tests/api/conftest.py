"""Fixtures for the API's tests: the fake tenant (session-wide, reset per test) and an API built on it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ciam_api import Settings, create_app
from tests.api.fake_tenant import FakeTenant
from tests.conftest import SUITE_SECRETS
from tests.emulator.conftest import (  # noqa: F401 - the real emulator's fixtures, for test_with_emulator.py
    LiveEmulator,
    browser,
    emulator,
    emulator_instance,
)
from tests.scale.conftest import private_redis  # noqa: F401 - a redis-server of the test's own


@pytest.fixture(scope="session")
def fake_tenant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeTenant]:
    tenant = FakeTenant(tmp_path_factory.mktemp("fake-tenant"))
    yield tenant
    tenant.stop()


@pytest.fixture
def fake_tenant(fake_tenant_server: FakeTenant) -> FakeTenant:
    fake_tenant_server.reset()
    return fake_tenant_server


FAKE_API_SECRET = "fake-api-secret-" + secrets.token_hex(8)
SUITE_SECRETS.add(FAKE_API_SECRET)  # the suite's last test looks for it in every log


def api_settings(tenant: FakeTenant, **overrides: str) -> Settings:
    values = {
        "API_CLIENT_ID": tenant.api_client_id,
        "API_CLIENT_SECRET": FAKE_API_SECRET,
        "AUTHORITY": tenant.authority,
        "TENANT_ID": tenant.tenant_id,
        "ALLOWED_CLIENT_APPS": tenant.web_client_id,
        "GRAPH_ENDPOINT": tenant.graph_endpoint,
        "CA_BUNDLE": str(tenant.ca_bundle),
        "HTTP_TIMEOUT": "5",
    }
    values.update(overrides)
    return Settings.from_mapping({k: v for k, v in values.items() if v})


@pytest.fixture
def make_api(fake_tenant: FakeTenant) -> Any:
    def make(**overrides: str) -> Flask:
        return create_app(api_settings(fake_tenant, **overrides))

    return make


@pytest.fixture
def api(make_api: Any) -> Flask:
    return make_api()


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    return api.test_client()


@pytest.fixture
def customer(emulator: LiveEmulator) -> tuple[str, str]:  # noqa: F811 - emulator is the imported fixture
    """A new customer in the real emulator: (email, password)."""
    email = f"api-{secrets.token_hex(4)}@contoso.example"
    return email, emulator.new_user(email)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
