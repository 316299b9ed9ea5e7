"""The web app's one configuration object, read from the environment and an optional `.env` file.

Variable names follow Microsoft's Node sample (CLIENT_ID, CLIENT_SECRET, TENANT_SUBDOMAIN, AUTHORITY,
REDIRECT_URI, POST_LOGOUT_REDIRECT_URI) so that an existing app registration's settings carry over.
The app authenticates to the tenant with a client secret or, instead, a certificate
(CLIENT_CERTIFICATE_PATH, a PEM file with the private key and the certificate).
Everything is validated once, at start-up: a missing value or one of the sample's `Enter_the_...`
placeholders stops the app with a message naming the variable and how to fix it.

PROFILE_API_URL switches the profile edit to API mode: the mfa-app, a protected web API (`ciam_api`),
changes the profile through Graph on behalf of the customer, with the customer's `User.MFA` token; the
app itself then asks Graph only for `User.Read` and never holds a token that can write.

OIDC_ISSUER switches the app from Entra External ID to any standard OpenID Provider: sign-in, the
claims page and sign-out only, since the Graph profile and the MFA-gated edit exist only in Entra
(see `_generic_provider_settings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import limits

from ciam_core.client_certificate import ClientCertificate
from ciam_core.environment import ConfigError, EnvironmentReader, environment_values


@dataclass(frozen=True)
class Settings:
    client_id: str
    tenant_subdomain: str
    redirect_uri: str
    post_logout_redirect_uri: str
    secret_key: str = field(repr=False)
    mfa_scope: str
    # Exactly one of the two credentials is set (from_mapping enforces it).
    client_secret: str | None = field(default=None, repr=False)
    client_certificate_path: str | None = None
    client_certificate: ClientCertificate | None = field(default=None, repr=False)
    authority: str = ""
    tenant_id: str | None = None
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"
    graph_scopes: tuple[str, ...] = ("User.Read", "User.ReadWrite")
    ca_bundle: str | None = None
    # Outbound calls (tenant, Graph): seconds to connect, and to wait for each read (README, "Timeouts").
    http_connect_timeout: float = 3.0
    http_timeout: float = 5.0
    # Outbound calls in flight per process (the bulkhead); None: gunicorn's threads - 1 under
    # `ciam-webapp serve`, else ciam_core.outbound.DEFAULT_OUTBOUND_CALL_LIMIT.
    outbound_call_limit: int | None = None
    step_up_max_age: int = 600
    session_type: str = "embedded"
    session_dir: str = ""
    redis_url: str | None = None
    session_key_prefix: str = "ciam:s:"
    # Per client address, Flask-Limiter's notation; on Redis when sessions are, else in each process.
    sign_in_rate_limit: str = "20 per minute;200 per hour"
    rate_limit_storage_url: str | None = None
    session_lifetime: int = 8 * 3600
    session_idle_timeout: int = 3600
    token_cache_keys: tuple[str, ...] = field(default=(), repr=False)
    instance_dir: str = ""
    log_level: str = "INFO"
    trusted_proxies: int = 0
    # -- A generic OpenID Provider instead of Entra External ID (OIDC_ISSUER). When it is set,
    # tenant_subdomain and mfa_scope are empty and the Graph settings are unused.
    oidc_issuer: str | None = None
    oidc_scopes: tuple[str, ...] = ("email",)
    # -- API mode (PROFILE_API_URL): the edit goes to the mfa-app API with the MFA_SCOPE token.
    profile_api_url: str | None = None

    def __post_init__(self) -> None:
        if self.oidc_issuer:
            # MSAL's oidc_authority: it appends "/.well-known/openid-configuration" itself.
            object.__setattr__(self, "authority", self.oidc_issuer.rstrip("/"))
        elif not self.authority:
            # MSAL derives `{sub}.onmicrosoft.com` as the tenant of a path-less ciamlogin.com authority.
            object.__setattr__(self, "authority", f"https://{self.tenant_subdomain}.ciamlogin.com/")
        elif urlsplit(self.authority).path.strip("/"):
            # MSAL appends "/v2.0/..." to an authority with a tenant path; a trailing slash would double it.
            object.__setattr__(self, "authority", self.authority.rstrip("/"))

    def client_credential(self) -> str | dict[str, str]:
        """What MSAL's `client_credential` takes: the secret, or the certificate as PEM text."""
        if self.client_certificate is None:
            if not self.client_secret:
                raise ConfigError("set CLIENT_SECRET or CLIENT_CERTIFICATE_PATH")
            return self.client_secret
        # With the certificate MSAL signs with PS256 and sends its SHA-256 thumbprint (x5t#S256).
        return self.client_certificate.msal_credential()

    @property
    def uses_entra(self) -> bool:
        """Entra External ID (the default), or a generic OpenID Provider named by OIDC_ISSUER."""
        return self.oidc_issuer is None

    @property
    def sign_in_scopes(self) -> tuple[str, ...]:
        """Asked for at sign-in: Graph's (Entra), or OIDC_SCOPES; MSAL adds openid, profile, offline_access."""
        return self.graph_scopes if self.uses_entra else self.oidc_scopes

    @property
    def uses_profile_api(self) -> bool:
        """API mode: the profile edit goes to PROFILE_API_URL; direct mode (unset): the app PATCHes Graph."""
        return self.profile_api_url is not None

    @property
    def authority_origin(self) -> str:
        parts = urlsplit(self.authority)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def http_timeouts(self) -> tuple[float, float]:
        """(connect, read), as `requests` and MSAL take them."""
        return (self.http_connect_timeout, self.http_timeout)

    @property
    def redirect_path(self) -> str:
        return urlsplit(self.redirect_uri).path or "/"

    @property
    def serves_https(self) -> bool:
        return urlsplit(self.redirect_uri).scheme == "https"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | None = ".env",
    ) -> Settings:
        """Read settings; the process environment wins over the `.env` file."""
        return cls.from_mapping(environment_values(environ, dotenv_path))

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        reader = _Reader(values)
        generic = _generic_provider_settings(reader)
        instance_dir = reader.optional("INSTANCE_DIR") or str(Path.cwd() / "instance")
        client_id = reader.required("CLIENT_ID", "the Application (client) ID of the web app registration")
        client_secret, certificate_path, certificate = reader.web_app_credential()
        profile_api_url = _profile_api_url(reader)
        settings = cls(
            client_id=client_id,
            client_secret=client_secret,
            client_certificate_path=certificate_path,
            client_certificate=certificate,
            tenant_subdomain=""
            if generic
            else reader.required(
                "TENANT_SUBDOMAIN",
                "the part before .ciamlogin.com of your external tenant (or set OIDC_ISSUER to use another "
                "OpenID Provider)",
            ),
            redirect_uri=reader.url("REDIRECT_URI", "e.g. http://localhost:5000/auth/redirect"),
            post_logout_redirect_uri=reader.url("POST_LOGOUT_REDIRECT_URI", "e.g. http://localhost:5000/"),
            secret_key=reader.secret_key(),
            mfa_scope=""
            if generic
            else reader.required("MFA_SCOPE", "the MFA-guarded scope, api://<mfa-app client id>/User.MFA"),
            authority=reader.optional_url("AUTHORITY") or "",
            tenant_id=reader.optional("TENANT_ID"),
            graph_endpoint=(reader.optional_url("GRAPH_ENDPOINT") or cls.graph_endpoint).rstrip("/"),
            graph_scopes=_graph_scopes(reader, api_mode=profile_api_url is not None),
            ca_bundle=reader.existing_file("CA_BUNDLE"),
            http_connect_timeout=reader.number("HTTP_CONNECT_TIMEOUT", cls.http_connect_timeout, minimum=0.1),
            http_timeout=reader.number("HTTP_TIMEOUT", cls.http_timeout, minimum=0.1),
            outbound_call_limit=reader.optional_integer("OUTBOUND_CALL_LIMIT", minimum=1),
            step_up_max_age=int(reader.number("STEP_UP_MAX_AGE", 600, minimum=0)),
            # "filesystem" is the embedded store's name before it became one SQLite file.
            session_type=reader.choice("SESSION_TYPE", ("embedded", "filesystem", "redis"), "embedded").replace(
                "filesystem", "embedded"
            ),
            session_dir=reader.optional("SESSION_DIR") or str(Path(instance_dir) / "sessions"),
            redis_url=reader.optional("REDIS_URL"),
            session_key_prefix=reader.optional("SESSION_KEY_PREFIX") or cls.session_key_prefix,
            sign_in_rate_limit=reader.rate_limit("SIGN_IN_RATE_LIMIT", cls.sign_in_rate_limit),
            rate_limit_storage_url=reader.optional("RATE_LIMIT_STORAGE_URL"),
            session_lifetime=int(reader.number("SESSION_LIFETIME", 8 * 3600, minimum=60)),
            session_idle_timeout=int(reader.number("SESSION_IDLE_TIMEOUT", 3600, minimum=60)),
            token_cache_keys=tuple(k for k in (reader.optional("TOKEN_CACHE_KEYS") or "").split(",") if k),
            instance_dir=instance_dir,
            log_level=(reader.optional("LOG_LEVEL") or "INFO").upper(),
            trusted_proxies=int(reader.number("TRUSTED_PROXIES", 0, minimum=0)),
            profile_api_url=profile_api_url,
            **generic,
        )
        if settings.session_type == "redis" and not settings.redis_url:
            raise ConfigError("REDIS_URL is required when SESSION_TYPE=redis, e.g. redis://127.0.0.1:6379/0")
        if settings.uses_entra and (
            not settings.mfa_scope.startswith("api://") or "/" not in settings.mfa_scope[len("api://") :]
        ):
            raise ConfigError(
                f"MFA_SCOPE must look like api://<mfa-app client id>/User.MFA, got {settings.mfa_scope!r}"
            )
        return settings


