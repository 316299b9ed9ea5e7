"""SQLite persistence of the emulated tenant.

One connection per thread (the threaded server runs each request on its own thread; the
Flask app closes it at teardown). WAL mode lets readers and the single writer overlap.
Secrets (client secrets, codes, tokens, session cookies) are stored as SHA-256 hashes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ciam_emulator import passwords

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

AUTH_CODE_LIFETIME_SECONDS = 600
AUTH_REQUEST_LIFETIME_SECONDS = 1800
REFRESH_TOKEN_LIFETIME_SECONDS = 90 * 24 * 3600
OTP_LIFETIME_SECONDS = 600
# UNSURE: Entra documents no number of tries per emailed code; after this many wrong entries the
# code is spent and the user must ask for a new one.
OTP_MAX_ATTEMPTS = 5
# Entra's smart lockout defaults (smart lockout doc): 10 failures lock the account for 60 seconds.
LOCKOUT_THRESHOLD = 10
LOCKOUT_SECONDS = 60
# UNSURE: no page gives a per-user limit on wrong MFA codes; the emulator applies smart lockout's
# default numbers to wrong codes across all of a user's codes (asking for a new code keeps the count).
MFA_LOCKOUT_THRESHOLD = LOCKOUT_THRESHOLD
MFA_LOCKOUT_SECONDS = LOCKOUT_SECONDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    subdomain TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    exposed_scopes TEXT NOT NULL,
    access_token_version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant_id, display_name)
);
CREATE TABLE IF NOT EXISTS client_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL REFERENCES apps(app_id),
    secret_hash TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL COLLATE NOCASE,
    display_name TEXT NOT NULL,
    given_name TEXT,
    surname TEXT,
    mail TEXT,
    job_title TEXT,
    mobile_phone TEXT,
    office_location TEXT,
    preferred_language TEXT,
    business_phones TEXT NOT NULL DEFAULT '[]',
    city TEXT,
    country TEXT,
    postal_code TEXT,
    state TEXT,
    street_address TEXT,
    password_salt BLOB NOT NULL,
    password_hash BLOB NOT NULL,
    mfa_email_confirmed INTEGER NOT NULL DEFAULT 0,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    failed_mfa_codes INTEGER NOT NULL DEFAULT 0,
    mfa_locked_until REAL NOT NULL DEFAULT 0,
    refresh_tokens_valid_after REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    UNIQUE (tenant_id, email)
);
CREATE TABLE IF NOT EXISTS sso_sessions (
    id TEXT PRIMARY KEY,
    cookie_hash TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    auth_time REAL NOT NULL,
    mfa_time REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    session_id TEXT,
    login_done INTEGER NOT NULL DEFAULT 0,
    signup_email TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS one_time_codes (
    id TEXT PRIMARY KEY,
    auth_request_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    consumed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS auth_codes (
    code_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    nonce TEXT,
    scope TEXT NOT NULL,
    claims TEXT,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    auth_time REAL NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    redeemed_at REAL,
    max_age INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time REAL NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code TEXT NOT NULL,
    subject TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ca_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    target_app_id TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    UNIQUE (tenant_id, target_app_id)
);
CREATE TABLE IF NOT EXISTS auth_contexts (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    is_available INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS ca_context_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    context_id TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    UNIQUE (tenant_id, context_id)
);
CREATE TABLE IF NOT EXISTS client_certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL REFERENCES apps(app_id),
    certificate_pem TEXT NOT NULL,
    sha1_thumbprint TEXT NOT NULL,
    sha256_thumbprint TEXT NOT NULL,
    not_before REAL NOT NULL,
    not_after REAL NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (app_id, sha256_thumbprint)
);
CREATE TABLE IF NOT EXISTS user_flows (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL COLLATE NOCASE,
    document TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (tenant_id, display_name)
);
CREATE TABLE IF NOT EXISTS user_flow_apps (
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL COLLATE NOCASE,
    flow_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, app_id)
);
CREATE TABLE IF NOT EXISTS user_flow_attributes (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL COLLATE NOCASE,
    display_name TEXT NOT NULL COLLATE NOCASE,
    description TEXT NOT NULL,
    data_type TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS user_extension_values (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
"""


# Columns added after the first release: an instance folder created before gets them on open.
# Columns added since the first release; an instance folder from before gains them when opened.
_ADDED_COLUMNS = (
    ("users", "city", "TEXT"),
    ("users", "country", "TEXT"),
    ("users", "postal_code", "TEXT"),
    ("users", "state", "TEXT"),
    ("users", "street_address", "TEXT"),
    ("users", "failed_mfa_codes", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "mfa_locked_until", "REAL NOT NULL DEFAULT 0"),
    ("auth_codes", "max_age", "INTEGER"),
    ("auth_requests", "reset_email", "TEXT"),
    ("auth_requests", "reset_verified", "INTEGER NOT NULL DEFAULT 0"),
    ("auth_requests", "otp_email", "TEXT"),
    ("users", "mfa_phone", "TEXT"),
)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Tenant:
    id: str
    subdomain: str
    display_name: str

    @property
    def domain(self) -> str:
        return f"{self.subdomain}.onmicrosoft.com"


