"""The OpenID Connect ``claims`` request parameter, as far as Entra acts on it for access tokens.

Three members of its ``access_token`` object matter here:
- ``acrs`` (``{"essential": true, "value": "c1"}`` or ``"values": [...]``): the authentication contexts the
  client asks to have satisfied (Entra's claims-challenge doc and its developer guide to
  conditional-access authentication context);
- ``xms_cc`` (``{"values": ["cp1"]}``): the client's capabilities, which MSAL sends for
  ``client_capabilities`` (MSAL ``_merge_claims_challenge_and_capabilities``; entra-notes §2);
- ``capolids`` (``{"essential": true, "values": [policy ids]}``): the policies a previous AADSTS50076
  named (what this emulator puts in that error's ``claims``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ciam_emulator.errors import EntraProtocolError


@dataclass(frozen=True)
class ClaimsRequest:
    auth_contexts: tuple[str, ...] = ()
    client_capabilities: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()

    def merged(self, other: ClaimsRequest) -> ClaimsRequest:
        def union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*first, *second)))

        return ClaimsRequest(
            union(self.auth_contexts, other.auth_contexts),
            union(self.client_capabilities, other.client_capabilities),
            union(self.policy_ids, other.policy_ids),
        )


def invalid_claims() -> EntraProtocolError:
    return EntraProtocolError("invalid_request", 90100, "claims parameter is empty or not valid.")


def _values(member: Any) -> tuple[str, ...]:
    """``value`` or ``values`` of one claim's request (OpenID Connect Core 5.5.1 allows both)."""
    if not isinstance(member, dict):
        return ()
    found: list[str] = []
    if isinstance(member.get("value"), str):
        found.append(member["value"])
    if isinstance(member.get("values"), list):
        found.extend(str(value) for value in member["values"] if isinstance(value, str))
    return tuple(dict.fromkeys(found))


def parse_claims(raw: str | None) -> ClaimsRequest:
    """Parse a ``claims`` parameter; absent is empty, JSON that is not an object is AADSTS90100."""
    if raw is None or raw == "":
        return ClaimsRequest()
    try:
        parsed = json.loads(raw)
    except ValueError as problem:
        raise invalid_claims() from problem
    if not isinstance(parsed, dict):
        raise invalid_claims()
    access_token = parsed.get("access_token")
    if not isinstance(access_token, dict):
        return ClaimsRequest()
    return ClaimsRequest(
        auth_contexts=_values(access_token.get("acrs")),
        client_capabilities=_values(access_token.get("xms_cc")),
        policy_ids=_values(access_token.get("capolids")),
    )


def auth_context_challenge(context_ids: tuple[str, ...]) -> str:
    """The ``claims`` value that asks for authentication contexts, in the shape of Entra's
    claims-challenge doc (``{"access_token":{"acrs":{"essential":true,"value":"c1"}}}``)."""
    if len(context_ids) == 1:
        request: dict[str, Any] = {"essential": True, "value": context_ids[0]}
    else:
        request = {"essential": True, "values": list(context_ids)}
    return json.dumps({"access_token": {"acrs": request}}, separators=(",", ":"))
