"""Extra app instances in the tests listen on their own ports, so their redirect URIs are added to the
running emulator's web app registration (the seed merges new URIs into the existing registration). In
production every instance sits behind one public URL and shares one REDIRECT_URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ciam_emulator.seed import seed


def register_app_urls(tenant: Any, base_url: str) -> None:
    """Add `base_url`'s redirect and post-logout URIs to the running emulator's web app registration."""
    instance_dir = tenant.app.extensions["ciam_emulator"].settings.instance_dir
    seed(
        Path(instance_dir),
        app_base_url=f"http://localhost:{tenant.app_port}",  # the suite's main app, unchanged
        extra_redirect_uris=[f"{base_url}/auth/redirect"],
        extra_post_logout_redirect_uris=[f"{base_url}/"],
    )
