"""The identity layer with a generic OpenID Provider (OIDC_ISSUER) beside Entra External ID: where
discovery is read (the same URL MSAL reads), what is sent, and which checks apply. No network: a fake
HTTP client answers discovery and refuses any token request it did not expect."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from ciam_webapp.config import Settings
from ciam_webapp.identity import (
    EntraClient,
    IdTokenError,
    IdTokenValidator,
    JwksCache,
    MetadataProvider,
    SignInError,
    TenantUnavailable,
    discovery_url,
)
from ciam_webapp.identity.metadata import oidc_discovery_url
from tests.unit.test_id_token import NONCE, FakeTenant

ISSUER = "https://id.example.com/oidc"
COMMON = {
    "CLIENT_ID": "webapp",
    "CLIENT_SECRET": "s3cret-value",
    "REDIRECT_URI": "http://localhost:5000/auth/redirect",
    "POST_LOGOUT_REDIRECT_URI": "http://localhost:5000/",
    "SECRET_KEY": "x" * 40,
}
ENTRA_VALUES = dict(COMMON, TENANT_SUBDOMAIN="contoso", MFA_SCOPE="api://mfa/User.MFA")


def _response(url: str, body: Any, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
    response.url = url
    return response


class FakeProviderHttp:
    """Answers any discovery GET with `document`; records GETs; answers POSTs with `token_answer`."""

    def __init__(self, document: dict[str, Any], token_answer: tuple[int, dict[str, Any]] | None = None) -> None:
        self.document = document
        self.token_answer = token_answer
        self.gets: list[str] = []
        self.posts: list[str] = []

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        self.gets.append(url)
        return _response(url, self.document)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.posts.append(url)
        if self.token_answer is None:
            raise AssertionError(f"unexpected token request to {url}")
        status, body = self.token_answer
        return _response(url, body, status)

    def close(self) -> None:
        pass


def provider_document(issuer: str = ISSUER, **extra: Any) -> dict[str, Any]:
    base = issuer.rstrip("/")
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
        "end_session_endpoint": f"{base}/session/end",
    }
    document.update(extra)
    return {k: v for k, v in document.items() if v is not None}


def entra_document() -> dict[str, Any]:
    tenant = "https://contoso.ciamlogin.com/aaaaaaaa-0000-0000-0000-000000000001"
    return {
        "issuer": "https://aaaaaaaa-0000-0000-0000-000000000001.ciamlogin.com/aaaaaaaa-0000-0000-0000-000000000001/v2.0",
        "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{tenant}/oauth2/v2.0/token",
        "jwks_uri": f"{tenant}/discovery/v2.0/keys",
        "end_session_endpoint": f"{tenant}/oauth2/v2.0/logout",
    }


def client_for(settings: Settings, http: FakeProviderHttp) -> EntraClient:
    return EntraClient(
        client_id=settings.client_id,
        client_credential=settings.client_credential(),
        authority=settings.authority,
        redirect_uri=settings.redirect_uri,
        post_logout_redirect_uri=settings.post_logout_redirect_uri,
        http=http,  # type: ignore[arg-type]
        timeout=5,
        tenant_id=settings.tenant_id,
        oidc_issuer=settings.oidc_issuer,
    )


def generic(issuer: str = ISSUER, **document: Any) -> tuple[EntraClient, FakeProviderHttp]:
    settings = Settings.from_mapping(dict(COMMON, OIDC_ISSUER=issuer))
    http = FakeProviderHttp(provider_document(issuer, **document))
    return client_for(settings, http), http


# -- the discovery URL -------------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", [ISSUER, ISSUER + "/", "https://id.example.com:8443/realms/customers"])
def test_generic_discovery_url_is_the_one_msal_reads(issuer):
    settings = Settings.from_mapping(dict(COMMON, OIDC_ISSUER=issuer))
    http = FakeProviderHttp(provider_document(issuer))
    msal.ConfidentialClientApplication(
        "webapp", client_credential="s", oidc_authority=settings.authority, http_client=http, instance_discovery=False
    )
    expected = issuer.rstrip("/") + "/.well-known/openid-configuration"
    assert http.gets == [expected]
    assert oidc_discovery_url(issuer) == expected
    assert MetadataProvider(settings.authority, http, oidc_issuer=issuer).url == expected  # type: ignore[arg-type]


def test_entra_discovery_url_is_unchanged_and_the_one_msal_reads():
    settings = Settings.from_mapping(ENTRA_VALUES)
    http = FakeProviderHttp(entra_document())
    msal.ConfidentialClientApplication(
        "webapp", client_credential="s", authority=settings.authority, http_client=http, instance_discovery=False
    )
    expected = "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    assert http.gets == [expected]
    assert discovery_url(settings.authority) == expected
    assert MetadataProvider(settings.authority, http).url == expected  # type: ignore[arg-type]


# -- the discovery document --------------------------------------------------------------------------


def test_a_discovery_document_naming_another_issuer_is_refused():
    http = FakeProviderHttp(dict(provider_document(ISSUER), issuer="https://id.example.com/other"))
    metadata = MetadataProvider(ISSUER, http, oidc_issuer=ISSUER)  # type: ignore[arg-type]
    with pytest.raises(TenantUnavailable, match="names issuer 'https://id.example.com/other', not OIDC_ISSUER"):
        metadata.get()


def test_the_issuer_must_be_identical_not_just_similar():
    # OpenID Connect Discovery §4.3: identical, so a trailing slash makes it a different issuer.
    http = FakeProviderHttp(provider_document(ISSUER + "/"))
    with pytest.raises(TenantUnavailable, match="not OIDC_ISSUER"):
        MetadataProvider(ISSUER, http, oidc_issuer=ISSUER).get()  # type: ignore[arg-type]


def test_a_generic_provider_may_have_no_end_session_endpoint_entra_may_not():
    http = FakeProviderHttp(provider_document(end_session_endpoint=None))
    assert MetadataProvider(ISSUER, http, oidc_issuer=ISSUER).get().end_session_endpoint is None  # type: ignore[arg-type]
    entra_http = FakeProviderHttp({k: v for k, v in entra_document().items() if k != "end_session_endpoint"})
    with pytest.raises(TenantUnavailable, match="end_session_endpoint"):
        MetadataProvider("https://contoso.ciamlogin.com/", entra_http).get()  # type: ignore[arg-type]


def test_prompt_values_that_are_not_a_list_of_strings_are_refused():
    http = FakeProviderHttp(provider_document(prompt_values_supported="create"))
    with pytest.raises(TenantUnavailable, match="unusable"):
        MetadataProvider(ISSUER, http, oidc_issuer=ISSUER).get()  # type: ignore[arg-type]


ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint")
ENTRA_TENANT = "aaaaaaaa-0000-0000-0000-000000000001"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("provider", ["entra", "generic"])
def test_an_endpoint_that_is_not_https_is_refused(provider, endpoint):
    """A hostile provider's http:// jwks_uri was fetched and trusted; its http authorize endpoint followed."""
    document = entra_document() if provider == "entra" else provider_document()
    document[endpoint] = document[endpoint].replace("https://", "http://")
    http = FakeProviderHttp(document)
    metadata = (
        MetadataProvider(f"https://contoso.ciamlogin.com/{ENTRA_TENANT}", http)  # type: ignore[arg-type]
        if provider == "entra"
        else MetadataProvider(ISSUER, http, oidc_issuer=ISSUER)  # type: ignore[arg-type]
    )
    with pytest.raises(TenantUnavailable, match=f"{endpoint} 'http://.*' is not an https URL"):
        metadata.get()


