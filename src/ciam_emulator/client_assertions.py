"""Certificate credentials: registering an app's certificate and checking the client assertion signed with it.

An app proves who it is at the token endpoint either with a client secret or with ``private_key_jwt``: a
JWT it signs with the private key of a certificate uploaded to its registration (RFC 7523, OIDC Core 9).
What is checked, and the AADSTS code each failure gives, follows Entra:

- ``client_assertion_type`` is the jwt-bearer URN (else 90011);
- the header names the certificate by ``x5t#S256`` or ``x5t`` (else 50027), one registered for this app
  (else 700027, "the key was not found"), and ``alg`` is PS256 or RS256; the signature verifies with that
  certificate's public key (else 700027);
- ``iss`` and ``sub`` are the client id (else 700021), ``aud`` is this tenant's token endpoint (else 700023),
  and now lies between ``nbf`` (when present) and ``exp``, give or take the clock skew (else 700024).

Two things Entra does not do, so neither do we: limit how far ahead ``exp`` may be ("Microsoft Entra ID
doesn't place restrictions on the exp time currently", certificate-credentials doc), and refuse an assertion
whose ``jti`` it has seen before: MSAL Python reuses one assertion for up to 9 minutes across token requests
(``AutoRefresher``), as MSAL Java and Go did, which only works because Entra accepts the replay.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ciam_emulator.errors import EntraProtocolError
from ciam_emulator.store import AppRegistration, ClientCertificate, Store, Tenant

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALLOWED_ALGORITHMS = ("PS256", "RS256")
# UNSURE: Entra's exact tolerance is not documented; five minutes is the Microsoft.IdentityModel default.
CLOCK_SKEW_SECONDS = 300
CERTIFICATE_DOC = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"


def certificate_credential(app_id: str, certificate_pem: str) -> ClientCertificate:
    """What Entra keeps of an uploaded certificate: its public part, thumbprints and validity."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    except ValueError as exc:
        raise ValueError("not a PEM certificate") from exc
    return ClientCertificate(
        app_id=app_id,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        sha1_thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - x5t is SHA-1 by definition
        sha256_thumbprint=certificate.fingerprint(hashes.SHA256()).hex().upper(),
        not_before=certificate.not_valid_before_utc.timestamp(),
        not_after=certificate.not_valid_after_utc.timestamp(),
    )


def token_endpoint_audiences(base_url: str, tenant: Tenant) -> set[str]:
    """The token endpoint, under either name of the tenant (GUID or domain): both name the same realm.

    UNSURE: Entra documents the tenant's token endpoint as `aud`; that the domain form is accepted too is inferred.
    """
    return {f"{base_url}/{segment}/oauth2/v2.0/token" for segment in (tenant.id, tenant.domain)}


def verify_client_assertion(
    store: Store, app: AppRegistration, form: dict[str, str], *, audiences: set[str], now: float
) -> None:
    """Raise EntraProtocolError unless the request's client assertion authenticates ``app``."""
    if form.get("client_assertion_type") != JWT_BEARER:
        # UNSURE: code and wording from an older Entra capture (ADAL for Ruby, 2016).
        raise EntraProtocolError("invalid_request", 90011, "Unexpected client assertion type.")
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError as exc:
        raise _malformed("JWT token is invalid or malformed.") from exc
    kind, thumbprint = _thumbprint_from(header)
    certificate = _registered_certificate(store.client_certificates(app.app_id), kind, thumbprint)
    if certificate is None:
        raise _invalid_client(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application. "
            f"[Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the "
            f"Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app.app_id}'.]",
        )
    found_key = f"Found key 'Start={_entra_date(certificate.not_before)}, End={_entra_date(certificate.not_after)}'"
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        # UNSURE: the code Entra gives for an algorithm other than PS256/RS256.
        raise _invalid_client(
            700027,
            f"Client assertion failed signature validation. [Reason - The algorithm '{algorithm}' is not supported.]",
        )
    if not certificate.not_before <= now <= certificate.not_after:
        # UNSURE: wording recalled from Entra's answer for an expired key credential.
        raise _invalid_client(
            700027,
            "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key "
            f"used by client: '{thumbprint}', {found_key}]",
        )
    public_key = x509.load_pem_x509_certificate(certificate.certificate_pem.encode("ascii")).public_key()
    try:
        payload = jwt.PyJWS().decode(assertion, public_key, algorithms=[algorithm])  # type: ignore[arg-type]
    except jwt.InvalidSignatureError as exc:
        raise _invalid_client(
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature value did not match "
            f"the expected signature value., Thumbprint of key used by client: '{thumbprint}', {found_key}]",
        ) from exc
    except jwt.PyJWTError as exc:
        raise _malformed("JWT token is invalid or malformed.") from exc
    _check_claims(_claims_of(payload), app, audiences=audiences, now=now)


