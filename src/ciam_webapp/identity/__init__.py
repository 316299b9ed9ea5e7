"""Protocol code for Entra External ID: discovery, ID token validation, and a facade over MSAL.

No Flask here: everything is testable without a browser or a web framework.
"""

from .client import AccessToken, EntraClient, ProviderState, SignedIn
from .errors import (
    IdentityError,
    IdTokenError,
    InteractionRequired,
    SignInCancelled,
    SignInError,
    TenantUnavailable,
)
from .id_token import IdTokenValidator, JwksCache
from .metadata import MetadataProvider, TenantMetadata, discovery_url

__all__ = [
    "AccessToken",
    "EntraClient",
    "IdTokenError",
    "IdTokenValidator",
    "IdentityError",
    "InteractionRequired",
    "JwksCache",
    "MetadataProvider",
    "ProviderState",
    "SignInCancelled",
    "SignInError",
    "SignedIn",
    "TenantMetadata",
    "TenantUnavailable",
    "discovery_url",
]