def test_discovery_is_never_fetched_in_clear():
    http = FakeProviderHttp(entra_document())
    with pytest.raises(TenantUnavailable, match="not an https URL"):
        MetadataProvider(f"http://contoso.ciamlogin.com/{ENTRA_TENANT}", http).get()  # type: ignore[arg-type]
    assert http.gets == []


@pytest.mark.parametrize("value", ["//evil.example/keys", "/keys", "ftp://evil.example/keys", "https:///keys", 42])
def test_an_endpoint_that_is_no_absolute_https_url_is_refused(value):
    http = FakeProviderHttp(provider_document(jwks_uri=value))
    with pytest.raises(TenantUnavailable, match="jwks_uri"):
        MetadataProvider(ISSUER, http, oidc_issuer=ISSUER).get()  # type: ignore[arg-type]


def test_sign_in_does_not_start_towards_an_http_authorization_endpoint():
    settings = Settings.from_mapping(dict(ENTRA_VALUES, AUTHORITY=f"https://contoso.ciamlogin.com/{ENTRA_TENANT}"))
    document = dict(entra_document(), authorization_endpoint="http://contoso.ciamlogin.com/x/oauth2/v2.0/authorize")
    client = client_for(settings, FakeProviderHttp(document))
    with pytest.raises(TenantUnavailable, match="authorization_endpoint"):
        client.start_sign_in(["api://mfa/User.Read"])