@dataclass(frozen=True)
class AppRegistration:
    app_id: str
    tenant_id: str
    display_name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    exposed_scopes: list[str]
    access_token_version: int

    @property
    def identifier_uri(self) -> str:
        return f"api://{self.app_id}"


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    email: str
    display_name: str
    given_name: str | None
    surname: str | None
    mail: str | None
    job_title: str | None
    mobile_phone: str | None
    office_location: str | None
    preferred_language: str | None
    business_phones: list[str]
    city: str | None
    country: str | None
    postal_code: str | None
    state: str | None
    street_address: str | None
    mfa_email_confirmed: bool
    failed_sign_ins: int
    locked_until: float
    refresh_tokens_valid_after: float
    password_salt: bytes = field(repr=False)
    password_hash: bytes = field(repr=False)
    # Wrong MFA codes since the last right one or lockout, and the end of an MFA lockout.
    failed_mfa_codes: int = 0
    mfa_locked_until: float = 0.0
    # The phone registered for SMS as the MFA method (an authentication method, not mobilePhone).
    mfa_phone: str | None = None


@dataclass(frozen=True)
class SsoSession:
    id: str
    tenant_id: str
    user_id: str
    auth_time: float
    mfa_time: float | None


@dataclass(frozen=True)
class AuthRequest:
    """A validated /authorize request kept server-side while the user walks the hosted pages."""

    id: str
    tenant_id: str
    client_id: str
    params: dict[str, Any]
    session_id: str | None
    login_done: bool
    signup_email: str | None
    expires_at: float
    # Password reset: the email typed on the reset page, and whether its emailed code was entered.
    reset_email: str | None = None
    reset_verified: bool = False
    # One-time-passcode sign-in: the email a sign-in code was sent to.
    otp_email: str | None = None


@dataclass(frozen=True)
class AuthCode:
    tenant_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    scope: str
    claims: str | None
    session_id: str
    user_id: str
    auth_time: float
    expires_at: float
    redeemed_at: float | None
    # The authorize request's max_age (None when it sent none): the ID token then carries auth_time.
    max_age: int | None


@dataclass(frozen=True)
class RefreshToken:
    tenant_id: str
    client_id: str
    user_id: str
    session_id: str
    scope: str
    auth_time: float
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    tenant_id: str
    to: str
    purpose: str
    code: str
    subject: str
    sent_at: float


@dataclass(frozen=True)
class ConditionalAccessPolicy:
    id: str
    tenant_id: str
    display_name: str
    target_app_id: str
    enabled: bool


@dataclass(frozen=True)
class AuthContext:
    """A conditional-access authentication context (Graph's authenticationContextClassReference)."""

    tenant_id: str
    id: str
    display_name: str
    description: str | None
    is_available: bool


@dataclass(frozen=True)
class ContextPolicy:
    """A conditional-access policy whose target is an authentication context; its grant control is MFA."""

    id: str
    tenant_id: str
    display_name: str
    context_id: str
    enabled: bool


@dataclass(frozen=True)
class ClientCertificate:
    """A certificate credential (Entra's keyCredentials): only the public part, as uploaded."""

    app_id: str
    certificate_pem: str
    sha1_thumbprint: str  # upper-case hex, as Entra shows thumbprints
    sha256_thumbprint: str
    not_before: float
    not_after: float


