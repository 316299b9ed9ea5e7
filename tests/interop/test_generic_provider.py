"""The app as a relying party of panva's oidc-provider (OIDC_ISSUER), over HTTP without a browser:
discovery, sign-in, claims, sign-out, what MSAL puts on the wire, and ID tokens the app must refuse."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import msal
import pytest

from ciam_webapp.identity import EntraClient
from ciam_webapp.outbound import OutboundSession
from tests.interop.walk import sign_in, walk_to_callback

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def claims_on_page(page) -> dict[str, str]:
    return {td["data-claim"]: td.get_text() for td in page.soup.select("td[data-claim]")}


def test_discovery_is_read_at_the_issuer_and_the_app_is_ready(generic_webapp, openid_provider, provider_person):
    entra = generic_webapp.app.extensions["ciam"].entra
    assert entra.metadata.url == f"{openid_provider.issuer}/.well-known/openid-configuration"
    metadata = entra.metadata.get()
    assert metadata.issuer == openid_provider.issuer
    assert metadata.end_session_endpoint == f"{openid_provider.issuer}/session/end"
    ready = provider_person.get(generic_webapp.url("/readyz"))
    assert ready.status == 200, ready.text
    assert ready.response.json() == {"status": "ready"}


def test_sign_in_shows_the_providers_claims_then_sign_out_ends_both_sessions(
    generic_webapp, openid_provider, provider_person
):
    home = sign_in(provider_person, generic_webapp, "ada")
    assert home.url == generic_webapp.url("/") and home.status == 200
    assert home.heading() == "Welcome, Ada Lovelace"

    claims_page = provider_person.get(generic_webapp.url("/claims"))
    claims = claims_on_page(claims_page)
    assert claims["sub"] == "ada"
    assert claims["iss"] == openid_provider.issuer
    assert claims["aud"] == openid_provider.client_id
    assert claims["email"] == "ada@example.test"
    assert "tid" not in claims, "a generic provider issues no tid, and the app does not ask for one"
    assert "your sign-in provider issued" in claims_page.text and "tenant" not in claims_page.soup.main.p.text

    signed_out = provider_person.submit(claims_page, form=claims_page.form_with("csrf_token"))
    # RP-Initiated Logout: oidc-provider asks the person to confirm, then returns to the app.
    assert signed_out.url.startswith(f"{openid_provider.issuer}/session/end"), signed_out.url
    logout_form = signed_out.soup.find("form", id="op.logoutForm")
    back = provider_person.submit(signed_out, {"logout": "yes"}, form=logout_form)
    assert back.url == generic_webapp.url("/")
    assert "You have been signed out." in back.text and "Welcome, Ada" not in back.text

    # Both sessions are gone: the app sends the person to the provider, which asks for a login again.
    again = provider_person.get(generic_webapp.url("/claims"))
    assert again.url.startswith(openid_provider.issuer) and again.has_field("login")


def test_what_msal_sends_to_a_generic_provider(generic_webapp, openid_provider, provider_person):
    openid_provider.forget_received()
    sign_in(provider_person, generic_webapp, "grace")
    claims = claims_on_page(provider_person.get(generic_webapp.url("/claims")))
    received = openid_provider.received()

    [authorization] = received["authorization"]
    assert authorization["response_type"] == "code"
    assert authorization["scope"] == "email offline_access openid profile"  # MSAL adds three, sorted
    assert authorization["code_challenge_method"] == "S256" and authorization["code_challenge"]
    assert authorization["client_info"] == "1"
    # MSAL sends sha256(nonce) and the provider echoes it into the ID token.
    assert HEX64.match(authorization["nonce"]) and claims["nonce"] == authorization["nonce"]
    # No Entra-only parameters: no CAE client capabilities (claims), no prompt=create, no login_hint.
    assert not {"claims", "prompt", "login_hint", "X-AnchorMailbox"} & authorization.keys()

    [token] = received["token"]
    assert token["status"] == 200 and token["grant_type"] == "authorization_code"
    assert token["client_id"] == openid_provider.client_id
    # client_secret_post with the PKCE verifier; no client assertion.
    assert {"client_secret", "code", "code_verifier", "redirect_uri"} <= set(token["parameters"])
    assert "client_assertion" not in token["parameters"]


def test_without_client_info_the_account_is_keyed_on_sub(generic_webapp, openid_provider, provider_person):
    settings = generic_webapp.settings
    client = EntraClient(
        client_id=settings.client_id,
        client_credential=settings.client_credential(),
        authority=settings.authority,
        redirect_uri=settings.redirect_uri,
        post_logout_redirect_uri=settings.post_logout_redirect_uri,
        http=OutboundSession(timeout=5, ca_bundle=settings.ca_bundle),
        timeout=5,
        oidc_issuer=settings.oidc_issuer,
    )
    flow = client.start_sign_in(["email"])
    callback = walk_to_callback(provider_person, flow["auth_uri"], "ada", settings.redirect_uri)
    auth_response = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}
    cache = msal.SerializableTokenCache()

    signed_in = client.complete_sign_in(flow, auth_response, cache)

    assert signed_in.home_account_id == "ada" == signed_in.claims["sub"]
    accounts = msal.ConfidentialClientApplication(
        settings.client_id,
        client_credential=settings.client_credential(),
        oidc_authority=settings.authority,
        token_cache=cache,
        http_client=client.http,
    ).get_accounts()
    assert [account["home_account_id"] for account in accounts] == ["ada"]


def test_profile_and_sign_up_are_not_offered(generic_webapp, openid_provider, provider_person):
    home = provider_person.get(generic_webapp.url("/"))
    links = [a["href"] for a in home.soup.find_all("a")]
    assert "/auth/sign-up" not in links, "oidc-provider does not list prompt=create in its discovery"
    sign_up = provider_person.get(generic_webapp.url("/auth/sign-up"))
    assert sign_up.status == 404 and sign_up.heading() == "Sign-up not available"
    assert not sign_up.url.startswith(openid_provider.origin)

    signed_in = sign_in(provider_person, generic_webapp, "ada")
    assert "/profile" not in [a["href"] for a in signed_in.soup.find_all("a")]
    for path in ("/profile", "/profile/edit"):
        page = provider_person.get(generic_webapp.url(path))
        assert page.status == 404 and page.heading() == "Profile not available", path
        assert "Microsoft Graph" in page.text
    csrf = signed_in.form_with("csrf_token").find("input", attrs={"name": "csrf_token"})["value"]
    posted = provider_person.http.post(
        generic_webapp.url("/profile/edit"), data={"csrf_token": csrf, "displayName": "Ada"}, timeout=15
    )
    assert posted.status_code == 404 and "Profile not available" in posted.text


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode({k: v for k, v in query.items() if v is not None})))


@pytest.mark.parametrize(
    ("iss", "reason"),
    [("https://localhost:1/somebody-else", "is not the provider's issuer"), (None, "has no iss")],
    ids=["foreign-iss", "missing-iss"],
)
def test_authorization_response_with_a_wrong_iss_is_refused(
    generic_webapp, openid_provider, provider_person, app_logs, iss, reason
):
    # RFC 9207: oidc-provider adds iss to every authorization response and says so in discovery.
    callback = walk_to_callback(
        provider_person, generic_webapp.url("/auth/sign-in"), "ada", generic_webapp.settings.redirect_uri
    )
    assert parse_qs(urlsplit(callback).query)["iss"] == [openid_provider.issuer]
    refused = provider_person.get(_with_query(callback, iss=iss))
    assert refused.status == 400 and refused.heading() == "Sign-in failed"
    assert any(reason in r.getMessage() for r in app_logs.records if r.name == "ciam_webapp.web.auth")
    assert provider_person.http.get(generic_webapp.url("/claims"), allow_redirects=False, timeout=15).status_code == 302


OUR_CLIENT_ID = "<the app's client id>"  # replaced by the registered client id in the test
# (id, how the provider misbehaves, what the refusal's log line says)
MISBEHAVIOURS = [
    ("wrong-aud", {"claims": {"aud": "somebody-else"}}, "audience is not this app"),
    ("extra-aud-without-azp", {"claims": {"aud": [OUR_CLIENT_ID, "somebody-else"], "azp": None}}, "several audiences"),
    ("wrong-nonce", {"claims": {"nonce": hashlib.sha256(b"another sign-in").hexdigest()}}, "nonce"),
    ("wrong-iss", {"claims": {"iss": "https://localhost:1/oidc"}}, "issuer is not"),
    ("expired", {"shift_times": -7200}, "expired"),
    ("issued-in-the-future", {"shift_times": 3600}, "not valid yet"),
    ("no-sub", {"claims": {"sub": None}}, "lacks 'sub'"),  # MSAL keys the account on sub
    ("signed-by-a-stranger", {"sign_with": "stranger"}, "signature does not verify"),
    ("hs256-with-the-client-secret", {"sign_with": "client_secret"}, "algorithm 'HS256'"),
]


@pytest.mark.parametrize(("how", "reason"), [c[1:] for c in MISBEHAVIOURS], ids=[c[0] for c in MISBEHAVIOURS])
def test_id_token_that_fails_a_check_is_refused(
    generic_webapp, openid_provider, provider_person, app_logs, how, reason
):
    def our(value):
        return openid_provider.client_id if value == OUR_CLIENT_ID else value

    claims = {
        name: [our(v) for v in value] if isinstance(value, list) else value
        for name, value in how.get("claims", {}).items()
    }
    openid_provider.misbehave_next_id_token(**dict(how, claims=claims))

    refused = sign_in(provider_person, generic_webapp, "ada")

    assert refused.status == 400 and refused.heading() == "Sign-in failed", refused.text[:2000]
    refusals = [r.getMessage() for r in app_logs.records if r.name == "ciam_webapp.web.auth"]
    assert any(reason in message for message in refusals), refusals
    # Nothing was kept: the app has no session for this browser and asks for a sign-in again.
    claims_page = provider_person.http.get(generic_webapp.url("/claims"), allow_redirects=False, timeout=15)
    assert claims_page.status_code == 302 and "/auth/sign-in" in claims_page.headers["Location"]


def test_an_untouched_token_after_a_refused_one_signs_in(generic_webapp, openid_provider, provider_person):
    # The misbehaviour is for one token only, so the refusals above prove the checks, not a broken set-up.
    openid_provider.misbehave_next_id_token(claims={"aud": "somebody-else"})
    assert sign_in(provider_person, generic_webapp, "ada").status == 400
    assert sign_in(provider_person, generic_webapp, "ada").heading() == "Welcome, Ada Lovelace"


def test_cancelling_at_the_provider_leads_to_the_cancelled_page(generic_webapp, openid_provider, provider_person):
    login = provider_person.get(generic_webapp.url("/auth/sign-in"))
    assert login.url.startswith(f"{openid_provider.issuer}/interaction/")
    # oidc-provider's "[ Cancel ]" aborts the interaction: access_denied back to the redirect URI.
    cancelled = provider_person.get(login.link("Cancel"))
    assert cancelled.url == generic_webapp.url("/signed-in-cancelled") and cancelled.status == 200
    claims = provider_person.http.get(generic_webapp.url("/claims"), allow_redirects=False, timeout=15)
    assert claims.status_code == 302, "a cancelled sign-in leaves nobody signed in"


def _cancel_callback(person, webapp) -> str:
    """Cancel at the provider's login page; the error callback it sends back, not loaded."""
    login = person.get(webapp.url("/auth/sign-in"))
    response = person.http.get(login.link("Cancel"), allow_redirects=False, timeout=15)
    while response.is_redirect:
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(webapp.settings.redirect_uri):
            return location
        response = person.http.get(location, allow_redirects=False, timeout=15)
    raise AssertionError(f"the provider did not send the browser back: {response.status_code}")


