"""REQUIRED_AUTH_CONTEXT: the API checks `acrs` itself. A client that declared `cp1` (xms_cc) gets a
claims challenge for the context (Microsoft's claims-challenge guidance); any other client gets 403
insufficient_scope, since it could not act on a challenge."""

from __future__ import annotations

import base64
import json

from flask.testing import FlaskClient

from tests.api.conftest import bearer
from tests.api.fake_tenant import FakeTenant


def _client(make_api) -> FlaskClient:  # type: ignore[no-untyped-def]
    return make_api(REQUIRED_AUTH_CONTEXT="c1").test_client()


def test_a_token_with_the_context_passes(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    response = _client(make_api).get("/profile", headers=bearer(fake_tenant.token(acrs=["c1"], xms_cc=["cp1"])))
    assert response.status_code == 200


def test_without_the_context_a_cp1_client_gets_the_acrs_challenge(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    for acrs in (None, [], ["c2"]):
        response = _client(make_api).patch(
            "/profile", headers=bearer(fake_tenant.token(acrs=acrs, xms_cc=["cp1"])), json={"city": "Paris"}
        )
        assert response.status_code == 401
        assert response.get_json() == {"error": "insufficient_claims"}
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="", authorization_uri="')
        assert f'authorization_uri="{fake_tenant.authority}/oauth2/v2.0/authorize"' in challenge
        assert 'error="insufficient_claims"' in challenge
        encoded = challenge.split('claims="')[1].rstrip('"')
        assert json.loads(base64.b64decode(encoded)) == {"access_token": {"acrs": {"essential": True, "value": "c1"}}}
    assert fake_tenant.recorded.token_requests == [] and fake_tenant.recorded.graph_requests == []


def test_without_the_context_a_client_without_cp1_is_refused_with_403(make_api, fake_tenant: FakeTenant) -> None:  # type: ignore[no-untyped-def]
    for xms_cc in (None, [], ["cp2"]):
        response = _client(make_api).get("/profile", headers=bearer(fake_tenant.token(xms_cc=xms_cc)))
        assert response.status_code == 403
        assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="User.MFA"'


def test_without_the_setting_acrs_is_not_required(client: FlaskClient, fake_tenant: FakeTenant) -> None:
    assert client.get("/profile", headers=bearer(fake_tenant.token(xms_cc=["cp1"]))).status_code == 200
