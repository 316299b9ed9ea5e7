"""Issue 6: behind a TLS-terminating proxy (App Service's front end) the app builds https URLs,
but only when told to trust that proxy (TRUSTED_PROXIES); the sealed token cache stays readable
across the compression change and key rotation."""

from __future__ import annotations

import msal
import pytest
from cryptography.fernet import Fernet
from flask import request, url_for

from ciam_webapp import create_app
from ciam_webapp.token_cache import TokenCacheCodec
from tests.conftest import app_settings

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "account.contoso.com",
    "X-Forwarded-Port": "443",
    "X-Forwarded-For": "203.0.113.7",
}


def _app(tenant, tmp_path, trusted_proxies: str):
    settings = app_settings(
        tenant,
        "https://account.contoso.com",
        tmp_path,
        TRUSTED_PROXIES=trusted_proxies,
        SESSION_DIR=str(tmp_path / "sessions"),
    )
    app = create_app(settings)

    @app.get("/_test/where-am-i")
    def where_am_i():  # what the app believes about the request it got
        return {
            "callback": url_for("auth.redirect", _external=True),
            "home": url_for("main.index", _external=True),
            "secure": request.is_secure,
            "client": request.remote_addr,
        }

    return app


def test_trusted_proxy_headers_give_https_urls(tenant, tmp_path):
    client = _app(tenant, tmp_path, "1").test_client()
    response = client.get("/_test/where-am-i", headers=FORWARDED)
    seen = response.get_json()
    assert seen["callback"] == "https://account.contoso.com/auth/redirect"
    assert seen["home"] == "https://account.contoso.com/"
    assert seen["secure"] is True and seen["client"] == "203.0.113.7"
    assert "Strict-Transport-Security" in response.headers

    # Signing in sets a session cookie that is Secure (the site is https) and answers with a
    # redirect to the tenant carrying the https redirect URI.
    sign_in = client.get("/auth/sign-in", headers=FORWARDED)
    assert sign_in.status_code == 302
    assert "redirect_uri=https%3A%2F%2Faccount.contoso.com%2Fauth%2Fredirect" in sign_in.headers["Location"]
    cookie = sign_in.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forwarded_headers_are_ignored_without_trusted_proxies(tenant, tmp_path):
    client = _app(tenant, tmp_path, "0").test_client()
    response = client.get("/_test/where-am-i", headers=FORWARDED)
    seen = response.get_json()
    assert seen["callback"] == "http://localhost/auth/redirect"
    assert seen["secure"] is False and seen["client"] == "127.0.0.1"


def test_only_as_many_hops_as_configured_are_believed(tenant, tmp_path):
    client = _app(tenant, tmp_path, "1").test_client()
    # A client that sends its own X-Forwarded-For before the proxy appends the real address.
    spoofed = {**FORWARDED, "X-Forwarded-For": "10.9.9.9, 203.0.113.7"}
    assert client.get("/_test/where-am-i", headers=spoofed).get_json()["client"] == "203.0.113.7"


@pytest.fixture()
def cache_with_token() -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    cache.deserialize('{"RefreshToken": {"k": {"secret": "rt-secret-value", "credential_type": "RefreshToken"}}}')
    return cache


def test_sealed_cache_is_compressed_and_caches_sealed_before_still_load(cache_with_token):
    key = Fernet.generate_key()
    codec = TokenCacheCodec((key.decode(),), secret_key="k" * 40)
    sealed = codec.seal(cache_with_token)
    assert Fernet(key).decrypt(sealed).startswith(b"\x01"), "compressed, then encrypted"
    assert "rt-secret-value" in codec.load(sealed).serialize()
    sealed_the_old_way = Fernet(key).encrypt(cache_with_token.serialize().encode())
    assert "rt-secret-value" in codec.load(sealed_the_old_way).serialize()
