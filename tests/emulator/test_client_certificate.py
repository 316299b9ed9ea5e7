"""Certificate credentials (private_key_jwt): MSAL signs a client assertion, the emulator checks it as Entra does.

Every case builds its own MSAL app, so its own http_cache: MSAL answers an identical POST that got a 400 from
memory for 60 s, which would hide the emulator's answer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives import hashes

from ciam_emulator.seed import seed
from tests.support.certificates import GeneratedCertificate, make_certificate

from .conftest import APP_BASE_URL, REDIRECT_URI, LiveEmulator, ScriptedBrowser
from .test_token_endpoint import assert_entra_error

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class RecordingSession(requests.Session):
    """Trusts only the emulator CA and keeps the form body of every POST, to look at the assertion sent."""

    def __init__(self, ca_cert: Any) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = str(ca_cert)
        self.posted: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if method == "POST":
            self.posted.append(dict(kwargs.get("data") or {}))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def registered(emulator_instance: LiveEmulator) -> GeneratedCertificate:
    """A certificate whose public part is uploaded to the web app registration (through seed)."""
    certificate = make_certificate("ciam-webapp")
    instance_dir = emulator_instance.app.extensions["ciam_emulator"].settings.instance_dir
    seed(instance_dir, app_base_url=APP_BASE_URL, client_certificate_pem=certificate.certificate_pem)
    return certificate


def certificate_app(
    emulator: LiveEmulator, credential: dict[str, Any]
) -> tuple[msal.ConfidentialClientApplication, RecordingSession]:
    http = RecordingSession(emulator.ca_cert)
    app = msal.ConfidentialClientApplication(
        emulator.seeded.client_id,
        client_credential=credential,
        authority=emulator.tenant_url,
        instance_discovery=False,
        http_client=http,
        http_cache={},
    )
    return app, http


def signed_assertion(
    emulator: LiveEmulator,
    certificate: GeneratedCertificate,
    *,
    algorithm: str = "PS256",
    headers: dict[str, Any] | None = None,
    key: Any = None,
    **claims: Any,
) -> str:
    """A client assertion like MSAL's, with any claim or header changed."""
    now = int(time.time())
    payload = {
        "aud": emulator.token_url,
        "iss": emulator.seeded.client_id,
        "sub": emulator.seeded.client_id,
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    header = {"x5t#S256": certificate.thumbprint("sha256")}
    header.update(headers or {})
    return jwt.encode(payload, key if key is not None else certificate.private_key, algorithm=algorithm, headers=header)


def client_authentication_error(emulator: LiveEmulator, credential: dict[str, Any]) -> dict[str, Any]:
    """The token endpoint's answer to a refresh request; the client is authenticated before the grant."""
    app, _ = certificate_app(emulator, credential)
    return app.acquire_token_by_refresh_token("not-a-refresh-token", scopes=["User.Read"])


def assert_aadsts(result: dict[str, Any], error: str, code: int) -> str:
    assert result.get("error") == error, result
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    return result["error_description"]


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_msal_with_a_certificate_redeems_a_code_and_refreshes(
    emulator: LiveEmulator, browser: ScriptedBrowser, registered: GeneratedCertificate
) -> None:
    app, http = certificate_app(
        emulator, {"private_key": registered.private_key_pem(), "public_certificate": registered.certificate_pem}
    )
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    callback = browser.sign_in(flow["auth_uri"], emulator.seeded.demo_email, emulator.seeded.demo_password)
    result = app.acquire_token_by_auth_code_flow(flow, callback.params)
    assert "access_token" in result, result

    sent = http.posted[-1]
    assert sent["client_assertion_type"] == JWT_BEARER and "client_secret" not in sent
    header = jwt.get_unverified_header(sent["client_assertion"])
    # MSAL keeps the base64 padding on the thumbprint; Entra takes it either way.
    assert header["alg"] == "PS256" and header["x5t#S256"].rstrip("=") == registered.thumbprint("sha256")

    # MSAL keeps one assertion (same jti) for ~9 minutes and sends it again; Entra accepts that, and so do we.
    refreshed = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["User.Read"])
    assert "access_token" in refreshed, refreshed
    assert http.posted[-1]["client_assertion"] == sent["client_assertion"]


