"""A certificate credential (a PEM file with the private key and its certificate), read and checked once.

For the web app (CLIENT_CERTIFICATE_PATH) and the mfa-app API (API_CLIENT_CERTIFICATE_PATH), with the
variable names as parameters, so that problems surface at start-up, naming the variable, instead of as
an AADSTS700027 at the first token request. MSAL signs the client assertion itself (PS256 with the
SHA-256 thumbprint; entra-notes §10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class CertificateError(ValueError):
    """The file cannot serve as a certificate credential; the message names the variable and the fix."""


@dataclass(frozen=True)
class ClientCertificate:
    private_key_pem: str = field(repr=False)
    certificate_pem: str
    passphrase: str | None = field(default=None, repr=False)

    def msal_credential(self) -> dict[str, str]:
        """What MSAL's `client_credential` takes for a certificate."""
        credential = {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}
        if self.passphrase:
            credential["passphrase"] = self.passphrase
        return credential


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def load_client_certificate(path: str, password: str | None, *, name: str, password_name: str) -> ClientCertificate:
    """Read the PEM file at `path` (named by the variable `name`) and check that its RSA key and one of
    its certificates belong together; `password` (variable `password_name`) decrypts the key."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateError(
            f"{name} points to {path!r}, which cannot be read as a PEM file: {type(exc).__name__}"
        ) from None
    blocks = [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(text)]
    key_blocks = [block for label, block in blocks if label.endswith("PRIVATE KEY")]
    certificate_blocks = [block for label, block in blocks if label == "CERTIFICATE"]
    if len(key_blocks) != 1 or not certificate_blocks:
        raise CertificateError(
            f"{name} must name a PEM file holding one private key and its certificate; {path!r} has "
            f"{len(key_blocks)} private key(s) and {len(certificate_blocks)} certificate(s)"
        )
    try:
        private_key = serialization.load_pem_private_key(
            key_blocks[0].encode("ascii"), password.encode("utf-8") if password else None
        )
    except TypeError:
        # cryptography: a password for a plain key, or none for an encrypted one.
        if password:
            raise CertificateError(f"the private key in {name} is not encrypted: unset {password_name}") from None
        raise CertificateError(f"the private key in {name} is encrypted: set {password_name} to its password") from None
    except ValueError:
        # Deliberately vague: never echo anything derived from the password.
        raise CertificateError(
            f"the private key in {name} cannot be read: a wrong {password_name}, or not a PEM private key"
        ) from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise CertificateError(f"the private key in {name} must be an RSA key (Entra checks PS256/RS256)")
    public_numbers = private_key.public_key().public_numbers()
    for block in certificate_blocks:
        try:
            certificate = x509.load_pem_x509_certificate(block.encode("ascii"))
        except ValueError:
            raise CertificateError(f"{name}: {path!r} holds a certificate that cannot be parsed") from None
        public_key = certificate.public_key()
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.public_numbers() == public_numbers:
            return ClientCertificate(private_key_pem=key_blocks[0], certificate_pem=block, passphrase=password)
    raise CertificateError(f"{name}: no certificate in {path!r} matches its private key")
