"""The app's own HTTPS certificate in the tests: a test CA, and a certificate for `localhost` it issued.

The app (served directly over TLS, or nginx in front of it) and the tenant are different sites
with different certificates, as in production: the tenant's comes from the emulator's CA, the
app's from this one. Clients that talk to both trust `client_bundle`, which holds both CAs.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

SITE_HOST = "localhost"


@dataclass(frozen=True)
class SiteCertificate:
    ca_cert: Path  # the test CA that issued the site's certificate
    cert_chain: Path  # the site's certificate first, then its chain
    private_key: Path
    client_bundle: Path  # this CA and the tenant's: what a browser-like client of both trusts

    def spki_pin(self) -> str:
        """Base64 SHA-256 of the site certificate's public key, as chromium's SPKI pin list wants it."""
        return spki_pin(self.cert_chain)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_chain, self.private_key)
        return context


def make_site_certificate(directory: Path, tenant_ca: Path) -> SiteCertificate:
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="ciam-webapp test CA")
    issued = authority.issue_cert(SITE_HOST, common_name=SITE_HOST, organization_name="ciam-webapp tests")
    files = SiteCertificate(
        ca_cert=directory / "site-ca.pem",
        cert_chain=directory / "site.pem",
        private_key=directory / "site-key.pem",
        client_bundle=directory / "clients-trust.pem",
    )
    files.ca_cert.write_bytes(authority.cert_pem.bytes())
    files.cert_chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    files.private_key.write_bytes(issued.private_key_pem.bytes())
    files.private_key.chmod(0o600)
    files.client_bundle.write_bytes(authority.cert_pem.bytes() + Path(tenant_ca).read_bytes())
    return files


def spki_pin(cert_path: Path) -> str:
    """The first certificate's key in `cert_path`, hashed the way chromium's SPKI pin list expects."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