@pytest.mark.parametrize(
    ("iss", "reason"),
    [("https://localhost:1/somebody-else", "is not the provider's issuer"), (None, "has no iss")],
    ids=["foreign-iss", "missing-iss"],
)
def test_a_cancellation_with_a_wrong_iss_is_refused_not_shown_as_cancelled(
    generic_webapp, openid_provider, provider_person, app_logs, iss, reason
):
    # RFC 9207 §2.4: the iss check applies to error responses as well; oidc-provider sends iss on them.
    callback = _cancel_callback(provider_person, generic_webapp)
    query = parse_qs(urlsplit(callback).query)
    assert query["error"] == ["access_denied"] and query["iss"] == [openid_provider.issuer]
    refused = provider_person.get(_with_query(callback, iss=iss))
    assert refused.status == 400 and refused.heading() == "Sign-in failed"
    assert any(reason in r.getMessage() for r in app_logs.records if r.name == "ciam_webapp.web.auth")


def test_a_callback_with_both_a_code_and_an_error_is_refused_unredeemed(
    generic_webapp, openid_provider, provider_person, app_logs
):
    callback = walk_to_callback(
        provider_person, generic_webapp.url("/auth/sign-in"), "ada", generic_webapp.settings.redirect_uri
    )
    openid_provider.forget_received()
    refused = provider_person.get(_with_query(callback, error="access_denied"))
    assert refused.status == 400 and refused.heading() == "Sign-in failed"
    assert openid_provider.received()["token"] == [], "no token request was made"
    assert any("both a code and an error" in r.getMessage() for r in app_logs.records)


def test_an_app_with_a_certificate_signs_in_with_private_key_jwt(certificate_webapp, openid_provider, provider_person):
    openid_provider.forget_received()
    home = sign_in(provider_person, certificate_webapp, "grace")
    assert home.url == certificate_webapp.url("/") and home.heading() == "Welcome, Grace Hopper"
    [token] = openid_provider.received()["token"]
    assert token["status"] == 200 and token["client_id"] == openid_provider.certificate_client_id
    # MSAL's client assertion (PS256, x5t#S256), checked by the provider against the registered key.
    assert {"client_assertion", "client_assertion_type"} <= set(token["parameters"])
    assert "client_secret" not in token["parameters"]