def test_an_issuer_naming_another_tenant_than_the_authority_guid_is_refused():
    other = "bbbbbbbb-0000-0000-0000-000000000009"
    document = dict(entra_document(), issuer=f"https://{other}.ciamlogin.com/{other}/v2.0")
    metadata = MetadataProvider(f"https://contoso.ciamlogin.com/{ENTRA_TENANT}", FakeProviderHttp(document))  # type: ignore[arg-type]
    with pytest.raises(TenantUnavailable, match=f"not the authority's tenant {ENTRA_TENANT}"):
        metadata.get()


@pytest.mark.parametrize(
    "authority",
    [
        f"https://contoso.ciamlogin.com/{ENTRA_TENANT}",
        f"https://contoso.ciamlogin.com/{ENTRA_TENANT.upper()}",
        # A domain cannot be compared with the issuer's GUID: left to the issuer and tid checks.
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com",
        "https://contoso.ciamlogin.com/",
    ],
)
def test_the_authority_tenant_check_passes_for_the_right_tenant_or_a_domain(authority):
    assert MetadataProvider(authority, FakeProviderHttp(entra_document())).get().tenant_id == ENTRA_TENANT  # type: ignore[arg-type]


def test_an_issuer_without_a_path_names_no_tenant():
    document = dict(entra_document(), issuer="https://evil.example")
    metadata = MetadataProvider("https://contoso.ciamlogin.com/contoso.onmicrosoft.com", FakeProviderHttp(document))  # type: ignore[arg-type]
    assert metadata.get().tenant_id == ""


# -- what is sent ------------------------------------------------------------------------------------


def _authorize_params(flow: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(flow["auth_uri"]).query).items()}


def test_a_generic_provider_gets_no_entra_client_capabilities():
    client, _ = generic()
    params = _authorize_params(client.start_sign_in(["email"]))
    assert params["scope"] == "email offline_access openid profile"
    assert "claims" not in params


def test_entra_still_gets_the_cae_client_capability():
    settings = Settings.from_mapping(ENTRA_VALUES)
    client = client_for(settings, FakeProviderHttp(entra_document()))
    params = _authorize_params(client.start_sign_in(["User.Read"]))
    assert json.loads(params["claims"]) == {"access_token": {"xms_cc": {"values": ["cp1"]}}}


def test_sign_up_is_offered_only_where_the_provider_lists_prompt_create():
    client, _ = generic(prompt_values_supported=["none", "login", "consent", "create"])
    assert client.offers_sign_up()
    client, _ = generic(prompt_values_supported=["none", "login", "consent"])
    assert not client.offers_sign_up()
    client, _ = generic()  # no prompt_values_supported at all
    assert not client.offers_sign_up()


