"""Conditional access: which policies demand MFA for a token, and which authentication contexts a
session satisfies.

External tenants support conditional access with the grant controls block, MFA and password reset,
targeting apps or authentication contexts; session controls (sign-in frequency among them) are not
available ("supported features for customers", entra-notes §13). So an MFA done at any time in the
SSO session satisfies an MFA policy; the emulator models MFA policies only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ciam_emulator.claims_request import ClaimsRequest, auth_context_challenge
from ciam_emulator.context import Emulator
from ciam_emulator.scopes import ScopeRequest
from ciam_emulator.store import SsoSession


@dataclass(frozen=True)
class MfaDemand:
    """What asks for MFA: policies on the token's resource (or named in ``capolids``), and the
    requested authentication contexts that have an enabled policy."""

    policy_ids: tuple[str, ...]
    auth_contexts: tuple[str, ...]

    def claims_challenge(self) -> str:
        """The ``claims`` a client sends back to /authorize to satisfy this demand.

        An authentication context is asked for by ``acrs`` (claims-challenge doc), which also makes
        the token carry it afterwards; an app's policy by ``capolids``. UNSURE: Entra's error names the
        policies by `capolids` in third-party captures and by `polids` in the OBO doc's example.
        """
        if self.auth_contexts:
            return auth_context_challenge(self.auth_contexts)
        claims = {"access_token": {"capolids": {"essential": True, "values": list(self.policy_ids)}}}
        return json.dumps(claims, separators=(",", ":"))


def mfa_demand(emulator: Emulator, tenant_id: str, scopes: ScopeRequest, claims: ClaimsRequest) -> MfaDemand | None:
    """The policies that require MFA for a token for ``scopes`` with this claims request, or None."""
    policy_ids: list[str] = []
    # A policy on the resource the token is for: one of the tenant's APIs, or Microsoft Graph itself
    # (the downstream token of on-behalf-of is evaluated like any other, OBO doc).
    app_policy = emulator.store.ca_policy_for_app(tenant_id, scopes.audience)
    if app_policy is not None and app_policy.enabled:
        policy_ids.append(app_policy.id)
    if claims.policy_ids:
        policy_ids.extend(
            policy.id
            for policy in emulator.store.list_ca_policies(tenant_id)
            if policy.enabled and policy.id in claims.policy_ids and policy.id not in policy_ids
        )
    contexts: list[str] = []
    for context_id in claims.auth_contexts:
        policy = emulator.store.context_policy_for(tenant_id, context_id)
        if policy is not None and policy.enabled:
            contexts.append(context_id)
            policy_ids.append(policy.id)
    if not policy_ids:
        return None
    return MfaDemand(tuple(policy_ids), tuple(contexts))


def mfa_done(session: SsoSession | None) -> bool:
    return session is not None and session.mfa_time is not None


def satisfied_auth_contexts(
    emulator: Emulator, tenant_id: str, claims: ClaimsRequest, session: SsoSession | None
) -> tuple[str, ...]:
    """The requested contexts whose policy the session satisfies: what ``acrs`` lists.

    UNSURE: the docs say a v2 access token lists "the satisfied contexts" in `acrs`; the emulator
    lists only contexts the request asked for (the claims-challenge path), and only those with an
    enabled policy, so a context nobody protects is never claimed as satisfied.
    """
    if not mfa_done(session):
        return ()
    satisfied = []
    for context_id in claims.auth_contexts:
        policy = emulator.store.context_policy_for(tenant_id, context_id)
        if policy is not None and policy.enabled:
            satisfied.append(context_id)
    return tuple(satisfied)
