"""Password hashing (scrypt with a per-user salt) and the tenant's password policy."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# scrypt cost: ~16 MiB of memory and tens of milliseconds, plenty for a local emulator.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_KEY_LENGTH = 32

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def hash_password(password: str) -> tuple[bytes, bytes]:
    """Return ``(salt, hash)`` for storage."""
    salt = secrets.token_bytes(16)
    return salt, _derive(password, salt)


def verify_password(password: str, salt: bytes, expected_hash: bytes) -> bool:
    return hmac.compare_digest(_derive(password, salt), expected_hash)


def _derive(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_KEY_LENGTH)


def password_policy_problem(password: str) -> str | None:
    """Explain why a new password is not acceptable, or return None.

    Mirrors Entra External ID's rule: 8-256 characters using three of the four kinds
    (lower case, upper case, digits, symbols).
    """
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return f"The password must be between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters."
    kinds = [
        any(ch.islower() for ch in password),
        any(ch.isupper() for ch in password),
        any(ch.isdigit() for ch in password),
        any(not ch.isalnum() for ch in password),
    ]
    if sum(kinds) < 3:
        return (
            "The password must contain characters from at least three of these groups: "
            "lower case letters, upper case letters, digits and symbols."
        )
    return None
