"""Whatever a caller sends, the API answers with one of its documented refusals, never a 500."""

from __future__ import annotations

import base64
import json

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import bearer
from tests.api.fake_tenant import FakeTenant

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def b64url(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@FUZZ
@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300))
def test_any_authorization_header(client: FlaskClient, header: str) -> None:
    response = client.get("/profile", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] in ("Bearer", 'Bearer error="invalid_token"')


@FUZZ
@given(header=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=4) | JSON_VALUES, claims=JSON_VALUES)
def test_any_jose_header_and_payload_with_a_real_signature_segment(
    client: FlaskClient, fake_tenant: FakeTenant, header: object, claims: object
) -> None:
    signature = fake_tenant.token().split(".")[2]
    response = client.get("/profile", headers=bearer(f"{b64url(header)}.{b64url(claims)}.{signature}"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@FUZZ
@given(body=JSON_VALUES)
def test_any_json_body(client: FlaskClient, fake_tenant: FakeTenant, body: object) -> None:
    fake_tenant.reset()
    response = client.patch("/profile", headers=bearer(fake_tenant.token()), json=body)
    assert response.status_code in (204, 400), response.get_data()
    if response.status_code == 400:
        assert response.get_json()["error"] == "invalid_request"
        assert fake_tenant.recorded.graph_requests == []
