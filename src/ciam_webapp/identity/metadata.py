"""The tenant's discovery document as the web app sees it: the shared `ciam_core.discovery`
provider, whose failures become this layer's `TenantUnavailable` (the 503 page)."""

from __future__ import annotations

from ciam_core.discovery import MetadataProvider as _SharedMetadataProvider
from ciam_core.discovery import TenantMetadata, discovery_url, oidc_discovery_url
from ciam_core.errors import ProviderUnavailable

from .errors import TenantUnavailable

__all__ = ["MetadataProvider", "TenantMetadata", "discovery_url", "oidc_discovery_url"]


class MetadataProvider(_SharedMetadataProvider):
    def get(self) -> TenantMetadata:
        try:
            return super().get()
        except ProviderUnavailable as exc:
            raise TenantUnavailable(exc.reason) from exc