def test_replayed_assertion_is_accepted_as_entra_does(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    """Same jti twice, from two apps with their own http_cache (so both reach the emulator).

    Entra does not track jti: MSAL Python reuses an assertion for up to 9 minutes. A stricter emulator would
    fail apps that work against the real tenant.
    """
    assertion = signed_assertion(emulator, registered, jti="the-same-jti")
    for _ in range(2):
        result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
        assert_aadsts(result, "invalid_grant", 9002313)  # the client got past authentication both times


def test_sha1_thumbprint_and_rs256_are_accepted_too(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    sha1_hex = registered.certificate.fingerprint(hashes.SHA1()).hex()  # noqa: S303
    result = client_authentication_error(
        emulator, {"private_key": registered.private_key_pem(), "thumbprint": sha1_hex}
    )
    # The client was authenticated: what fails is the made-up refresh token.
    assert_aadsts(result, "invalid_grant", 9002313)


def test_encrypted_key_with_passphrase(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    credential = {
        "private_key": registered.private_key_pem(password="pass-phrase"),
        "public_certificate": registered.certificate_pem,
        "passphrase": "pass-phrase",
    }
    assert_aadsts(client_authentication_error(emulator, credential), "invalid_grant", 9002313)


def test_wrong_private_key_fails_signature_validation(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    impostor = make_certificate("impostor")
    credential = {"private_key": impostor.private_key_pem(), "public_certificate": registered.certificate_pem}
    description = assert_aadsts(client_authentication_error(emulator, credential), "invalid_client", 700027)
    assert "did not match the expected signature value" in description
    assert registered.certificate.fingerprint(hashes.SHA256()).hex().upper() in description


def test_unregistered_certificate_is_not_found(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    stranger = make_certificate("not uploaded")
    credential = {"private_key": stranger.private_key_pem(), "public_certificate": stranger.certificate_pem}
    description = assert_aadsts(client_authentication_error(emulator, credential), "invalid_client", 700027)
    assert "is not registered on application" in description and "The key was not found" in description
    assert emulator.seeded.client_id in description


def test_unregistered_certificate_over_the_wire_is_a_401(
    emulator: LiveEmulator, registered: GeneratedCertificate
) -> None:
    stranger = make_certificate("not uploaded")
    response = RecordingSession(emulator.ca_cert).post(
        emulator.token_url,
        data={
            "client_id": emulator.seeded.client_id,
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": signed_assertion(emulator, stranger),
        },
        timeout=10,
    )
    assert_entra_error(response, 401, "invalid_client", 700027)


def test_expired_assertion_is_outside_its_time_range(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    an_hour_ago = int(time.time()) - 3600
    assertion = signed_assertion(emulator, registered, iat=an_hour_ago - 600, exp=an_hour_ago)
    description = assert_aadsts(
        client_authentication_error(emulator, {"client_assertion": lambda: assertion}), "invalid_client", 700024
    )
    assert "not within its valid time range" in description


def test_assertion_not_yet_valid_is_outside_its_time_range(
    emulator: LiveEmulator, registered: GeneratedCertificate
) -> None:
    tomorrow = int(time.time()) + 86400
    assertion = signed_assertion(emulator, registered, nbf=tomorrow, exp=tomorrow + 600)
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_client", 700024)


def test_a_long_lived_assertion_is_accepted_as_entra_does(
    emulator: LiveEmulator, registered: GeneratedCertificate
) -> None:
    assertion = signed_assertion(emulator, registered, exp=int(time.time()) + 30 * 86400)
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_grant", 9002313)


@pytest.mark.parametrize(
    "audience",
    [
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "https://{tenant}.ciamlogin.localhost/{tenant}/v2.0",  # the issuer, not the token endpoint
        "{base}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",  # another tenant
        ["{base}/{tenant}/oauth2/v2.0/token"],  # Entra wants a single string
    ],
)
def test_wrong_audience_does_not_match_the_realm(
    emulator: LiveEmulator, registered: GeneratedCertificate, audience: Any
) -> None:
    def filled(value: str) -> str:
        return value.format(base=emulator.base_url, tenant=emulator.seeded.tenant_id)

    aud = [filled(a) for a in audience] if isinstance(audience, list) else filled(audience)
    assertion = signed_assertion(emulator, registered, aud=aud)
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_client", 700023)


def test_token_endpoint_named_by_tenant_domain_is_the_same_realm(
    emulator: LiveEmulator, registered: GeneratedCertificate
) -> None:
    aud = f"{emulator.base_url}/{emulator.seeded.tenant_subdomain}.onmicrosoft.com/oauth2/v2.0/token"
    assertion = signed_assertion(emulator, registered, aud=aud)
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_grant", 9002313)


@pytest.mark.parametrize("claim", ["iss", "sub"])
def test_issuer_and_subject_must_be_the_client_id(
    emulator: LiveEmulator, registered: GeneratedCertificate, claim: str
) -> None:
    assertion = signed_assertion(emulator, registered, **{claim: str(uuid.uuid4())})
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_client", 700021)


def test_only_ps256_and_rs256_are_accepted(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    # Signed with a shared secret but naming the registered certificate: must not pass as "verified".
    assertion = signed_assertion(emulator, registered, algorithm="HS256", key="a-shared-secret-of-32-characters!!")
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_client", 700027)


def test_assertion_without_a_thumbprint_is_malformed(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    assertion = signed_assertion(emulator, registered, headers={"x5t#S256": None})
    result = client_authentication_error(emulator, {"client_assertion": lambda: assertion})
    assert_aadsts(result, "invalid_request", 50027)


def test_expired_registered_certificate_is_refused(emulator: LiveEmulator) -> None:
    old = make_certificate("expired", expired=True)
    instance_dir = emulator.app.extensions["ciam_emulator"].settings.instance_dir
    seed(instance_dir, app_base_url=APP_BASE_URL, client_certificate_pem=old.certificate_pem)
    credential = {"private_key": old.private_key_pem(), "public_certificate": old.certificate_pem}
    description = assert_aadsts(client_authentication_error(emulator, credential), "invalid_client", 700027)
    assert "expired" in description


def test_wrong_assertion_type(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    response = RecordingSession(emulator.ca_cert).post(
        emulator.token_url,
        data={
            "client_id": emulator.seeded.client_id,
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            "client_assertion": signed_assertion(emulator, registered),
        },
        timeout=10,
    )
    assert_entra_error(response, 400, "invalid_request", 90011)


def test_secret_still_works_next_to_a_certificate(emulator: LiveEmulator, registered: GeneratedCertificate) -> None:
    result = emulator.msal_app().acquire_token_by_refresh_token("not-a-refresh-token", scopes=["User.Read"])
    assert_aadsts(result, "invalid_grant", 9002313)
