"""Property: whatever the token endpoint and the JWKS answer at the callback, the app refuses the
sign-in (400, or 503 when the tenant looks down) or signs the customer in; never a 500.

The app is real (create_app, MSAL, the ID-token checks); only the tenant is scripted: a requests
transport adapter mounted on the app's outbound session (outbound.py) answers discovery with a
well-formed document and the token endpoint and JWKS with what hypothesis draws. A fresh app per
example, so no JWKS, discovery or MSAL throttling state carries over from one example to the next.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from ciam_webapp import Settings, create_app

TENANT_HOST = "https://tenant.example.test"
TENANT_PATH = "contoso.onmicrosoft.com"
TENANT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
ISSUER = f"https://{TENANT_ID}.ciamlogin.example.test/{TENANT_ID}/v2.0"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
USER_OID = "99999999-8888-4777-8666-555555555555"
KID = "key-1"
APP_URL = "http://localhost"

SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def good_jwk() -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
    return dict(jwk, kid=KID, use="sig", alg="RS256")


def good_token_response(nonce: str) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "tid": TENANT_ID,
        "oid": USER_OID,
        "sub": "pairwise-subject",
        "name": "Property Person",
        "nonce": nonce,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "ver": "2.0",
    }
    id_token = jwt.encode(claims, SIGNING_KEY, algorithm="RS256", headers={"kid": KID})
    client_info = b64url(json.dumps({"uid": USER_OID, "utid": TENANT_ID}).encode())
    return {
        "token_type": "Bearer",
        "scope": "openid profile offline_access User.Read",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": "at-" + secrets.token_urlsafe(16),
        "refresh_token": "rt-" + secrets.token_urlsafe(16),
        "id_token": id_token,
        "client_info": client_info,
    }


def discovery_document() -> dict[str, Any]:
    base = f"{TENANT_HOST}/{TENANT_ID}"
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
    }


@dataclass
class Answer:
    """What one endpoint answers: a status and a body (JSON-encoded unless `raw`)."""

    status: int = 200
    body: Any = None
    raw: bool = False  # body is sent as-is (a str), e.g. malformed JSON


@dataclass
class ScriptedTenant(BaseAdapter):
    """Serves discovery from `discovery_document()` and the token endpoint and JWKS from callables."""

    token: Callable[[], Answer]
    jwks: Callable[[], Answer]
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert kwargs.get("timeout"), "every outbound call has a timeout"
        path = urlsplit(request.url).path
        self.calls.append(f"{request.method} {path}")
        if path.endswith("/.well-known/openid-configuration"):
            answer = Answer(body=discovery_document())
        elif path.endswith("/oauth2/v2.0/token"):
            answer = self.token()
        elif path.endswith("/discovery/v2.0/keys"):
            answer = self.jwks()
        else:
            answer = Answer(status=404, body={"error": "not_found"})
        response = requests.Response()
        response.status_code = answer.status
        text = answer.body if answer.raw else json.dumps(answer.body)
        response._content = text.encode("utf-8", "surrogatepass")
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.url = request.url
        response.request = request
        response.reason = "scripted"
        return response

    def close(self) -> None:
        pass


def app_for(tenant: ScriptedTenant, instance_dir: Path) -> Any:
    settings = Settings.from_mapping(
        {
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": "property-test-client-secret",
            "TENANT_SUBDOMAIN": "contoso",
            "TENANT_ID": TENANT_ID,
            "AUTHORITY": f"{TENANT_HOST}/{TENANT_PATH}",
            "REDIRECT_URI": f"{APP_URL}/auth/redirect",
            "POST_LOGOUT_REDIRECT_URI": f"{APP_URL}/",
            "SECRET_KEY": secrets.token_hex(32),
            "MFA_SCOPE": "api://mfa-app/User.MFA",
            "INSTANCE_DIR": str(instance_dir),
            "HTTP_TIMEOUT": "5",
            "SIGN_IN_RATE_LIMIT": "100000 per minute",
        }
    )
    # No warm-up at creation: it would try the real host (no adapter is mounted yet) and sleep through
    # urllib3's back-off, 0.4 s per example. The app then fetches discovery and keys on demand, from
    # the scripted tenant, exactly as it did after that failed warm-up.
    with mock.patch("ciam_webapp.warm_up"):
        app = create_app(settings)
    app.extensions["ciam"].entra.http.mount(TENANT_HOST, tenant)
    return app


def run_callback(tenant: ScriptedTenant, instance_dir: Path, token_answer: Callable[[str], Answer]) -> Any:
    """Start a sign-in, then come back with a code; the token endpoint answers `token_answer(nonce)`."""
    client = app_for(tenant, instance_dir).test_client()
    started = client.get("/auth/sign-in")
    assert started.status_code == 302, started.status_code
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.location).query).items()}
    tenant.token = lambda: token_answer(query["nonce"])
    response = client.get("/auth/redirect", query_string={"code": "a-code", "state": query["state"]})
    return client, response


# -- what hypothesis draws ---------------------------------------------------------------------

TOKEN_FIELDS = [
    "id_token",
    "client_info",
    "access_token",
    "refresh_token",
    "expires_in",
    "ext_expires_in",
    "refresh_in",
    "scope",
    "token_type",
    "error",
    "error_description",
    "error_codes",
    "correlation_id",
    "claims",
    "foci",
    "",
    "\u0000",
]


def _b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
odd_values = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
    # Strings that look like what the field should hold, and are not quite.
    st.sampled_from(
        [
            "",
            ".",
            "a.b",
            "a.b.c",
            "a.!!.c",
            "a..c",
            f"a.{_b64json(None)}.c",
            f"a.{_b64json([1, 2])}.c",
            f"a.{_b64json('sub')}.c",
            f"{_b64json({'alg': 'RS256', 'kid': KID})}.{_b64json({'sub': 1})}.c",
            f"{_b64json([])}.{_b64json({})}.c",
            b64url(b"\xff\xfe"),
            _b64json({"uid": 5, "utid": None}),
            _b64json({"uid": USER_OID}),
            _b64json([USER_OID, TENANT_ID]),
            _b64json(42),
            "3600",
            "-1",
            "1e309",
            "NaN",
        ]
    ),
)
token_mutations = st.lists(
    st.tuples(st.sampled_from(TOKEN_FIELDS) | st.text(max_size=8), st.one_of(st.just(KeyError), odd_values)), max_size=4
)
TOKEN_SHAPES = ["object", "array", "number", "null", "string", "truncated", "empty", "html"]
token_statuses = st.sampled_from([200, 200, 200, 200, 400, 401, 404, 429, 500, 503])

JWK_FIELDS = ["kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "k", "x5c"]
jwk_mutations = st.lists(
    st.tuples(
        st.sampled_from(JWK_FIELDS),
        st.one_of(
            st.just(KeyError),
            odd_values,
            st.sampled_from(["RSA", "EC", "oct", "OKP", "sig", "enc", KID, "P-256", "Ed25519", "RS256", "HS256"]),
        ),
    ),
    max_size=4,
)
JWKS_SHAPES = ["object", "keys-not-a-list", "array", "number", "null", "string", "truncated", "no-keys"]
jwks_statuses = st.sampled_from([200, 200, 200, 200, 404, 500, 503])


def shaped(shape: str, body: Any, odd: Any) -> Answer:
    text = json.dumps(body)
    return {
        "object": Answer(body=body),
        "array": Answer(body=[body]),
        "number": Answer(body=12345),
        "null": Answer(body=None),
        "string": Answer(body=text),  # JSON text inside a JSON string
        "truncated": Answer(body=text[: len(text) // 2], raw=True),
        "empty": Answer(body="", raw=True),
        "html": Answer(body="<html><body>Service Unavailable</body></html>", raw=True),
        "keys-not-a-list": Answer(body={"keys": odd}),
        "no-keys": Answer(body={"kids": [good_jwk()]}),
    }[shape]


def mutated(base: dict[str, Any], mutations: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(base)
    for name, value in mutations:
        if value is KeyError:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@dataclass(frozen=True)
class TenantAnswers:
    token_status: int
    token_shape: str
    token_mutations: list[tuple[str, Any]]
    jwks_status: int
    jwks_shape: str
    jwk_mutations: list[tuple[str, Any]]
    extra_jwk: bool
    odd: Any

    def token(self, nonce: str) -> Answer:
        body = mutated(good_token_response(nonce), self.token_mutations)
        answer = shaped(self.token_shape, body, self.odd)
        answer.status = self.token_status
        return answer

    def jwks(self) -> Answer:
        keys = [mutated(good_jwk(), self.jwk_mutations)]
        if self.extra_jwk:  # an untouched key behind the odd one, with the same kid
            keys.append(good_jwk())
        answer = shaped(self.jwks_shape, {"keys": keys}, self.odd)
        answer.status = self.jwks_status
        return answer


tenant_answers = st.builds(
    TenantAnswers,
    token_status=token_statuses,
    token_shape=st.sampled_from(TOKEN_SHAPES) | st.just("object"),
    token_mutations=token_mutations,
    jwks_status=jwks_statuses,
    jwks_shape=st.sampled_from(JWKS_SHAPES) | st.just("object"),
    jwk_mutations=jwk_mutations,
    extra_jwk=st.booleans(),
    odd=odd_values,
)


@pytest.fixture()
def instance_dir(tmp_path: Path) -> Path:
    return tmp_path


def _scripted() -> ScriptedTenant:
    return ScriptedTenant(token=lambda: Answer(status=500), jwks=lambda: Answer(body={"keys": [good_jwk()]}))


def assert_refused_or_signed_in(client: Any, response: Any) -> None:
    assert response.status_code in (303, 400, 503), response.status_code
    assert b"Traceback" not in response.data
    signed_in = client.get("/claims").status_code == 200
    assert signed_in == (response.status_code == 303), "a redirect onwards means a session, and only then"


def test_the_untouched_answers_sign_the_customer_in(instance_dir):
    """The harness itself: with well-formed answers the sign-in succeeds, so refusals below are real."""
    tenant = _scripted()
    client, response = run_callback(tenant, instance_dir, lambda nonce: Answer(body=good_token_response(nonce)))
    assert response.status_code == 303, response.data[:500]
    assert client.get("/claims").status_code == 200
    assert "POST /aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/oauth2/v2.0/token" in tenant.calls


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answers=tenant_answers)
def test_any_token_or_jwks_answer_is_refused_or_signs_in_never_500(instance_dir, answers):
    tenant = _scripted()
    tenant.jwks = answers.jwks
    client, response = run_callback(tenant, instance_dir, answers.token)
    assert_refused_or_signed_in(client, response)


@pytest.mark.parametrize(
    "answer",
    [Answer(body=["a", "list"]), Answer(body={"access_token": 5, "expires_in": 3600}), Answer(body="{", raw=True)],
    ids=["array", "numeric-access-token", "not-json"],
)
def test_a_refresh_answered_with_something_else_is_unavailable_not_a_crash(instance_dir, answer):
    tenant = _scripted()
    client, response = run_callback(tenant, instance_dir, lambda nonce: Answer(body=good_token_response(nonce)))
    assert response.status_code == 303
    tenant.token = lambda: answer
    # MFA_SCOPE has no token in the cache yet: MSAL redeems the refresh token for it.
    page = client.get("/profile/edit")
    assert page.status_code == 503, page.status_code
    assert b"not reachable right now" in page.data and b"Traceback" not in page.data
