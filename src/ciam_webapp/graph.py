"""Microsoft Graph's `/me` for the web app: ciam_core's client, asked for what the profile pages show.

Retries, typed errors and the claims challenge (`GraphClaimsChallenge`, ready to hand to MSAL as
`claims_challenge`) are ciam_core's (`ciam_core/graph.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ciam_core import graph as core_graph

# What the profile pages show. `GET /me` without `$select` returns only Graph's default set, which
# lacks the address fields, so the client asks for exactly these.
PROFILE_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "jobTitle",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "preferredLanguage",
)


@dataclass(frozen=True)
class Profile:
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)


class GraphClient(core_graph.GraphClient):
    def get_me(self, access_token: str) -> Profile:
        return Profile(self.read_me(access_token, PROFILE_FIELDS))