def _thumbprint_from(header: dict[str, Any]) -> tuple[str, str]:
    """('sha256' or 'sha1', upper-case hex) from the header's x5t#S256, else its x5t."""
    for name, kind in (("x5t#S256", "sha256"), ("x5t", "sha1")):
        value = header.get(name)
        if isinstance(value, str) and value:
            try:
                digest = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            except (binascii.Error, ValueError):
                return kind, value  # shown as sent; it matches nothing
            return kind, digest.hex().upper()
    # UNSURE: code and wording from an older Entra capture (MSAL.NET issue 124, 2016).
    raise _malformed("Invalid JWT token. No certificate thumbprint specified in token header.")


def _registered_certificate(
    certificates: list[ClientCertificate], kind: str, thumbprint: str
) -> ClientCertificate | None:
    for certificate in certificates:
        registered = certificate.sha256_thumbprint if kind == "sha256" else certificate.sha1_thumbprint
        if registered == thumbprint:
            return certificate
    return None


def _claims_of(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except ValueError as exc:
        raise _malformed("JWT token is invalid or malformed.") from exc
    if not isinstance(claims, dict):
        raise _malformed("JWT token is invalid or malformed.")
    return claims


def _check_claims(claims: dict[str, Any], app: AppRegistration, *, audiences: set[str], now: float) -> None:
    client_id = app.app_id.lower()
    if str(claims.get("iss", "")).lower() != client_id or str(claims.get("sub", "")).lower() != client_id:
        raise _invalid_client(
            700021,
            f"Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation "
            f"at {CERTIFICATE_DOC} .",
        )
    audience = claims.get("aud")
    if not isinstance(audience, str) or audience not in audiences:
        # A list is refused too: Entra wants the token endpoint as a single string.
        raise _invalid_client(
            700023,
            "Client assertion audience claim does not match Realm issuer. Review the documentation at "
            f"{CERTIFICATE_DOC} .",
        )
    expires = claims.get("exp")
    not_before = claims.get("nbf")
    if not _is_time(expires) or (not_before is not None and not _is_time(not_before)):
        raise _malformed("JWT token is invalid or malformed.")
    too_early = not_before is not None and now + CLOCK_SKEW_SECONDS < not_before
    if too_early or now - CLOCK_SKEW_SECONDS >= expires:
        valid_from = _entra_time(not_before if not_before is not None else claims.get("iat", expires))
        raise _invalid_client(
            700024,
            f"Client assertion is not within its valid time range. Current time: {_entra_time(now)}, assertion valid "
            f"from {valid_from}, expiry time of assertion {_entra_time(expires)}. Review the documentation at "
            f"{CERTIFICATE_DOC} .",
        )


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _entra_time(timestamp: Any) -> str:
    if not _is_time(timestamp):
        return str(timestamp)
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)  # a date beyond what datetime holds; it is only shown in the message


def _entra_date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")


def _invalid_client(code: int, message: str) -> EntraProtocolError:
    return EntraProtocolError("invalid_client", code, message, status=401)


def _malformed(message: str) -> EntraProtocolError:
    # UNSURE: whether Entra answers a malformed assertion with invalid_request or invalid_client.
    return EntraProtocolError("invalid_request", 50027, message)
