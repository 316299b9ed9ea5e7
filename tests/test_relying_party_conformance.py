"""What the app refuses: modelled on the OpenID Foundation's RP tests and RFC 9700.

Each misbehaviour is switched on at the emulator for exactly one response; the app must refuse the
sign-in with a clear page (tenant text escaped), create no session, and log the reason.
"""

import io
import json
import logging
from urllib.parse import urlsplit

import msgspec
import pytest

from ciam_webapp import create_app
from ciam_webapp.sessions.sign_in_session import USER
from tests.conftest import app_settings
from tests.support.journeys import TenantPages, on_app, sign_in

ID_TOKEN_CASES = [
    "alg_none",
    "hs256_public_key",
    "bad_signature",
    "unknown_kid",
    "wrong_iss",
    "iss_on_authority_host",  # an issuer derived from the authority: the right path on the wrong host
    "wrong_aud",
    "multi_aud_no_azp",
    "expired",
    "nbf_future",
    "iat_future",
    "missing_nonce",
    "wrong_nonce",
    "wrong_tid",
    # issue 13: a hostile provider
    "typ_at_jwt",  # an access token offered as an ID token
    "azp_other_client",
    "exp_as_string",
    "iat_as_string",
    "nbf_as_boolean",
    "exp_far_future",  # 10^13: used to sign in, then every page showing the claims answered 500
    "auth_time_far_future",
    "kid_absent",  # the emulator publishes two keys (rp-id_token-kid-absent-multiple-jwks)
]
# The ID token's kid names a key the JWKS publishes that may not be used (these crashed with a 500).
FOREIGN_KEY_CASES = ["kid_names_oct_key", "kid_names_ec_key", "kid_names_short_rsa_key"]
DISCOVERY_CASES = [
    "http_authorization_endpoint",
    "http_token_endpoint",
    "http_jwks_uri",
    "http_end_session_endpoint",
    "issuer_of_another_tenant",
]
CALLBACK_CASES = ["wrong_state", "missing_state"]
ERROR_CALLBACK_CASES = ["error_interaction_required", "error_server_error"]


def _attempt_sign_in(person, webapp, tenant, customer, case):
    tenant.misbehave(case)
    page = person.get(webapp.url("/auth/sign-in"))
    return TenantPages(person, tenant, customer.email, customer.password).finish(page)


def _assert_refused(page, webapp, person, tenant):
    assert on_app(page, webapp)
    assert page.status == 400
    assert "Sign-in failed" in page.title()
    assert "Try again" in page.text
    assert "Traceback" not in page.text
    assert_not_signed_in(person, webapp)


def assert_not_signed_in(person, webapp):
    """A signed-in page answers with a redirect to sign in (not followed: the tenant's SSO would)."""
    response = person.http.get(webapp.url("/claims"), allow_redirects=False, timeout=10)
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]


def _refusal_logged(caplog, *words):
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ciam_webapp") and "refused" in r.getMessage()]
    assert lines, "the refusal is logged"
    assert any(all(w in line for w in words) for line in lines), lines


@pytest.mark.parametrize("case", ID_TOKEN_CASES)
def test_id_token_misbehaviour_is_refused(case, person, webapp, tenant, customer, app_logs):
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    _refusal_logged(app_logs, "ID token")


def test_a_session_holding_dates_no_datetime_can_hold_still_shows_every_page(person, webapp, tenant, customer):
    """A session saved before sign-in bounded the dates (10^13 used to pass) must not break pages."""
    sign_in(person, webapp, tenant, customer.email, customer.password)
    store = webapp.app.extensions["ciam"].session_store
    sid = person.http.cookies["ciam_session"]
    stored = store.load(sid)
    claims = msgspec.msgpack.decode(stored.values[USER])
    claims.update(exp=10**13, auth_time=10**13, iat=-(10**13))
    store.write(sid, {USER: msgspec.msgpack.encode(claims)}, {USER: stored.versions[USER]})
    for path in ("/", "/claims", "/profile"):
        page = person.get(webapp.url(path))
        assert page.status == 200 and "Traceback" not in page.text, path
    shown = person.get(webapp.url("/claims")).soup.select_one('td[data-claim="exp"]').get_text()
    assert shown == "10000000000000 (not a valid date)"


@pytest.mark.parametrize("case", FOREIGN_KEY_CASES)
def test_a_kid_naming_a_key_that_is_not_rsa_2048_is_refused(case, person, webapp, tenant, customer, app_logs):
    # The foreign key comes with the JWKS the app refetches for the new kid: let it refetch now.
    webapp.app.extensions["ciam"].entra.id_tokens.jwks._last_unknown_kid_refetch = None
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    _refusal_logged(app_logs, "ID token", "may not be used")


