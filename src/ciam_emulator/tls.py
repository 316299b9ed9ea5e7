"""A local certificate authority and server certificate for the emulator's HTTPS.

Generated once into ``instance_dir/tls`` and reused, so clients can trust the CA file once.
They are regenerated only when a file is missing, unreadable, expired or about to expire,
or when the server certificate does not cover a requested host name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

# Renew a little before the end so a long-running emulator never serves an expired cert.
_RENEW_BEFORE = dt.timedelta(days=7)
_SERVER_CERT_LIFETIME = dt.timedelta(days=365)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def ensure_tls(instance_dir: Path, hostnames: Iterable[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """Return the emulator's CA and server PEM files, creating them if needed."""
    tls_dir = Path(instance_dir) / "tls"
    files = TlsFiles(
        ca_cert=tls_dir / "ca.pem",
        server_cert=tls_dir / "server.pem",
        server_key=tls_dir / "server-key.pem",
    )
    wanted = tuple(hostnames)
    if _files_usable(files, wanted):
        return files
    tls_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    authority = trustme.CA(organization_name="CIAM emulator local CA")
    server = authority.issue_cert(
        *wanted,
        common_name=wanted[0] if wanted else None,
        organization_name="CIAM emulator",
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + _SERVER_CERT_LIFETIME,
    )
    _write(files.ca_cert, authority.cert_pem.bytes(), private=False)
    _write(files.server_cert, b"".join(blob.bytes() for blob in server.cert_chain_pems), private=False)
    _write(files.server_key, server.private_key_pem.bytes(), private=True)
    return files


def _write(path: Path, data: bytes, *, private: bool) -> None:
    # Write then rename, so a concurrent reader never sees half a PEM.
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_bytes(data)
    if private:
        os.chmod(temp, 0o600)
    temp.replace(path)


def _files_usable(files: TlsFiles, hostnames: tuple[str, ...]) -> bool:
    if not (files.ca_cert.is_file() and files.server_cert.is_file() and files.server_key.is_file()):
        return False
    try:
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        names = server.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    deadline = dt.datetime.now(dt.UTC) + _RENEW_BEFORE
    if ca.not_valid_after_utc <= deadline or server.not_valid_after_utc <= deadline:
        return False
    covered = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    covered |= {dns.lower() for dns in names.get_values_for_type(x509.DNSName)}
    return all(_normalise_host(host) in covered for host in hostnames)


def _normalise_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()