# -- API mode (PROFILE_API_URL) ---------------------------------------------------------------------

DIRECT_MODE_GRAPH_SCOPES = "User.Read User.ReadWrite"
# In API mode the app reads the profile and nothing more: the API alone may write (least privilege).
API_MODE_GRAPH_SCOPES = "User.Read"
GRAPH_WRITE_SCOPES = frozenset({"user.readwrite", "user.readwrite.all", "directory.readwrite.all"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _profile_api_url(reader: _Reader) -> str | None:
    """PROFILE_API_URL: https, or plain http on this machine only (the customer's bearer token travels
    to it, so it must never cross a network in the clear; the same exception Entra makes for localhost
    redirect URIs). No query or fragment: the client appends /profile to it."""
    value = reader.optional_url("PROFILE_API_URL")
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"PROFILE_API_URL must be an https URL (plain http only for localhost), got {value!r}: the customer's "
            f"access token is sent to it"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"PROFILE_API_URL must not have a query or fragment, got {value!r}")
    return value.rstrip("/")


def _graph_scopes(reader: _Reader, *, api_mode: bool) -> tuple[str, ...]:
    default = API_MODE_GRAPH_SCOPES if api_mode else DIRECT_MODE_GRAPH_SCOPES
    scopes = tuple((reader.optional("GRAPH_SCOPES") or default).split())
    writing = [scope for scope in scopes if scope.rsplit("/", 1)[-1].lower() in GRAPH_WRITE_SCOPES]
    if api_mode and writing:
        raise ConfigError(
            f"GRAPH_SCOPES lists {', '.join(writing)}, but with PROFILE_API_URL set the API changes the profile "
            f"and the web app must not hold a Graph token that can write: set GRAPH_SCOPES={API_MODE_GRAPH_SCOPES} "
            f"or unset it"
        )
    return scopes


# -- A generic OpenID Provider (OIDC_ISSUER) --------------------------------------------------------

# Settings that only mean something with Entra External ID; set together with OIDC_ISSUER they would
# be silently ignored, so they are refused instead.
ENTRA_ONLY_VARIABLES = (
    "TENANT_SUBDOMAIN",
    "AUTHORITY",
    "TENANT_ID",
    "MFA_SCOPE",
    "GRAPH_ENDPOINT",
    "GRAPH_SCOPES",
    "PROFILE_API_URL",
)
# MSAL adds these to every request itself and refuses them in a scope list.
MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


def _generic_provider_settings(reader: _Reader) -> dict[str, object]:
    """The Settings fields for OIDC_ISSUER and OIDC_SCOPES; empty (Entra External ID) when unset.

    Required in both modes: CLIENT_ID, CLIENT_SECRET or CLIENT_CERTIFICATE_PATH, REDIRECT_URI,
    POST_LOGOUT_REDIRECT_URI, SECRET_KEY. Entra only: TENANT_SUBDOMAIN and MFA_SCOPE (required),
    AUTHORITY, TENANT_ID, GRAPH_ENDPOINT, GRAPH_SCOPES, PROFILE_API_URL (optional). Generic only:
    OIDC_ISSUER, OIDC_SCOPES.
    """
    issuer = reader.optional("OIDC_ISSUER")
    scopes = reader.optional("OIDC_SCOPES")
    if issuer is None:
        if scopes is not None:
            raise ConfigError(
                "OIDC_SCOPES is set but OIDC_ISSUER is not: OIDC_SCOPES only applies to a generic "
                "OpenID Provider, so set OIDC_ISSUER or unset OIDC_SCOPES"
            )
        return {}
    parts = urlsplit(issuer)
    # MSAL's oidc_authority needs https and at least one path segment (it refuses anything else), and
    # OpenID Connect Discovery 1.0 §2 forbids a query or fragment in an issuer.
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"OIDC_ISSUER must be an https URL (MSAL talks to OpenID Providers over https only), got {issuer!r}"
        )
    if not parts.path.strip("/"):
        raise ConfigError(
            f"OIDC_ISSUER must have a path, e.g. https://id.example.com/oidc, got {issuer!r}: MSAL "
            f"cannot use an issuer without one, so serve the provider under a path"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"OIDC_ISSUER must not have a query or fragment (OpenID Connect Discovery), got {issuer!r}")
    conflicting = [name for name in ENTRA_ONLY_VARIABLES if reader.optional(name) is not None]
    if conflicting:
        raise ConfigError(
            f"{', '.join(conflicting)} only apply to Entra External ID, but OIDC_ISSUER selects a "
            f"generic OpenID Provider: unset {', '.join(conflicting)}, or unset OIDC_ISSUER"
        )
    scope_list = tuple((scopes or "email").split())
    reserved = sorted(MSAL_RESERVED_SCOPES.intersection(scope_list))
    if reserved:
        raise ConfigError(
            f"OIDC_SCOPES must not list {', '.join(reserved)}: MSAL always asks for openid, "
            f"profile and offline_access itself"
        )
    return {"oidc_issuer": issuer, "oidc_scopes": scope_list}


class _Reader(EnvironmentReader):
    """ciam_core's reader, with what only the web app reads."""

    def rate_limit(self, name: str, default: str) -> str:
        value = self.optional(name) or default
        try:
            limits.parse_many(value)
        except ValueError:
            raise ConfigError(f"{name} must be limits such as '20 per minute;200 per hour', got {value!r}") from None
        return value

    def web_app_credential(self) -> tuple[str | None, str | None, ClientCertificate | None]:
        """CLIENT_SECRET, or CLIENT_CERTIFICATE_PATH (+ CLIENT_CERTIFICATE_PASSWORD): exactly one of them."""
        return self.client_credential("", holder="the app", registration="the web app registration")

    def secret_key(self) -> str:
        value = self.required(
            "SECRET_KEY",
            "a long random string, e.g. the output of python -c 'import secrets; print(secrets.token_hex(32))'",
        )
        if len(value) < 32:
            raise ConfigError("SECRET_KEY is too short: use at least 32 random characters")
        return value