@pytest.mark.parametrize("case", DISCOVERY_CASES)
def test_discovery_with_an_http_endpoint_or_another_tenant_is_refused(case, tenant, tmp_path, app_logs):
    """A fresh app (discovery is cached per process) whose AUTHORITY names the tenant by its GUID."""
    base_url = f"http://localhost:{tenant.app_port}"
    settings = app_settings(tenant, base_url, tmp_path, AUTHORITY=f"{tenant.base_url}/{tenant.tenant_id}")
    tenant.misbehave(case)  # refused at start-up too (the app fetches discovery when it is created) ...
    client = create_app(settings).test_client()
    assert any("provider not reachable at start-up" in r.getMessage() for r in app_logs.records)
    tenant.misbehave(case)  # ... so nothing is cached, and the first sign-in fetches it again
    refused = client.get("/auth/sign-in")
    assert refused.status_code == 503 and "Location" not in refused.headers
    assert "Sign-in service unavailable" in refused.get_data(as_text=True)
    reason = "not an https URL" if case.startswith("http_") else "not the authority's tenant"
    assert any(reason in r.getMessage() for r in app_logs.records), [r.getMessage() for r in app_logs.records]
    # The next discovery answer is a good one again: nothing bad was cached, sign-in starts over https.
    started = client.get("/auth/sign-in")
    assert started.status_code == 302 and started.headers["Location"].startswith(tenant.base_url + "/")


def test_the_issuer_comes_from_discovery_not_from_the_authority(person, webapp, tenant, customer):
    """As in Entra (security-tokens doc), the issuer's host is not the authority's host."""
    page = sign_in(person, webapp, tenant, customer.email, customer.password)
    assert on_app(page, webapp) and page.status == 200
    issuer = f"https://{tenant.tenant_id}.ciamlogin.localhost/{tenant.tenant_id}/v2.0"
    claims = person.get(webapp.url("/claims"))
    assert claims.soup.select_one('td[data-claim="iss"]').get_text() == issuer
    metadata = webapp.app.extensions["ciam"].entra.metadata.get()
    assert metadata.issuer == issuer and metadata.tenant_id == tenant.tenant_id
    assert urlsplit(metadata.issuer).netloc != urlsplit(webapp.settings.authority).netloc


def test_unknown_kid_makes_the_app_refetch_jwks_exactly_once(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)  # keys are cached now
    # Forget kids an earlier test already found unknown, and when it last refetched for one (the
    # app remembers both for a while).
    jwks = webapp.app.extensions["ciam"].entra.id_tokens.jwks
    jwks._unknown_kids.clear()
    jwks._last_unknown_kid_refetch = None
    other = type(person)(tenant.ca_bundle)
    tenant.reset_stats()
    page = _attempt_sign_in(other, webapp, tenant, customer, "unknown_kid")
    _assert_refused(page, webapp, other, tenant)
    assert tenant.stats()["jwks"] == 1


@pytest.mark.parametrize("case", CALLBACK_CASES)
def test_callback_state_misbehaviour_is_refused(case, person, webapp, tenant, customer, app_logs):
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    _refusal_logged(app_logs, "state")


@pytest.mark.parametrize("case", ERROR_CALLBACK_CASES)
def test_error_callback_is_refused_with_escaped_text(case, person, webapp, tenant, customer, app_logs):
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    _refusal_logged(app_logs, case.removeprefix("error_"))


def test_error_access_denied_lands_on_a_page_to_try_again(person, webapp, tenant, customer):
    page = _attempt_sign_in(person, webapp, tenant, customer, "error_access_denied")
    assert on_app(page, webapp) and page.status == 200
    assert "Sign-in cancelled" in page.text and "Try again" in page.text
    assert "<script>" not in page.text


def test_replayed_code_is_refused(person, webapp, tenant, customer):
    page = person.get(webapp.url("/auth/sign-in"))
    pages = TenantPages(person, tenant, customer.email, customer.password)
    # Answer the hosted pages but stop before following the redirect back to the app.
    page = pages.step(page)
    history = page.response.history
    callback = next(r for r in history if r.headers.get("Location", "").startswith(webapp.url("/auth/redirect")))
    callback_url = callback.headers["Location"]
    assert on_app(page, webapp) and page.status == 200  # the first use worked
    attacker = type(person)(tenant.ca_bundle)
    replay = attacker.get(callback_url)
    assert replay.status == 400 and "Sign-in failed" in replay.title()


def test_existing_session_is_left_intact_by_a_bad_callback(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    bad = person.get(webapp.url("/auth/redirect?code=forged&state=forged"))
    assert bad.status == 400
    assert person.get(webapp.url("/claims")).status == 200


def test_login_csrf_callback_not_started_by_this_browser_is_refused(person, webapp, tenant, customer):
    """An attacker starts a sign-in, gets a code for their own account, and feeds the callback to us."""
    attacker = type(person)(tenant.ca_bundle)
    page = attacker.get(webapp.url("/auth/sign-in"))
    page = TenantPages(attacker, tenant, customer.email, customer.password).step(page)
    callback = next(r for r in page.response.history if "/auth/redirect" in r.headers.get("Location", ""))
    # (The attacker's own browser already used it; a fresh code would fare the same: no flow here.)
    victim_page = person.get(callback.headers["Location"])
    assert victim_page.status == 400 and "Sign-in failed" in victim_page.title()
    assert_not_signed_in(person, webapp)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "https:evil.example",
    ],
)
def test_open_redirect_after_sign_in_is_refused(target, person, webapp, tenant, customer):
    page = person.get(webapp.url("/auth/sign-in"), params={"next": target})
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert on_app(page, webapp)
    assert page.path == "/"


