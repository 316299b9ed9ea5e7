"""What a page does not need is not done for it (issue 16): the claims and home pages never open the
session's token cache, so nothing decrypts, decompresses or parses it for them."""

from __future__ import annotations

import dataclasses

from ciam_webapp.token_cache import TokenCacheCodec
from tests.support.journeys import sign_in


class UntouchableCodec(TokenCacheCodec):
    def __init__(self) -> None:  # no keys: it must never be used
        self.opened = 0

    def load(self, sealed: bytes | None):  # type: ignore[no-untyped-def]
        self.opened += 1
        raise AssertionError("the token cache was opened")

    def seal(self, cache):  # type: ignore[no-untyped-def]
        self.opened += 1
        raise AssertionError("the token cache was sealed")


def test_claims_and_home_pages_never_open_the_token_cache(webapp, tenant, person, customer, fresh_settings):
    sign_in(person, webapp, tenant, customer.email, customer.password)
    services = webapp.app.extensions["ciam"]
    codec = UntouchableCodec()
    webapp.app.extensions["ciam"] = dataclasses.replace(services, token_cache_codec=codec)
    for path in ("/claims", "/", "/claims"):
        page = person.get(webapp.url(path))
        assert page.status == 200 and page.path == path, (path, page.status, page.url)
    assert codec.opened == 0
    assert "Sign out" in person.get(webapp.url("/claims")).text
