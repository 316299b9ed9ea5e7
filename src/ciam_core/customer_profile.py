"""What a customer may change on their own profile, and which changes a submitted form makes. No Flask.

Entra External ID lets a customer update only these properties of their own user through Graph
(`PATCH /me` with User.ReadWrite; "Default user permissions in external tenants", entra-notes §12);
anything else, `mail` included, is refused with 403 Authorization_RequestDenied. The sign-in email
lives in the user's identities and is managed by the tenant, so it is shown, never edited.
Maximum lengths are those of Graph's user resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EditableProperty:
    name: str  # the Graph property
    label: str
    max_length: int
    autocomplete: str
    required: bool = False


EDITABLE_PROPERTIES = (
    EditableProperty("displayName", "Display name", 256, "name", required=True),
    EditableProperty("givenName", "Given name", 64, "given-name"),
    EditableProperty("surname", "Surname", 64, "family-name"),
    EditableProperty("jobTitle", "Job title", 128, "organization-title"),
    EditableProperty("streetAddress", "Street address", 1024, "street-address"),
    EditableProperty("city", "City", 128, "address-level2"),
    EditableProperty("state", "State or province", 128, "address-level1"),
    EditableProperty("postalCode", "Postal code", 40, "postal-code"),
    EditableProperty("country", "Country or region", 128, "country-name"),
    EditableProperty("preferredLanguage", "Preferred language", 10, "language"),
)
EDITABLE_NAMES = frozenset(p.name for p in EDITABLE_PROPERTIES)
LABELS = {p.name: p.label for p in EDITABLE_PROPERTIES}

# preferredLanguage is an ISO 639-1 language code with an optional region ("en-US"); the form offers
# a list rather than free text so that only well-formed values are ever sent.
LANGUAGES = (
    ("en-US", "English (United States)"),
    ("en-GB", "English (United Kingdom)"),
    ("fr-FR", "Français (France)"),
    ("fr-CA", "Français (Canada)"),
    ("de-DE", "Deutsch (Deutschland)"),
    ("es-ES", "Español (España)"),
    ("es-MX", "Español (México)"),
    ("it-IT", "Italiano (Italia)"),
    ("nl-NL", "Nederlands (Nederland)"),
    ("pt-BR", "Português (Brasil)"),
    ("pt-PT", "Português (Portugal)"),
    ("pl-PL", "Polski (Polska)"),
    ("sv-SE", "Svenska (Sverige)"),
    ("da-DK", "Dansk (Danmark)"),
    ("nb-NO", "Norsk bokmål (Norge)"),
    ("fi-FI", "Suomi (Suomi)"),
    ("ja-JP", "日本語 (日本)"),
    ("ko-KR", "한국어 (대한민국)"),
    ("zh-CN", "中文 (中国)"),
    ("zh-TW", "中文 (台灣)"),
)
LANGUAGE_CODES = frozenset(code for code, _ in LANGUAGES)

Changes = dict[str, str | None]


def language_name(code: str | None) -> str | None:
    return dict(LANGUAGES).get(code or "", code)


def normalized(value: Any) -> str | None:
    """Form and Graph values compared alike: surrounding spaces dropped, empty means not set."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def changes_between(current: Mapping[str, Any], submitted: Mapping[str, Any]) -> Changes:
    """The PATCH body: only editable properties whose submitted value differs from the current one.
    A cleared field becomes null (Graph then removes the value)."""
    changes: Changes = {}
    for prop in EDITABLE_PROPERTIES:
        if prop.name not in submitted:
            continue
        new = normalized(submitted[prop.name])
        if new != normalized(current.get(prop.name)):
            changes[prop.name] = new
    return changes


def refused_fields_message(changes: Mapping[str, Any]) -> str:
    """For a 403 from Graph: say which of the submitted changes were refused and why."""
    names = ", ".join(LABELS.get(name, name) for name in changes)
    return (
        f"Your account is not allowed to change {names}, so nothing was saved. "
        "Your values are still below; change something else, or contact support."
    )
