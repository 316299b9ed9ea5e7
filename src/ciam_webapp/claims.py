"""Plain-language meanings of the ID token claims Entra External ID issues, for the claims page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

CLAIM_MEANINGS = {
    "aud": "Audience: the app this token was issued for (our client ID).",
    "iss": "Issuer: the sign-in service (your tenant) that issued and signed the token.",
    "iat": "Issued at: when the token was issued.",
    "nbf": "Not before: the token is not valid before this time.",
    "exp": "Expires: the token is not valid after this time.",
    "auth_time": "When the user last entered their credentials.",
    "name": "The user's display name.",
    "preferred_username": "The user's sign-in name (usually the email address).",
    "email": "The user's email address.",
    "given_name": "The user's given name.",
    "family_name": "The user's family name.",
    "oid": "Object ID: the user's immutable identifier in the tenant (same as Graph's id).",
    "sub": "Subject: a pairwise identifier of the user, unique to this app.",
    "tid": "Tenant ID: the directory the user signed in to.",
    "nonce": "Ties the token to the sign-in request this app started (replay protection).",
    "sid": "Session ID of the user's sign-in session at the tenant.",
    "ver": "Token version.",
    "aio": "Opaque value used by Entra; apps ignore it.",
    "rh": "Opaque value used by Entra to revalidate tokens; apps ignore it.",
    "uti": "Token identifier used by Entra; apps ignore it.",
    "idp": "The identity provider that authenticated the user.",
    "amr": "How the user authenticated (methods).",
    "acr": "Authentication context class.",
    "azp": "Authorized party: the app the token was issued to.",
    "login_hint": "An opaque hint the app can send back when signing out.",
}

TIME_CLAIMS = frozenset({"iat", "nbf", "exp", "auth_time"})
# A custom user attribute, as the app's claims configuration maps it into the ID token: the directory
# extension's name, extension_{b2c-extensions-app appId without dashes}_{Name} (Entra's user attributes doc).
CUSTOM_ATTRIBUTE_CLAIM = re.compile(r"^extension_[0-9a-fA-F]{32}_([A-Za-z][A-Za-z0-9]*)$")


def custom_attribute_label(claim: str) -> str | None:
    """"Membership number" for extension_..._MembershipNumber; None for any other claim."""
    match = CUSTOM_ATTRIBUTE_CLAIM.match(claim)
    if match is None:
        return None
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", match.group(1))
    return " ".join(words).capitalize() if words else match.group(1)


def custom_attributes(claims: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(claim, label, value) of the custom attributes in the ID token, in claim order."""
    rows = []
    for name in sorted(claims):
        label = custom_attribute_label(name)
        if label is not None:
            rows.append((name, label, str(claims[name])))
    return rows


def describe_claims(claims: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Rows of (claim, display value, meaning), standard claims first in a stable order."""
    ordered = [name for name in CLAIM_MEANINGS if name in claims]
    ordered += sorted(name for name in claims if name not in CLAIM_MEANINGS)
    rows = []
    for name in ordered:
        value = claims[name]
        if name in TIME_CLAIMS:
            shown = _as_date(value)
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = str(value)
        meaning = CLAIM_MEANINGS.get(name, "")
        label = custom_attribute_label(name)
        if label is not None:
            meaning = f"A custom attribute you gave at sign-up: {label.lower()}."
        rows.append((name, shown, meaning))
    return rows


def _as_date(value: Any) -> str:
    """A NumericDate as a UTC date. Sign-in refuses dates no token carries, but a session saved
    before that rule (or another provider's claim) must still show, never break the page: anything
    that is not a number datetime can hold is shown as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M:%S} UTC ({int(value)})"
        except (OverflowError, OSError, ValueError):  # out of datetime's range, or NaN/infinity
            pass
    return f"{value!r} (not a valid date)"