def test_same_origin_return_path_is_honoured(person, webapp, tenant, customer):
    page = person.get(webapp.url("/auth/sign-in"), params={"next": "/claims?x=1"})
    page = TenantPages(person, tenant, customer.email, customer.password).finish(page)
    assert page.path == "/claims"


EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
}


def expected_referrer_policy(path: str) -> str:
    # Same-origin Referers keep the strict CSRF check working over HTTPS; the callback, whose URL
    # holds a code, lets a Referer carry the origin only (README, security notes).
    return "strict-origin" if path.startswith("/auth/redirect") else "same-origin"


@pytest.mark.parametrize(
    "path", ["/", "/claims", "/auth/redirect?state=x&code=y", "/healthz", "/nope", "/static/css/site.css"]
)
def test_security_headers_on_every_response(path, person, webapp):
    response = person.http.get(webapp.url(path), allow_redirects=False, timeout=10)
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (path, name)
    assert response.headers.get("Referrer-Policy") == expected_referrer_policy(path)
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp


def test_signed_in_pages_are_not_cached(person, webapp, tenant, customer):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    response = person.http.get(webapp.url("/claims"), timeout=10)
    assert "no-store" in response.headers["Cache-Control"]


def test_hsts_is_sent_when_served_over_https(webapp):
    client = webapp.app.test_client()
    response = client.get("/healthz", base_url="https://localhost")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_logs_are_json_lines_with_a_request_id(webapp):
    from ciam_webapp.web.logs import JsonFormatter

    handler = next(h for h in logging.getLogger("ciam_webapp").handlers if isinstance(h.formatter, JsonFormatter))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        webapp.app.test_client().get("/auth/redirect?state=a&code=b", headers={"X-Request-Id": "abc123"})
    finally:
        handler.setStream(previous)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    refused = [e for e in entries if "refused" in e["message"]]
    assert refused and all(e["request_id"] == "abc123" for e in refused)
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)


# -- what the tenant answers at the callback (issue 13) ------------------------------------------

TOKEN_RESPONSE_CASES = {
    "token_response_array": "a JSON array, not an object",
    "id_token_not_a_string": "an id_token that is a JSON number, not a string",
    # Cut short, tokens inside: tests/zz_suite_checks proves none of it reaches a log.
    "token_response_not_json": "a body that is not JSON",
}


@pytest.mark.parametrize("case", list(TOKEN_RESPONSE_CASES))
def test_token_response_of_the_wrong_shape_is_refused(case, person, webapp, tenant, customer, app_logs):
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    _refusal_logged(app_logs, "code redemption refused", TOKEN_RESPONSE_CASES[case])


def test_client_info_naming_another_user_than_the_id_token_is_refused(person, webapp, tenant, customer, app_logs):
    page = _attempt_sign_in(person, webapp, tenant, customer, "client_info_other_user")
    _assert_refused(page, webapp, person, tenant)
    _refusal_logged(app_logs, "client_info names another user")


def test_callback_with_both_code_and_error_is_refused_without_a_token_request(
    person, webapp, tenant, customer, app_logs
):
    sign_in(person, webapp, tenant, customer.email, customer.password)  # the tenant's session exists
    other = type(person)(tenant.ca_bundle)
    tenant.reset_stats()
    page = _attempt_sign_in(other, webapp, tenant, customer, "code_and_error")
    _assert_refused(page, webapp, other, tenant)
    assert "Sign-in cancelled" not in page.text
    _refusal_logged(app_logs, "both a code and an error")
    assert tenant.stats()["token"]["authorization_code"] == 0, "the code was not redeemed"


@pytest.mark.parametrize("case", ["foreign_iss", "error_access_denied_foreign_iss"])
def test_callback_with_a_foreign_iss_is_refused_before_anything_else(case, person, webapp, tenant, customer, app_logs):
    """RFC 9207: an `iss` that is sent must be the provider's, on success and on error responses alike
    (a cancellation with a foreign `iss` is not a cancellation by our tenant)."""
    tenant.reset_stats()
    page = _attempt_sign_in(person, webapp, tenant, customer, case)
    _assert_refused(page, webapp, person, tenant)
    assert "Sign-in cancelled" not in page.text
    _refusal_logged(app_logs, "is not the provider's issuer")
    assert tenant.stats()["token"]["authorization_code"] == 0
