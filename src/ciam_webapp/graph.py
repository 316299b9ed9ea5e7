"""Microsoft Graph's `/me` for the web app: ciam_core's client, its answer as the pages' `Profile`.

Retries, typed errors and the claims challenge (`GraphClaimsChallenge`, ready to hand to MSAL as
`claims_challenge`) are ciam_core's (`ciam_core/graph.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ciam_core import graph as core_graph
from ciam_core.graph import PROFILE_FIELDS

__all__ = ["PROFILE_FIELDS", "GraphClient", "Profile"]  # PROFILE_FIELDS: the benchmarks import it from here

@dataclass(frozen=True)
class Profile:
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)


class GraphClient(core_graph.GraphClient):
    def get_me(self, access_token: str) -> Profile:
        return Profile(self.read_me(access_token))