class OneTimeCodeResult:
    """Outcomes of checking a one-time code."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    MISSING = "missing"
    # The user entered too many wrong codes (whichever codes) and is locked out for a while.
    LOCKED_OUT = "locked_out"


_USER_COLUMNS = (
    "id, tenant_id, email, display_name, given_name, surname, mail, job_title, mobile_phone, "
    "office_location, preferred_language, business_phones, city, country, postal_code, state, street_address, "
    "mfa_email_confirmed, failed_sign_ins, locked_until, refresh_tokens_valid_after, password_salt, password_hash, "
    "failed_mfa_codes, mfa_locked_until, mfa_phone"
)

# Graph property name -> users column, for the profile fields PATCH /me may change.
USER_PROFILE_COLUMNS = {
    "displayName": "display_name",
    "givenName": "given_name",
    "surname": "surname",
    "mail": "mail",
    "jobTitle": "job_title",
    "mobilePhone": "mobile_phone",
    "officeLocation": "office_location",
    "preferredLanguage": "preferred_language",
    "businessPhones": "business_phones",
    "city": "city",
    "country": "country",
    "postalCode": "postal_code",
    "state": "state",
    "streetAddress": "street_address",
}

# Columns added to `users` after the first release, with their SQL types. An instance folder made
# by an older emulator (`make run` keeps `instance/`) gets them on open; existing users read null.
class Store:
    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        first_time = not self.db_path.exists()
        # executescript manages its own transaction; every statement is idempotent.
        self.connection().executescript(_SCHEMA)
        self._add_missing_columns()
        if first_time:
            os.chmod(self.db_path, 0o600)

    def _add_missing_columns(self) -> None:
        conn = self.connection()
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                except sqlite3.OperationalError as problem:
                    # Another process opening the same file added it first.
                    if "duplicate column" not in str(problem):
                        raise

    # --- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # autocommit mode: single statements commit at once, transaction() groups several.
            conn = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close_thread_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        return self.connection().execute(sql, params).fetchone()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.connection().execute(sql, params).rowcount

    # --- tenants -----------------------------------------------------------------------

    def create_tenant(self, subdomain: str, display_name: str) -> Tenant:
        tenant = Tenant(id=new_guid(), subdomain=subdomain.lower(), display_name=display_name)
        self._execute(
            "INSERT INTO tenants (id, subdomain, display_name, created_at) VALUES (?, ?, ?, ?)",
            (tenant.id, tenant.subdomain, tenant.display_name, time.time()),
        )
        return tenant

    def find_tenant(self, segment: str) -> Tenant | None:
        """Resolve a path's tenant segment: the tenant GUID or ``{subdomain}.onmicrosoft.com``."""
        segment = segment.strip().lower()
        row = self._one("SELECT * FROM tenants WHERE lower(id) = ?", (segment,))
        if row is None and segment.endswith(".onmicrosoft.com"):
            row = self._one("SELECT * FROM tenants WHERE subdomain = ?", (segment.removesuffix(".onmicrosoft.com"),))
        return _tenant(row) if row else None

    def find_tenant_by_subdomain(self, subdomain: str) -> Tenant | None:
        row = self._one("SELECT * FROM tenants WHERE subdomain = ?", (subdomain.lower(),))
        return _tenant(row) if row else None

    def get_tenant(self, tenant_id: str) -> Tenant:
        row = self._one("SELECT * FROM tenants WHERE id = ?", (tenant_id,))
        if row is None:
            raise KeyError(tenant_id)
        return _tenant(row)

    def list_tenants(self) -> list[Tenant]:
        return [_tenant(row) for row in self.connection().execute("SELECT * FROM tenants ORDER BY created_at")]

    # --- app registrations ---------------------------------------------------------------

    def create_app(
        self,
        tenant_id: str,
        display_name: str,
        *,
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        exposed_scopes: list[str] | None = None,
        access_token_version: int = 2,
    ) -> AppRegistration:
        app = AppRegistration(
            app_id=new_guid(),
            tenant_id=tenant_id,
            display_name=display_name,
            redirect_uris=list(redirect_uris or []),
            post_logout_redirect_uris=list(post_logout_redirect_uris or []),
            exposed_scopes=list(exposed_scopes or []),
            access_token_version=access_token_version,
        )
        self._execute(
            "INSERT INTO apps (app_id, tenant_id, display_name, redirect_uris, post_logout_redirect_uris, "
            "exposed_scopes, access_token_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                app.app_id,
                tenant_id,
                display_name,
                json.dumps(app.redirect_uris),
                json.dumps(app.post_logout_redirect_uris),
                json.dumps(app.exposed_scopes),
                access_token_version,
                time.time(),
            ),
        )
        return app

    def update_app_uris(self, app_id: str, redirect_uris: list[str], post_logout_redirect_uris: list[str]) -> None:
        self._execute(
            "UPDATE apps SET redirect_uris = ?, post_logout_redirect_uris = ? WHERE app_id = ?",
            (json.dumps(redirect_uris), json.dumps(post_logout_redirect_uris), app_id),
        )

    def rename_app(self, app_id: str, display_name: str) -> None:
        """Change an app registration's display name (the name customers see on hosted pages)."""
        self._execute("UPDATE apps SET display_name = ? WHERE app_id = ?", (display_name, app_id))

    def find_app(self, tenant_id: str, app_id: str) -> AppRegistration | None:
        row = self._one(
            "SELECT * FROM apps WHERE tenant_id = ? AND lower(app_id) = ?", (tenant_id, app_id.strip().lower())
        )
        return _app(row) if row else None

    def find_app_by_name(self, tenant_id: str, display_name: str) -> AppRegistration | None:
        row = self._one("SELECT * FROM apps WHERE tenant_id = ? AND display_name = ?", (tenant_id, display_name))
        return _app(row) if row else None

    def list_apps(self, tenant_id: str) -> list[AppRegistration]:
        rows = self.connection().execute("SELECT * FROM apps WHERE tenant_id = ? ORDER BY created_at", (tenant_id,))
        return [_app(row) for row in rows]

    def update_app_api(self, app_id: str, exposed_scopes: list[str], access_token_version: int) -> None:
        """Set what an app exposes as an API (Graph's api.oauth2PermissionScopes and token version)."""
        self._execute(
            "UPDATE apps SET exposed_scopes = ?, access_token_version = ? WHERE app_id = ?",
            (json.dumps(exposed_scopes), access_token_version, app_id),
        )

    def add_client_secret(self, app_id: str) -> str:
        """Create a new client secret and return its plaintext (the only time it exists)."""
        # Same shape as Entra secrets (3 chars, "8Q~", 34 chars), including '~' and '.', which
        # clients must URL-encode for client_secret_basic.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-"
        body = "".join(secrets.choice(alphabet) for _ in range(37))
        secret = f"{body[:3]}8Q~{body[3:]}"
        self._execute(
            "INSERT INTO client_secrets (app_id, secret_hash, hint, created_at) VALUES (?, ?, ?, ?)",
            (app_id, sha256_hex(secret), secret[:3], time.time()),
        )
        return secret

    def has_client_secret(self, app_id: str) -> bool:
        return self._one("SELECT 1 FROM client_secrets WHERE app_id = ?", (app_id,)) is not None

    def client_secret_matches(self, app_id: str, secret: str) -> bool:
        row = self._one(
            "SELECT 1 FROM client_secrets WHERE app_id = ? AND secret_hash = ?", (app_id, sha256_hex(secret))
        )
        return row is not None

    def add_client_certificate(self, certificate: ClientCertificate) -> None:
        """Register a certificate credential; registering the same certificate again changes nothing."""
        self._execute(
            "INSERT OR IGNORE INTO client_certificates (app_id, certificate_pem, sha1_thumbprint, sha256_thumbprint, "
            "not_before, not_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                certificate.app_id,
                certificate.certificate_pem,
                certificate.sha1_thumbprint,
                certificate.sha256_thumbprint,
                certificate.not_before,
                certificate.not_after,
                time.time(),
            ),
        )

    def client_certificates(self, app_id: str) -> list[ClientCertificate]:
        rows = self.connection().execute(
            "SELECT app_id, certificate_pem, sha1_thumbprint, sha256_thumbprint, not_before, not_after "
            "FROM client_certificates WHERE app_id = ? ORDER BY id",
            (app_id,),
        )
        return [ClientCertificate(**dict(row)) for row in rows]

    # --- users ---------------------------------------------------------------------------

    def create_user(
        self,
        tenant_id: str,
        email: str,
        password: str,
        display_name: str,
        *,
        given_name: str | None = None,
        surname: str | None = None,
    ) -> User:
        salt, password_hash = passwords.hash_password(password)
        user_id = new_guid()
        email = email.strip()
        self._execute(
            "INSERT INTO users (id, tenant_id, email, display_name, given_name, surname, mail, "
            "password_salt, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (user_id, tenant_id, email, display_name, given_name, surname, email, salt, password_hash, time.time()),
        )
        user = self.get_user(user_id)
        assert user is not None
        return user

    def get_user(self, user_id: str) -> User | None:
        row = self._one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))  # noqa: S608
        return _user(row) if row else None

    def find_user_by_email(self, tenant_id: str, email: str) -> User | None:
        row = self._one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE tenant_id = ? AND email = ?",  # noqa: S608
            (tenant_id, email.strip()),
        )
        return _user(row) if row else None

    def record_failed_sign_in(self, user_id: str, now: float) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE users SET failed_sign_ins = failed_sign_ins + 1 WHERE id = ?", (user_id,))
            conn.execute(
                "UPDATE users SET locked_until = ?, failed_sign_ins = 0 WHERE id = ? AND failed_sign_ins >= ?",
                (now + LOCKOUT_SECONDS, user_id, LOCKOUT_THRESHOLD),
            )

    def record_successful_sign_in(self, user_id: str) -> None:
        self._execute("UPDATE users SET failed_sign_ins = 0, locked_until = 0 WHERE id = ?", (user_id,))

    def set_mfa_phone(self, user_id: str, phone: str) -> None:
        self._execute("UPDATE users SET mfa_phone = ? WHERE id = ?", (phone, user_id))

    def set_mfa_email_confirmed(self, user_id: str) -> None:
        self._execute("UPDATE users SET mfa_email_confirmed = 1 WHERE id = ?", (user_id,))

    def update_user_profile(self, user_id: str, changes: dict[str, Any]) -> None:
        """Apply Graph-named profile changes (keys of USER_PROFILE_COLUMNS)."""
        if not changes:
            return
        assignments = []
        values: list[Any] = []
        for graph_name, value in changes.items():
            column = USER_PROFILE_COLUMNS[graph_name]
            assignments.append(f"{column} = ?")
            values.append(json.dumps(value or []) if column == "business_phones" else value)
        values.append(user_id)
        self._execute(f"UPDATE users SET {', '.join(assignments)} WHERE id = ?", tuple(values))  # noqa: S608

    def reset_password(self, user_id: str, password: str) -> None:
        """Set a new password and end the user's tenant sign-in sessions (SSO cookies stop working).

        Smart lockout's count starts again: the user proved control of the mailbox."""
        salt, password_hash = passwords.hash_password(password)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_salt = ?, password_hash = ?, failed_sign_ins = 0, locked_until = 0 "
                "WHERE id = ?",
                (salt, password_hash, user_id),
            )
            conn.execute("DELETE FROM sso_sessions WHERE user_id = ?", (user_id,))

    def extension_values(self, user_id: str) -> dict[str, Any]:
        rows = self.connection().execute("SELECT name, value FROM user_extension_values WHERE user_id = ?", (user_id,))
        return {row["name"]: json.loads(row["value"]) for row in rows}

    def set_extension_values(self, user_id: str, values: dict[str, Any]) -> None:
        with self.transaction() as conn:
            for name, value in values.items():
                conn.execute(
                    "INSERT INTO user_extension_values (user_id, name, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value",
                    (user_id, name, json.dumps(value)),
                )

    def revoke_refresh_tokens(self, user_id: str, now: float) -> None:
        """Invalidate every refresh token issued to the user so far (like revokeSignInSessions)."""
        self._execute("UPDATE users SET refresh_tokens_valid_after = ? WHERE id = ?", (now, user_id))

    # --- SSO sessions --------------------------------------------------------------------

    def create_sso_session(self, tenant_id: str, user_id: str, now: float) -> tuple[SsoSession, str]:
        """Return the session and the cookie value that refers to it."""
        cookie_value = secrets.token_urlsafe(32)
        session = SsoSession(id=new_guid(), tenant_id=tenant_id, user_id=user_id, auth_time=now, mfa_time=None)
        self._execute(
            "INSERT INTO sso_sessions (id, cookie_hash, tenant_id, user_id, auth_time, mfa_time, created_at) "
            "VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (session.id, sha256_hex(cookie_value), tenant_id, user_id, now, now),
        )
        return session, cookie_value

    def find_sso_session_by_cookie(self, cookie_value: str) -> SsoSession | None:
        row = self._one("SELECT * FROM sso_sessions WHERE cookie_hash = ?", (sha256_hex(cookie_value),))
        return _session(row) if row else None

    def get_sso_session(self, session_id: str) -> SsoSession | None:
        row = self._one("SELECT * FROM sso_sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    def record_mfa(self, session_id: str, now: float) -> None:
        self._execute("UPDATE sso_sessions SET mfa_time = ? WHERE id = ?", (now, session_id))

    def delete_sso_session(self, session_id: str) -> None:
        self._execute("DELETE FROM sso_sessions WHERE id = ?", (session_id,))

    # --- authorization requests -----------------------------------------------------------

    def create_auth_request(
        self, tenant_id: str, client_id: str, params: dict[str, Any], session_id: str | None, now: float
    ) -> AuthRequest:
        request_id = secrets.token_urlsafe(24)
        # Abandoned sign-ins are forgotten lazily, an hour after they expire.
        with self.transaction() as conn:
            conn.execute("DELETE FROM auth_requests WHERE expires_at < ?", (now - 3600,))
            conn.execute("DELETE FROM one_time_codes WHERE auth_request_id NOT IN (SELECT id FROM auth_requests)")
        self._execute(
            "INSERT INTO auth_requests (id, tenant_id, client_id, params, session_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                tenant_id,
                client_id,
                json.dumps(params),
                session_id,
                now,
                now + AUTH_REQUEST_LIFETIME_SECONDS,
            ),
        )
        found = self.get_auth_request(request_id)
        assert found is not None
        return found

    def get_auth_request(self, request_id: str) -> AuthRequest | None:
        row = self._one("SELECT * FROM auth_requests WHERE id = ?", (request_id,))
        if row is None:
            return None
        return AuthRequest(
            id=row["id"],
            tenant_id=row["tenant_id"],
            client_id=row["client_id"],
            params=json.loads(row["params"]),
            session_id=row["session_id"],
            login_done=bool(row["login_done"]),
            signup_email=row["signup_email"],
            expires_at=row["expires_at"],
            reset_email=row["reset_email"],
            reset_verified=bool(row["reset_verified"]),
            otp_email=row["otp_email"],
        )

    def mark_auth_request_signed_in(self, request_id: str, session_id: str) -> None:
        self._execute("UPDATE auth_requests SET session_id = ?, login_done = 1 WHERE id = ?", (session_id, request_id))

    def set_auth_request_signup_email(self, request_id: str, email: str) -> None:
        self._execute("UPDATE auth_requests SET signup_email = ? WHERE id = ?", (email, request_id))

    def set_auth_request_reset(self, request_id: str, email: str | None, verified: bool) -> None:
        self._execute(
            "UPDATE auth_requests SET reset_email = ?, reset_verified = ? WHERE id = ?",
            (email, int(verified), request_id),
        )

    def set_auth_request_otp_email(self, request_id: str, email: str) -> None:
        self._execute("UPDATE auth_requests SET otp_email = ? WHERE id = ?", (email, request_id))

    def delete_auth_request(self, request_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM auth_requests WHERE id = ?", (request_id,))
            conn.execute("DELETE FROM one_time_codes WHERE auth_request_id = ?", (request_id,))

    # --- one-time codes (sign-up verification, MFA) ---------------------------------------

    def issue_one_time_code(self, auth_request_id: str, purpose: str, email: str, now: float) -> str:
        """Create a fresh 8-digit code, replacing earlier ones for the same request and purpose."""
        code = f"{secrets.randbelow(10**8):08d}"
        code_id = new_guid()
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM one_time_codes WHERE auth_request_id = ? AND purpose = ?", (auth_request_id, purpose)
            )
            conn.execute(
                "INSERT INTO one_time_codes (id, auth_request_id, purpose, email, code_hash, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (code_id, auth_request_id, purpose, email, sha256_hex(f"{code_id}:{code}"), now + OTP_LIFETIME_SECONDS),
            )
        return code

    def check_one_time_code(
        self, auth_request_id: str, purpose: str, email: str, code: str, now: float, *, user_id: str | None = None
    ) -> str:
        """Check a code; returns a OneTimeCodeResult value. A correct code is consumed.

        With ``user_id`` (MFA) wrong codes also count against the user, across codes: at
        MFA_LOCKOUT_THRESHOLD the user is locked out of MFA for MFA_LOCKOUT_SECONDS, right code or not.
        """
        with self.transaction() as conn:
            if user_id is not None:
                locked = conn.execute("SELECT mfa_locked_until FROM users WHERE id = ?", (user_id,)).fetchone()
                if locked is not None and locked["mfa_locked_until"] > now:
                    return OneTimeCodeResult.LOCKED_OUT
            row = conn.execute(
                "SELECT * FROM one_time_codes WHERE auth_request_id = ? AND purpose = ? AND consumed = 0",
                (auth_request_id, purpose),
            ).fetchone()
            if row is None or row["email"].lower() != email.lower():
                return OneTimeCodeResult.MISSING
            if row["attempts"] >= OTP_MAX_ATTEMPTS:
                return OneTimeCodeResult.TOO_MANY_ATTEMPTS
            if row["expires_at"] <= now:
                return OneTimeCodeResult.EXPIRED
            if sha256_hex(f"{row['id']}:{code.strip()}") != row["code_hash"]:
                conn.execute("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = ?", (row["id"],))
                if user_id is not None and self._count_wrong_mfa_code(conn, user_id, now):
                    return OneTimeCodeResult.LOCKED_OUT
                if row["attempts"] + 1 >= OTP_MAX_ATTEMPTS:
                    return OneTimeCodeResult.TOO_MANY_ATTEMPTS
                return OneTimeCodeResult.WRONG
            conn.execute("UPDATE one_time_codes SET consumed = 1 WHERE id = ?", (row["id"],))
            if user_id is not None:
                conn.execute("UPDATE users SET failed_mfa_codes = 0 WHERE id = ?", (user_id,))
            return OneTimeCodeResult.OK

    @staticmethod
    def _count_wrong_mfa_code(conn: sqlite3.Connection, user_id: str, now: float) -> bool:
        """Count one wrong MFA code against the user; True when that locks the user out."""
        conn.execute("UPDATE users SET failed_mfa_codes = failed_mfa_codes + 1 WHERE id = ?", (user_id,))
        locked = conn.execute(
            "UPDATE users SET mfa_locked_until = ?, failed_mfa_codes = 0 WHERE id = ? AND failed_mfa_codes >= ?",
            (now + MFA_LOCKOUT_SECONDS, user_id, MFA_LOCKOUT_THRESHOLD),
        ).rowcount
        return locked == 1

    def expire_one_time_codes_for_tests(self, now: float) -> None:
        """Make every outstanding one-time code expired (tests of expiry)."""
        self._execute("UPDATE one_time_codes SET expires_at = ? WHERE consumed = 0", (now - 1,))

    def end_mfa_lockout_for_tests(self, user_id: str, now: float) -> None:
        """Make a running MFA lockout end now (tests of what happens after it)."""
        self._execute(
            "UPDATE users SET mfa_locked_until = ? WHERE id = ? AND mfa_locked_until > ?", (now - 1, user_id, now)
        )

    # --- authorization codes ---------------------------------------------------------------

    def create_auth_code(
        self,
        *,
        tenant_id: str,
        client_id: str,
        redirect_uri: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        nonce: str | None,
        scope: str,
        claims: str | None,
        session_id: str,
        user_id: str,
        auth_time: float,
        now: float,
        max_age: int | None = None,
    ) -> str:
        code = secrets.token_urlsafe(48)
        self._execute(
            "INSERT INTO auth_codes (code_hash, tenant_id, client_id, redirect_uri, code_challenge, "
            "code_challenge_method, nonce, scope, claims, session_id, user_id, auth_time, created_at, expires_at, "
            "max_age) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sha256_hex(code),
                tenant_id,
                client_id,
                redirect_uri,
                code_challenge,
                code_challenge_method,
                nonce,
                scope,
                claims,
                session_id,
                user_id,
                auth_time,
                now,
                now + AUTH_CODE_LIFETIME_SECONDS,
                max_age,
            ),
        )
        return code

    def find_auth_code(self, code: str) -> AuthCode | None:
        row = self._one("SELECT * FROM auth_codes WHERE code_hash = ?", (sha256_hex(code),))
        if row is None:
            return None
        return AuthCode(**{name: row[name] for name in AuthCode.__dataclass_fields__})

    def redeem_auth_code(self, code: str, now: float) -> bool:
        """Mark the code used; False if somebody else redeemed it first (single use)."""
        changed = self._execute(
            "UPDATE auth_codes SET redeemed_at = ? WHERE code_hash = ? AND redeemed_at IS NULL",
            (now, sha256_hex(code)),
        )
        return changed == 1

    def expire_auth_codes_for_tests(self, now: float) -> None:
        """Make every outstanding code expired (used by tests of AADSTS70008)."""
        self._execute("UPDATE auth_codes SET expires_at = ? WHERE redeemed_at IS NULL", (now - 1,))

    # --- refresh tokens ----------------------------------------------------------------------

    def create_refresh_token(
        self,
        *,
        tenant_id: str,
        client_id: str,
        user_id: str,
        session_id: str,
        scope: str,
        auth_time: float,
        now: float,
    ) -> str:
        token = secrets.token_urlsafe(64)
        self._execute(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, client_id, user_id, session_id, scope, auth_time, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sha256_hex(token),
                tenant_id,
                client_id,
                user_id,
                session_id,
                scope,
                auth_time,
                now,
                now + REFRESH_TOKEN_LIFETIME_SECONDS,
            ),
        )
        return token

    def find_refresh_token(self, token: str) -> RefreshToken | None:
        row = self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (sha256_hex(token),))
        if row is None:
            return None
        return RefreshToken(**{name: row[name] for name in RefreshToken.__dataclass_fields__})

    # --- outbox --------------------------------------------------------------------------------

    def add_outbox_message(self, tenant_id: str, to: str, purpose: str, code: str, subject: str, now: float) -> int:
        cursor = self.connection().execute(
            "INSERT INTO outbox (tenant_id, to_address, purpose, code, subject, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
            (tenant_id, to, purpose, code, subject, now),
        )
        return int(cursor.lastrowid or 0)

    def list_outbox(self, to: str | None = None) -> list[OutboxMessage]:
        if to:
            rows = self.connection().execute(
                "SELECT * FROM outbox WHERE to_address = ? COLLATE NOCASE ORDER BY id DESC", (to.strip(),)
            )
        else:
            rows = self.connection().execute("SELECT * FROM outbox ORDER BY id DESC")
        return [
            OutboxMessage(
                id=row["id"],
                tenant_id=row["tenant_id"],
                to=row["to_address"],
                purpose=row["purpose"],
                code=row["code"],
                subject=row["subject"],
                sent_at=row["sent_at"],
            )
            for row in rows
        ]

    # --- tenant settings ---------------------------------------------------------------------------

    def tenant_setting(self, tenant_id: str, name: str, default: Any = None) -> Any:
        row = self._one("SELECT value FROM tenant_settings WHERE tenant_id = ? AND name = ?", (tenant_id, name))
        return json.loads(row["value"]) if row else default

    def set_tenant_setting(self, tenant_id: str, name: str, value: Any) -> None:
        self._execute(
            "INSERT INTO tenant_settings (tenant_id, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value",
            (tenant_id, name, json.dumps(value)),
        )

    # --- user flows (each a Graph externalUsersSelfServiceSignUpEventsFlow document) ----------------

    def create_user_flow(self, tenant_id: str, document: dict[str, Any]) -> bool:
        """Insert a flow; False when its displayName is taken in the tenant."""
        try:
            self._execute(
                "INSERT INTO user_flows (id, tenant_id, display_name, document, created_at) VALUES (?, ?, ?, ?, ?)",
                (document["id"], tenant_id, document["displayName"], json.dumps(document), time.time()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def replace_user_flow(self, tenant_id: str, document: dict[str, Any]) -> bool:
        try:
            self._execute(
                "UPDATE user_flows SET display_name = ?, document = ? WHERE tenant_id = ? AND id = ?",
                (document["displayName"], json.dumps(document), tenant_id, document["id"]),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def get_user_flow(self, tenant_id: str, flow_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT document FROM user_flows WHERE tenant_id = ? AND lower(id) = ?", (tenant_id, flow_id.lower())
        )
        return json.loads(row["document"]) if row else None

    def list_user_flows(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = self.connection().execute(
            "SELECT document FROM user_flows WHERE tenant_id = ? ORDER BY created_at", (tenant_id,)
        )
        return [json.loads(row["document"]) for row in rows]

    def delete_user_flow(self, tenant_id: str, flow_id: str) -> bool:
        with self.transaction() as conn:
            removed = conn.execute(
                "DELETE FROM user_flows WHERE tenant_id = ? AND id = ?", (tenant_id, flow_id)
            ).rowcount
            conn.execute("DELETE FROM user_flow_apps WHERE tenant_id = ? AND flow_id = ?", (tenant_id, flow_id))
        return removed > 0

    def link_app_to_flow(self, tenant_id: str, app_id: str, flow_id: str) -> str | None:
        """Link an app; returns the id of the flow it was already linked to (None: linked now)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT flow_id FROM user_flow_apps WHERE tenant_id = ? AND app_id = ?", (tenant_id, app_id)
            ).fetchone()
            if row is not None:
                return str(row["flow_id"])
            conn.execute(
                "INSERT INTO user_flow_apps (tenant_id, app_id, flow_id) VALUES (?, ?, ?)", (tenant_id, app_id, flow_id)
            )
        return None

    def unlink_app(self, tenant_id: str, app_id: str) -> None:
        self._execute("DELETE FROM user_flow_apps WHERE tenant_id = ? AND app_id = ?", (tenant_id, app_id))

    def flow_app_ids(self, tenant_id: str, flow_id: str) -> list[str]:
        rows = self.connection().execute(
            "SELECT app_id FROM user_flow_apps WHERE tenant_id = ? AND flow_id = ? ORDER BY app_id",
            (tenant_id, flow_id),
        )
        return [row["app_id"] for row in rows]

    def flow_for_app(self, tenant_id: str, app_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT f.document FROM user_flow_apps a JOIN user_flows f ON f.id = a.flow_id "
            "WHERE a.tenant_id = ? AND a.app_id = ?",
            (tenant_id, app_id),
        )
        return json.loads(row["document"]) if row else None

    # --- custom user attributes (Graph identityUserFlowAttribute) ------------------------------------

    def create_user_flow_attribute(
        self, tenant_id: str, attribute_id: str, display_name: str, description: str, data_type: str
    ) -> bool:
        """False when an attribute with that name exists."""
        try:
            self._execute(
                "INSERT INTO user_flow_attributes (tenant_id, id, display_name, description, data_type) "
                "VALUES (?, ?, ?, ?, ?)",
                (tenant_id, attribute_id, display_name, description, data_type),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def list_user_flow_attributes(self, tenant_id: str) -> list[dict[str, str]]:
        rows = self.connection().execute(
            "SELECT id, display_name, description, data_type FROM user_flow_attributes WHERE tenant_id = ? ORDER BY id",
            (tenant_id,),
        )
        return [dict(row) for row in rows]

    # --- conditional access ------------------------------------------------------------------------

    def upsert_ca_policy(self, tenant_id: str, display_name: str, target_app_id: str, enabled: bool) -> None:
        self._execute(
            "INSERT INTO ca_policies (id, tenant_id, display_name, target_app_id, enabled) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, target_app_id) DO NOTHING",
            (new_guid(), tenant_id, display_name, target_app_id, int(enabled)),
        )

    def ca_policy_for_app(self, tenant_id: str, app_id: str) -> ConditionalAccessPolicy | None:
        row = self._one("SELECT * FROM ca_policies WHERE tenant_id = ? AND target_app_id = ?", (tenant_id, app_id))
        if row is None:
            return None
        return ConditionalAccessPolicy(
            id=row["id"],
            tenant_id=row["tenant_id"],
            display_name=row["display_name"],
            target_app_id=row["target_app_id"],
            enabled=bool(row["enabled"]),
        )

    def list_ca_policies(self, tenant_id: str) -> list[ConditionalAccessPolicy]:
        rows = self.connection().execute("SELECT * FROM ca_policies WHERE tenant_id = ?", (tenant_id,))
        return [
            ConditionalAccessPolicy(
                id=row["id"],
                tenant_id=row["tenant_id"],
                display_name=row["display_name"],
                target_app_id=row["target_app_id"],
                enabled=bool(row["enabled"]),
            )
            for row in rows
        ]

    def set_all_ca_policies_enabled(self, enabled: bool) -> None:
        """Switch the policies that target apps (not those on authentication contexts)."""
        self._execute("UPDATE ca_policies SET enabled = ?", (int(enabled),))

    def delete_ca_policy(self, tenant_id: str, policy_id: str) -> bool:
        with self.transaction() as conn:
            removed = conn.execute(
                "DELETE FROM ca_policies WHERE tenant_id = ? AND lower(id) = ?", (tenant_id, policy_id.lower())
            ).rowcount
            removed += conn.execute(
                "DELETE FROM ca_context_policies WHERE tenant_id = ? AND lower(id) = ?", (tenant_id, policy_id.lower())
            ).rowcount
        return removed > 0

    # --- authentication contexts and the policies on them ----------------------------------------

    def upsert_auth_context(
        self, tenant_id: str, context_id: str, display_name: str, description: str | None, is_available: bool
    ) -> bool:
        """Create or replace a context; True when it was created."""
        with self.transaction() as conn:
            existed = conn.execute(
                "SELECT 1 FROM auth_contexts WHERE tenant_id = ? AND id = ?", (tenant_id, context_id)
            ).fetchone()
            conn.execute(
                "INSERT INTO auth_contexts (tenant_id, id, display_name, description, is_available) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "display_name = excluded.display_name, description = excluded.description, "
                "is_available = excluded.is_available",
                (tenant_id, context_id, display_name, description, int(is_available)),
            )
        return existed is None

    def get_auth_context(self, tenant_id: str, context_id: str) -> AuthContext | None:
        row = self._one("SELECT * FROM auth_contexts WHERE tenant_id = ? AND id = ?", (tenant_id, context_id))
        return _auth_context(row) if row else None

    def list_auth_contexts(self, tenant_id: str) -> list[AuthContext]:
        rows = self.connection().execute("SELECT * FROM auth_contexts WHERE tenant_id = ? ORDER BY id", (tenant_id,))
        return [_auth_context(row) for row in rows]

    def upsert_context_policy(self, tenant_id: str, display_name: str, context_id: str, enabled: bool) -> None:
        self._execute(
            "INSERT INTO ca_context_policies (id, tenant_id, display_name, context_id, enabled) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, context_id) DO NOTHING",
            (new_guid(), tenant_id, display_name, context_id, int(enabled)),
        )

    def context_policy_for(self, tenant_id: str, context_id: str) -> ContextPolicy | None:
        row = self._one(
            "SELECT * FROM ca_context_policies WHERE tenant_id = ? AND context_id = ?", (tenant_id, context_id)
        )
        return _context_policy(row) if row else None

    def list_context_policies(self, tenant_id: str) -> list[ContextPolicy]:
        rows = self.connection().execute("SELECT * FROM ca_context_policies WHERE tenant_id = ?", (tenant_id,))
        return [_context_policy(row) for row in rows]


def _auth_context(row: sqlite3.Row) -> AuthContext:
    return AuthContext(
        tenant_id=row["tenant_id"],
        id=row["id"],
        display_name=row["display_name"],
        description=row["description"],
        is_available=bool(row["is_available"]),
    )


def _context_policy(row: sqlite3.Row) -> ContextPolicy:
    return ContextPolicy(
        id=row["id"],
        tenant_id=row["tenant_id"],
        display_name=row["display_name"],
        context_id=row["context_id"],
        enabled=bool(row["enabled"]),
    )


def _tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(id=row["id"], subdomain=row["subdomain"], display_name=row["display_name"])


def _app(row: sqlite3.Row) -> AppRegistration:
    return AppRegistration(
        app_id=row["app_id"],
        tenant_id=row["tenant_id"],
        display_name=row["display_name"],
        redirect_uris=json.loads(row["redirect_uris"]),
        post_logout_redirect_uris=json.loads(row["post_logout_redirect_uris"]),
        exposed_scopes=json.loads(row["exposed_scopes"]),
        access_token_version=row["access_token_version"],
    )


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        display_name=row["display_name"],
        given_name=row["given_name"],
        surname=row["surname"],
        mail=row["mail"],
        job_title=row["job_title"],
        mobile_phone=row["mobile_phone"],
        office_location=row["office_location"],
        preferred_language=row["preferred_language"],
        business_phones=json.loads(row["business_phones"] or "[]"),
        city=row["city"],
        country=row["country"],
        postal_code=row["postal_code"],
        state=row["state"],
        street_address=row["street_address"],
        mfa_email_confirmed=bool(row["mfa_email_confirmed"]),
        failed_sign_ins=row["failed_sign_ins"],
        locked_until=row["locked_until"],
        refresh_tokens_valid_after=row["refresh_tokens_valid_after"],
        password_salt=row["password_salt"],
        password_hash=row["password_hash"],
        failed_mfa_codes=row["failed_mfa_codes"],
        mfa_locked_until=row["mfa_locked_until"],
        mfa_phone=row["mfa_phone"],
    )


def _session(row: sqlite3.Row) -> SsoSession:
    return SsoSession(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        auth_time=row["auth_time"],
        mfa_time=row["mfa_time"],
    )
