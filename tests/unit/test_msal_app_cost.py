"""Building MSAL's application object per request (around each user's token cache) must not search
sys.path for the optional msal_extensions package every time (issue 16: ~80 µs of each build)."""

from __future__ import annotations

import importlib.util
import sys

import msal.application

import ciam_webapp.identity.client  # noqa: F401 - what is tested is this import's effect


def test_the_optional_msal_extensions_is_not_searched_for_on_each_build(monkeypatch):
    assert importlib.util.find_spec("msal_extensions") is None, "not a dependency of the app"
    searched: list[str] = []

    class CountingFinder:
        @staticmethod
        def find_spec(name, path=None, target=None):  # type: ignore[no-untyped-def]
            if name == "msal_extensions":
                searched.append(name)
            return None

    monkeypatch.setattr(sys, "meta_path", [CountingFinder(), *sys.meta_path])
    for _ in range(5):
        msal.application._msal_extension_check()  # what each ConfidentialClientApplication() runs
    assert searched == []
