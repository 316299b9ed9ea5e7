"""Self-signed client certificates made at test time, as PEM text and as files the app can be given."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class GeneratedCertificate:
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def private_key_pem(self, password: str | None = None) -> str:
        encryption = (
            serialization.BestAvailableEncryption(password.encode("utf-8"))
            if password
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ).decode("ascii")

    def write_pem(self, path: Path, password: str | None = None) -> Path:
        """One file with the private key and the certificate, as CLIENT_CERTIFICATE_PATH expects."""
        path.write_text(self.private_key_pem(password) + self.certificate_pem, encoding="ascii")
        return path

    def thumbprint(self, kind: str = "sha256") -> str:
        """Base64url thumbprint of the certificate, as a JWT header's x5t#S256 (sha256) or x5t (sha1)."""
        algorithm = hashes.SHA256() if kind == "sha256" else hashes.SHA1()  # noqa: S303 - x5t is SHA-1
        return base64.urlsafe_b64encode(self.certificate.fingerprint(algorithm)).rstrip(b"=").decode("ascii")


def make_certificate(common_name: str = "ciam-webapp test", *, expired: bool = False) -> GeneratedCertificate:
    # 2048 bits: what Entra asks for, and quick enough to make per test.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC) - (dt.timedelta(days=60) if expired else dt.timedelta(0))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return GeneratedCertificate(key, certificate)
