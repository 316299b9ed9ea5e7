"""One browser with several requests in flight, over real HTTP, for the race tests.

A `Browser` keeps one cookie jar, as a browser profile does. Its page loads follow redirects like
`Person`'s, except the tenant's redirect back to the app's redirect URI, which is held so a test can
choose when the callback is sent and what is sent beside it. `at_once` sends several requests on
separate connections, each with the jar's cookies as they are at that moment, released together by
a barrier (a page, its favicon and a second tab do exactly this), then stores each response's
`Set-Cookie` in the jar in the order the responses arrived, as the browser would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from requests.cookies import extract_cookies_to_jar

from tests.support.journeys import TenantPages
from tests.support.person import Page, Person

SESSION_COOKIE = "ciam_session"
PENDING_COOKIE_PREFIX = "ciam.auth."
TIMEOUT = 20

T = TypeVar("T")


class HoldsTheCallback(requests.Session):
    """Follows redirects, except one to `callback_url` (the app's redirect URI): that one is left
    for the test to send."""

    def __init__(self, ca_bundle: str, callback_url: str) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_bundle
        self.callback_url = callback_url

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target and urljoin(resp.url, target).startswith(self.callback_url + "?"):
            return None
        return target


@dataclass
class Sent:
    """One request of `at_once`: what was sent and what came back, with when it came back."""

    name: str
    response: requests.Response
    finished: float = field(default=0.0)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def location(self) -> str:
        return self.response.headers.get("Location", "")

    def set_cookies(self) -> list[str]:
        return self.response.raw.headers.getlist("Set-Cookie") if self.response.raw is not None else []

    def clears(self, cookie: str) -> bool:
        return any(
            line.startswith(f"{cookie}=;") and "expires=thu, 01 jan 1970" in line.lower() for line in self.set_cookies()
        )


class Browser:
    def __init__(self, app: Any, tenant: Any, email: str, password: str) -> None:
        self.app = app  # an AppOnThread, WebApp or ServedApp: has .url() and .settings
        self.tenant = tenant
        self.email = email
        self.password = password
        self.person = Person(tenant.ca_bundle)
        self.person.http = HoldsTheCallback(tenant.ca_bundle, app.settings.redirect_uri)
        self.notes: dict[str, Any] = {}
        self.tenant_pages: list[str] = []  # what a test keeps about this browser between steps
        self._background = ThreadPoolExecutor(max_workers=4)

    # -- the jar --------------------------------------------------------------------------------

    @property
    def http(self) -> requests.Session:
        return self.person.http

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.http.cookies if c.name == name), None)

    def session_id(self) -> str | None:
        return self.cookie(SESSION_COOKIE)

    def pending_sign_ins(self) -> list[str]:
        return sorted(
            c.name[len(PENDING_COOKIE_PREFIX) :] for c in self.http.cookies if c.name.startswith(PENDING_COOKIE_PREFIX)
        )

    # -- pages ------------------------------------------------------------------------------------

    def get(self, path_or_url: str, **kwargs: Any) -> Page:
        url = path_or_url if "://" in path_or_url else self.app.url(path_or_url)
        return self.person.get(url, **kwargs)

    def csrf_token(self, page: Page | None = None) -> str:
        page = page or self.get("/")
        field_ = page.soup.find("input", attrs={"name": "csrf_token"})
        assert field_ is not None, f"no form with a CSRF token on {page.url}: {page.text[:300]}"
        return str(field_["value"])

    def until_callback(self, page: Page) -> str:
        """Answer the tenant's pages (password, MFA code) until it sends the browser back to the app;
        returns that callback URL, not yet requested."""
        hosted = TenantPages(self.person, self.tenant, self.email, self.password)
        self.tenant_pages = hosted.seen  # the hosted pages answered, for the test to check
        for _ in range(8):
            location = page.response.headers.get("Location", "")
            if page.response.is_redirect and location.startswith(self.app.settings.redirect_uri + "?"):
                return location
            assert hosted.on_tenant(page), f"expected the tenant or the callback, got {page.status} {page.url}"
            page = hosted.step(page)
        raise AssertionError(f"the tenant never sent the browser back: {hosted.seen}")

    def start(self, path: str = "/auth/sign-in") -> str:
        """Open `path` (which sends the browser to the tenant) and return the callback URL the tenant
        answers with."""
        return self.until_callback(self.get(path))

    def sign_in(self) -> Page:
        home = self.get(self.start())
        assert urlsplit(home.url).netloc == urlsplit(self.app.url("/")).netloc, home.url
        assert "Signed in as" in home.text, f"not signed in: {home.status} {home.url} {home.text[:400]}"
        return home

    def sign_out(self, page: Page | None = None) -> requests.Response:
        """Press "Sign out" (the redirect to the tenant's logout is not followed, so the tenant's own
        session stays and the next sign-in is a few redirects)."""
        token = self.csrf_token(page)
        response = self.http.post(
            self.app.url("/auth/sign-out"), data={"csrf_token": token}, allow_redirects=False, timeout=TIMEOUT
        )
        assert response.status_code == 303, (response.status_code, response.text[:300])
        return response

    # -- several connections at once ----------------------------------------------------------------

    def in_background(self, name: str, method: str, path_or_url: str, **kwargs: Any) -> Future[Sent]:
        """Send a request on a new connection of this browser (the jar's cookies as they are now) and do
        not wait for it; redirects are not followed and its cookies are not kept (see `keep_cookies`)."""
        url = path_or_url if "://" in path_or_url else self.app.url(path_or_url)
        connection = self.connection()

        def send() -> Sent:
            response = connection.request(method, url, allow_redirects=False, timeout=TIMEOUT, **kwargs)
            response.content  # noqa: B018 - read it all before taking the time
            return Sent(name, response, time.monotonic())

        return self._background.submit(send)

    def keep_cookies(self, *sent: Sent) -> None:
        """Store responses' cookies in the jar in the order the responses arrived."""
        for one in sorted(sent, key=lambda s: s.finished):
            extract_cookies_to_jar(self.http.cookies, one.response.request, one.response.raw)

    def connection(self) -> requests.Session:
        """A parallel connection of this browser: its own socket, the jar's cookies as they are now."""
        http = requests.Session()
        http.trust_env = False
        http.verify = self.tenant.ca_bundle
        http.cookies = self.http.cookies.copy()
        return http

    def at_once(self, requests_: Iterable[tuple[str, str, str, dict[str, Any]]]) -> dict[str, Sent]:
        """Send (name, method, path or URL, kwargs) requests together, without following redirects;
        then keep their cookies in arrival order. Returns them by name."""
        planned = list(requests_)
        barrier = threading.Barrier(len(planned), timeout=TIMEOUT)
        connections = [self.connection() for _ in planned]

        def send(index: int) -> Sent:
            name, method, target, kwargs = planned[index]
            url = target if "://" in target else self.app.url(target)
            barrier.wait()
            response = connections[index].request(method, url, allow_redirects=False, timeout=TIMEOUT, **kwargs)
            response.content  # noqa: B018 - read it all before taking the time
            return Sent(name, response, time.monotonic())

        with ThreadPoolExecutor(max_workers=len(planned)) as pool:
            results = list(pool.map(send, range(len(planned))))
        self.keep_cookies(*results)
        return {sent.name: sent for sent in results}


class Stats:
    """The emulator's request counters, over one kept-alive connection."""

    def __init__(self, tenant) -> None:
        self.http = tenant.control()
        self.url = f"{tenant.base_url}/_emulator/control/stats"

    def all(self) -> dict[str, Any]:
        return self.http.get(self.url, timeout=TIMEOUT).json()  # type: ignore[no-any-return]

    def now(self) -> tuple[int, int]:
        """(Graph GET /me calls, refresh-token redemptions) so far."""
        stats = self.all()
        return stats["graph"]["GET /me"], stats["token"]["refresh_token"]

    def wait_for(self, graph_calls: int, refreshes: int) -> None:
        deadline = time.monotonic() + 10
        while self.now() != (graph_calls, refreshes):
            assert time.monotonic() < deadline, (
                f"expected {graph_calls} Graph calls, {refreshes} refreshes: {self.now()}"
            )
            time.sleep(0.01)


def state_of(callback_url: str) -> str:
    return parse_qs(urlsplit(callback_url).query)["state"][0]


class Rounds:
    """Repeats a scenario on several browsers, in rounds: each step of a round runs on every browser at
    once (so a test may flip one of the emulator's global switches between steps). A browser whose
    step fails is out for the rest of that round; every failure is kept and reported at the end."""

    def __init__(self, browsers: list[Browser], rounds: int) -> None:
        self.browsers = browsers
        self.rounds = rounds
        self.failures: list[str] = []
        self._pool = ThreadPoolExecutor(max_workers=len(browsers))
        self._out: set[int] = set()
        self.round = 0

    def __iter__(self) -> Iterator[int]:
        try:
            for number in range(self.rounds):
                self.round = number
                self._out = set()
                yield number
        finally:
            self._pool.shutdown()

    @property
    def repetitions(self) -> int:
        return self.rounds * len(self.browsers)

    def step(self, action: Callable[[Browser], T]) -> dict[int, T]:
        """`action(browser)` on every browser still in this round, all at once; results by browser."""
        live = [n for n in range(len(self.browsers)) if n not in self._out]
        futures = {n: self._pool.submit(action, self.browsers[n]) for n in live}
        results: dict[int, T] = {}
        for n, future in futures.items():
            try:
                results[n] = future.result()
            except AssertionError as failure:
                self._out.add(n)
                self.failures.append(f"round {self.round}, browser {n}: {str(failure)[:600]}")
        return results

    def check(self, condition: bool, message: str) -> None:
        """A check of the whole round (e.g. the emulator's counters), kept like a browser's failure."""
        if not condition:
            self.failures.append(f"round {self.round}: {message}")

    def assert_none_failed(self) -> None:
        assert not self.failures, f"{len(self.failures)} of {self.repetitions} repetitions failed:\n" + "\n".join(
            self.failures[:10]
        )
