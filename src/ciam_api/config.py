"""The mfa-app API's one configuration object, read from the environment and an optional `.env` file.

Validated once, at start-up, in the web app's style: a missing value or one of the sample's
`Enter_the_...` placeholders stops the API with a message naming the variable and how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ciam_core.client_certificate import ClientCertificate
from ciam_core.environment import ConfigError, EnvironmentReader, environment_values

# RFC 6749 §3.3 scope-token characters, without the space that separates scopes.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
# Entra's authentication context ids are c1 ... c99 (authenticationContextClassReference).
_AUTH_CONTEXT_ID = re.compile(r"^c([1-9]|[1-9][0-9])$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Entra's documented default clock skew is five minutes; more would accept tokens long expired.
MAX_TOKEN_LEEWAY = 300.0


@dataclass(frozen=True)
class Settings:
    client_id: str
    authority: str
    tenant_id: str
    allowed_client_apps: frozenset[str]
    # Exactly one of the two credentials is set (from_mapping enforces it).
    client_secret: str | None = field(default=None, repr=False)
    client_certificate: ClientCertificate | None = field(default=None, repr=False)
    required_scope: str = "User.MFA"
    required_auth_context: str | None = None
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"
    # Delegated Graph permissions asked for on behalf of the user (one resource per token request).
    graph_scopes: tuple[str, ...] = ("User.ReadWrite",)
    ca_bundle: str | None = None
    http_timeout: float = 10.0
    token_leeway: float = 60.0
    obo_cache_redis_url: str | None = field(default=None, repr=False)
    obo_cache_key_prefix: str = "ciam-api:obo:"
    # A sealed entry is ~7 KB (an access, refresh and ID token): 2000 entries stay under ~15 MB per process.
    obo_cache_max_entries: int = 2_000
    log_level: str = "INFO"
    trusted_proxies: int = 0

    def __post_init__(self) -> None:
        if urlsplit(self.authority).path.strip("/"):
            # MSAL appends "/v2.0/..." to an authority with a tenant path; a trailing slash would double it.
            object.__setattr__(self, "authority", self.authority.rstrip("/"))

    def client_credential(self) -> str | dict[str, str]:
        """What MSAL's `client_credential` takes: the secret, or the certificate."""
        if self.client_certificate is not None:
            return self.client_certificate.msal_credential()
        if not self.client_secret:
            raise ConfigError("set API_CLIENT_SECRET or API_CLIENT_CERTIFICATE_PATH")
        return self.client_secret

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
    ) -> Settings:
        """Read settings; the process environment wins over the `.env` file."""
        return cls.from_mapping(environment_values(environ, dotenv_path))

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        reader = EnvironmentReader(values)
        required_scope = reader.optional("REQUIRED_SCOPE") or cls.required_scope
        if not _SCOPE_TOKEN.match(required_scope):
            raise ConfigError(f"REQUIRED_SCOPE must be one scope name such as User.MFA, got {required_scope!r}")
        auth_context = reader.optional("REQUIRED_AUTH_CONTEXT")
        if auth_context is not None and not _AUTH_CONTEXT_ID.match(auth_context):
            raise ConfigError(
                f"REQUIRED_AUTH_CONTEXT must be an authentication context id c1 ... c99 (as registered in "
                f"the tenant), got {auth_context!r}"
            )
        allowed = frozenset(
            app.strip().lower() for app in (reader.optional("ALLOWED_CLIENT_APPS") or "").split(",") if app.strip()
        )
        if not allowed:
            raise ConfigError(
                "ALLOWED_CLIENT_APPS is not set: set it to the Application (client) IDs of the apps allowed "
                "to call this API, comma-separated (the web app's CLIENT_ID)"
            )
        bad = sorted(app for app in allowed if not _GUID.match(app))
        if bad:
            raise ConfigError(f"ALLOWED_CLIENT_APPS must hold application (client) IDs (GUIDs), got {', '.join(bad)}")
        authority = reader.url(
            "AUTHORITY", "the tenant's authority, e.g. https://<subdomain>.ciamlogin.com/<tenant id>"
        )
        if urlsplit(authority).scheme != "https":
            raise ConfigError(f"AUTHORITY must be https (MSAL talks to the tenant over https only), got {authority!r}")
        tenant_id = reader.required("TENANT_ID", "the Directory (tenant) ID of your external tenant")
        if not _GUID.match(tenant_id):
            raise ConfigError(f"TENANT_ID must be the Directory (tenant) ID, a GUID, got {tenant_id!r}")
        client_id = reader.required("API_CLIENT_ID", "the Application (client) ID of the mfa-app (API) registration")
        if not _GUID.match(client_id):
            raise ConfigError(f"API_CLIENT_ID must be an Application (client) ID, a GUID, got {client_id!r}")
        leeway = reader.number("TOKEN_LEEWAY", cls.token_leeway, minimum=0)
        if leeway > MAX_TOKEN_LEEWAY:
            raise ConfigError(f"TOKEN_LEEWAY must be at most {MAX_TOKEN_LEEWAY:.0f} seconds, got {leeway:g}")
        client_secret, _, certificate = reader.client_credential(
            "API_", holder="the API", registration="the mfa-app (API) registration"
        )
        return cls(
            client_id=client_id.lower(),
            client_secret=client_secret,
            client_certificate=certificate,
            authority=authority,
            tenant_id=tenant_id.lower(),
            allowed_client_apps=allowed,
            required_scope=required_scope,
            required_auth_context=auth_context,
            graph_endpoint=(reader.optional_url("GRAPH_ENDPOINT") or cls.graph_endpoint).rstrip("/"),
            graph_scopes=tuple((reader.optional("GRAPH_SCOPES") or "User.ReadWrite").split()),
            ca_bundle=reader.existing_file("CA_BUNDLE"),
            http_timeout=reader.number("HTTP_TIMEOUT", cls.http_timeout, minimum=0.1),
            token_leeway=leeway,
            obo_cache_redis_url=reader.optional("OBO_CACHE_REDIS_URL"),
            obo_cache_key_prefix=reader.optional("OBO_CACHE_KEY_PREFIX") or cls.obo_cache_key_prefix,
            obo_cache_max_entries=int(reader.number("OBO_CACHE_MAX_ENTRIES", cls.obo_cache_max_entries, minimum=1)),
            log_level=(reader.optional("LOG_LEVEL") or "INFO").upper(),
            trusted_proxies=int(reader.number("TRUSTED_PROXIES", 0, minimum=0)),
        )