def test_entra_offers_sign_up_without_reading_discovery():
    http = FakeProviderHttp(entra_document())
    assert client_for(Settings.from_mapping(ENTRA_VALUES), http).offers_sign_up()
    assert http.gets == []


def test_sign_out_without_an_end_session_endpoint_returns_to_the_app():
    client, _ = generic(end_session_endpoint=None)
    assert client.sign_out_url({"sub": "ada"}) == "http://localhost:5000/"


def test_sign_out_with_rp_initiated_logout():
    client, _ = generic()
    url = urlsplit(client.sign_out_url({"sub": "ada"}))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/session/end"
    assert parse_qs(url.query) == {"post_logout_redirect_uri": ["http://localhost:5000/"], "client_id": ["webapp"]}


# -- RFC 9207: iss in the authorization response -----------------------------------------------------


@pytest.mark.parametrize(
    ("iss", "message"),
    [("https://evil.example/oidc", "is not the provider's issuer"), (None, "has no iss")],
)
def test_a_wrong_or_missing_iss_is_refused_before_the_code_is_redeemed(iss, message):
    client, http = generic(authorization_response_iss_parameter_supported=True)
    flow = client.start_sign_in(["email"])
    response = {"state": flow["state"], "code": "a-code"}
    if iss:
        response["iss"] = iss
    with pytest.raises(SignInError, match=message):
        client.complete_sign_in(flow, response, msal.SerializableTokenCache())
    assert http.posts == [], "the code must not be redeemed"


def test_a_foreign_iss_is_refused_even_from_a_provider_that_does_not_promise_it():
    client, http = generic()
    flow = client.start_sign_in(["email"])
    with pytest.raises(SignInError, match="is not the provider's issuer"):
        client.complete_sign_in(
            flow, {"state": flow["state"], "code": "c", "iss": "https://evil.example/"}, msal.SerializableTokenCache()
        )
    assert http.posts == []


def test_entra_without_iss_goes_on_to_redeem_the_code():
    http = FakeProviderHttp(entra_document(), token_answer=(400, {"error": "invalid_grant"}))
    client = client_for(Settings.from_mapping(ENTRA_VALUES), http)
    flow = client.start_sign_in(["User.Read"])
    with pytest.raises(SignInError) as refused:
        client.complete_sign_in(flow, {"state": flow["state"], "code": "c"}, msal.SerializableTokenCache())
    assert refused.value.tenant_error == "invalid_grant"
    assert http.posts == [entra_document()["token_endpoint"]]


# -- tid ---------------------------------------------------------------------------------------------


def _validator(fake_tenant: FakeTenant, **kwargs: Any) -> IdTokenValidator:
    from tests.unit.test_id_token import AUTHORITY, CLIENT

    metadata = MetadataProvider(AUTHORITY, fake_tenant)  # type: ignore[arg-type]
    return IdTokenValidator(metadata=metadata, jwks=JwksCache(metadata, fake_tenant), client_id=CLIENT, **kwargs)


def test_entra_requires_tid():
    fake_tenant = FakeTenant()
    with pytest.raises(IdTokenError, match="tid"):
        _validator(fake_tenant).validate(fake_tenant.token(tid=None), expected_nonce=NONCE)


def test_a_generic_provider_needs_no_tid_but_every_other_check_stays():
    fake_tenant = FakeTenant()
    validator = _validator(fake_tenant, require_tid=False)
    claims = validator.validate(fake_tenant.token(tid=None), expected_nonce=NONCE)
    assert "tid" not in claims
    # A tid, if a provider sends one, is not compared with anything.
    validator.validate(fake_tenant.token(tid="whatever"), expected_nonce=NONCE)
    for bad, message in [({"aud": "other"}, "audience"), ({"nonce": "x" * 64}, "nonce"), ({"sub": None}, "sub")]:
        with pytest.raises(IdTokenError, match=message):
            validator.validate(fake_tenant.token(tid=None, **bad), expected_nonce=NONCE)
