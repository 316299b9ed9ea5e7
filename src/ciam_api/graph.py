"""Microsoft Graph's `/me` for the API: ciam_core's client (`ciam_core/graph.py`, the typed errors too),
asked for the fields `/profile` returns. No Flask."""

from __future__ import annotations

from typing import Any

from ciam_core import graph as core_graph

# What `GET /profile` returns. Without `$select` Graph omits the address fields.
PROFILE_FIELDS = (
    "id",
    "mail",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "preferredLanguage",
)


class GraphClient(core_graph.GraphClient):
    def get_me(self, access_token: str) -> dict[str, Any]:
        return self.read_me(access_token, PROFILE_FIELDS)
