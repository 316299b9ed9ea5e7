"""`ciam-api serve`: gunicorn with two workers over HTTPS, the OBO cache on Redis, against the real
emulator, with overlapping requests as the web app's workers would send them."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.api.test_with_emulator import obo_count, token_for, user_in_tenant
from tests.emulator.conftest import LiveEmulator, ScriptedBrowser
from tests.scale.conftest import PrivateRedis
from tests.support.served_app import start_served_app
from tests.support.servers import free_port
from tests.support.site_tls import make_site_certificate


def test_overlapping_edits_over_https_share_one_exchange_across_workers(
    emulator: LiveEmulator,
    browser: ScriptedBrowser,
    customer: tuple[str, str],
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    site = make_site_certificate(tmp_path / "tls", emulator.ca_cert)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "API_CLIENT_ID": emulator.seeded.mfa_app_id,
        "API_CLIENT_SECRET": emulator.seeded.api_client_secret or "",
        "AUTHORITY": f"{emulator.tenant_url}/",
        "TENANT_ID": emulator.seeded.tenant_id,
        "ALLOWED_CLIENT_APPS": emulator.seeded.client_id,
        "GRAPH_ENDPOINT": f"{emulator.base_url}/v1.0",
        "CA_BUNDLE": str(emulator.ca_cert),
        "OBO_CACHE_REDIS_URL": private_redis.url,
        "HTTP_TIMEOUT": "5",
    }
    served = start_served_app(
        environment,
        port=free_port(),
        workers=2,
        timeout=30,
        workdir=tmp_path / "api",
        program="ciam-api",
        certificate=(site.cert_chain, site.private_key, site.ca_cert),
    )
    try:
        token = token_for(emulator, browser, customer)
        http = requests.Session()
        http.trust_env = False
        http.verify = str(site.ca_cert)
        headers = {"Authorization": f"Bearer {token}"}
        emulator.control("POST", "stats/reset")
        first = http.patch(served.url("/profile"), json={"city": "City 0"}, headers=headers, timeout=30)
        assert first.status_code == 204, first.text
        cities = [f"City {n}" for n in range(1, 13)]

        def edit(city: str) -> int:
            response = http.patch(served.url("/profile"), json={"city": city}, headers=headers, timeout=30)
            return response.status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(edit, cities))
        assert statuses == [204] * len(cities), [
            line for line in served.log_text().splitlines() if "503" in line or "unavailable" in line
        ][-5:]
        # Whichever worker served an edit, the exchange of the first edit (on Redis) served it.
        assert obo_count(emulator) == 1
        assert user_in_tenant(emulator, customer[0])["city"] in cities
        answer = http.get(served.url("/profile"), headers=headers, timeout=30)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
        refused = http.get(served.url("/profile"), headers={"Authorization": f"Bearer {secrets.token_urlsafe(40)}"})
        assert refused.status_code == 401
        assert token not in served.log_text()
    finally:
        served.stop()
