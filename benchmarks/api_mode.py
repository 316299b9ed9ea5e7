"""The profile edit in API mode (through the mfa-app API) next to direct mode (the app PATCHes Graph).

For each mode a fresh app (in this process, on a loopback port) signs a customer in and opens the
edit form behind MFA; then the two modes save in turn, and each save is counted and timed:
- round trips, from the emulator's counters (token endpoint by grant, authorize, Graph) and the
  API's own request count (a WSGI counter around it);
- latency, the wall time of the save as the browser sees it: POST /profile/edit, its redirects (in API
  mode the first save also meets the API's claims challenge for the authentication context, a trip
  through the tenant's authorize endpoint), and the profile page it lands on.

The first save after MFA is shown on its own (API mode: the on-behalf-of exchange and the claims
step-up happen there); every later save within the tokens' lifetime asks the tenant for nothing.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.inprocess import InProcessApp
from benchmarks.stack import Customer, Tenant, finish_on_tenant, sign_in
from tests.support.person import Page, Person
from tests.support.profile_api import start_profile_api

# As `make run` configures the API (the seed's api.env).
REQUIRED_AUTH_CONTEXT = "c1"
DIRECT, API = "direct (app PATCHes Graph)", "API mode (through the mfa-app API)"
FIRST_SAVE, NEXT_SAVE = "first save after MFA", "next save (tokens still valid)"


class RequestCounter:
    """Counts the requests a WSGI app answers."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            self.count += 1
        return self._app(environ, start_response)


@dataclass
class SaveTrips:
    mode: str
    save: str
    authorize: int
    token_code: int
    token_refresh: int
    token_obo: int
    graph_get: int
    graph_patch: int
    api_calls: int
    seconds: float

    @property
    def token_calls(self) -> int:
        return self.token_code + self.token_refresh + self.token_obo


@dataclass
class EditLatency:
    mode: str
    saves: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


@dataclass
class ApiModeResults:
    trips: list[SaveTrips] = field(default_factory=list)
    latency: list[EditLatency] = field(default_factory=list)


def measure(
    tenant: Tenant, ports: tuple[int, int], work: Path, customers: tuple[Customer, Customer], saves: int
) -> ApiModeResults:
    """`ports`: the direct-mode app's and the API-mode app's (registered at the tenant beforehand). The
    two modes' saves alternate, so other work on the machine slows both alike."""
    results = ApiModeResults()
    api = start_profile_api(tenant, REQUIRED_AUTH_CONTEXT=REQUIRED_AUTH_CONTEXT, LOG_LEVEL="WARNING")
    counter = RequestCounter(api.app.wsgi_app)
    api.app.wsgi_app = counter  # type: ignore[method-assign]
    apps: list[InProcessApp] = []
    try:
        for port, overrides in ((ports[0], {}), (ports[1], {"PROFILE_API_URL": api.base_url})):
            apps.append(InProcessApp(tenant, port, work / f"api-mode-{port}", threaded=True, **overrides))
        editors = [
            _Editor(mode, app, tenant, customer)
            for mode, app, customer in zip((DIRECT, API), apps, customers, strict=True)
        ]
        for index in range(max(saves, 2)):
            for editor in editors:
                editor.save(index, counter, results)
        results.latency = [editor.latency() for editor in editors]
    finally:
        for app in apps:
            app.stop()
        api.server.stop()
    return results


class _Editor:
    """One customer in one mode, signed in and past MFA, saving their display name again and again."""

    def __init__(self, mode: str, app: InProcessApp, tenant: Tenant, customer: Customer) -> None:
        self.mode, self.app, self.tenant, self.customer = mode, app, tenant, customer
        self.person = Person(tenant.ca_bundle)
        sign_in(self.person, tenant, app.base_url, customer)
        self.form = finish_on_tenant(self.person, tenant, customer, self.person.get(app.base_url + "/profile/edit"))
        if self.form.path != "/profile/edit":
            raise RuntimeError(f"{mode}: the edit form did not open: {self.form.status} {self.form.url}")
        self.timings: list[float] = []

    def save(self, index: int, counter: RequestCounter, results: ApiModeResults) -> None:
        self.tenant.reset_stats()
        api_before = counter.count
        started = time.perf_counter()
        _save(self.person, self.tenant, self.customer, self.form, f"Bench {self.mode[:3]} {index}")
        seconds = time.perf_counter() - started
        if index < 2:
            stats = self.tenant.stats()
            results.trips.append(
                SaveTrips(
                    mode=self.mode,
                    save=FIRST_SAVE if index == 0 else NEXT_SAVE,
                    authorize=stats["authorize"],
                    token_code=stats["token"]["authorization_code"],
                    token_refresh=stats["token"]["refresh_token"],
                    token_obo=stats["token"].get("on_behalf_of", 0),
                    graph_get=stats["graph"]["GET /me"],
                    graph_patch=stats["graph"]["PATCH /me"],
                    api_calls=counter.count - api_before,
                    seconds=seconds,
                )
            )
        if index > 0:  # the first save pays for one-time exchanges; its row shows them
            self.timings.append(seconds)
        self.form = self.person.get(self.app.base_url + "/profile/edit")

    def latency(self) -> EditLatency:
        ordered = sorted(self.timings)
        return EditLatency(
            mode=self.mode,
            saves=len(ordered),
            p50_ms=1000 * statistics.median(ordered),
            p95_ms=1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            mean_ms=1000 * statistics.fmean(ordered),
        )


def _save(person: Person, tenant: Tenant, customer: Customer, form: Page, new_name: str) -> None:
    page = finish_on_tenant(person, tenant, customer, person.submit(form, {"displayName": new_name}))
    if page.path != "/profile" or new_name not in page.text:
        raise RuntimeError(f"the edit was not saved: {page.status} {page.url}")


def table(results: ApiModeResults) -> list[str]:
    header = [
        "mode",
        "save",
        "token calls (code / refresh / OBO)",
        "authorize",
        "Graph GET / PATCH",
        "API calls",
        "wall ms",
    ]
    rows = [
        [
            r.mode,
            r.save,
            f"{r.token_calls} ({r.token_code} / {r.token_refresh} / {r.token_obo})",
            str(r.authorize),
            f"{r.graph_get} / {r.graph_patch}",
            str(r.api_calls),
            f"{1000 * r.seconds:.1f}",
        ]
        for r in sorted(results.trips, key=lambda r: (r.mode != DIRECT, r.save != FIRST_SAVE))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "| mode | saves timed | p50 ms | p95 ms | mean ms |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.mode} | {r.saves} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.mean_ms:.1f} |" for r in results.latency]
    return lines


def markdown(results: ApiModeResults) -> list[str]:
    return [
        "## The profile edit: API mode next to direct mode",
        "",
        "Each mode in a fresh app; one customer each, signed in and past MFA; the two modes save in",
        "turn. Round trips from the emulator's counters (reset before each save) and a request counter",
        "around the API. A save is the browser's whole trip: POST, redirects (in API mode the first save",
        f"meets the API's claims challenge for the authentication context `{REQUIRED_AUTH_CONTEXT}`), and",
        "the profile page it lands on (one Graph GET). The latency table leaves out each mode's first save.",
        "",
        *table(results),
        "",
    ]
