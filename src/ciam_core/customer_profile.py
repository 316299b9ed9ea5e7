"""What a customer may change on their own profile, and which changes a submitted form makes. No Flask.

Entra External ID lets a customer update only these properties of their own user through Graph
(`PATCH /me` with User.ReadWrite; "Default user permissions in external tenants", entra-notes §12);
anything else, `mail` included, is refused with 403 Authorization_RequestDenied. The sign-in email
lives in the user's identities and is managed by the tenant, so it is shown, never edited.
Maximum lengths are those of Graph's user resource.

The text rules (`check_value`, `check_changes`) are plain functions so that every way in (the web app's
form, the mfa-app API's JSON) refuses the same values with the same field messages.
"""

from __future__ import annotations

import unicodedata
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
_PROPERTIES = {p.name: p for p in EDITABLE_PROPERTIES}
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


# --- The text rules -------------------------------------------------------------------------------
#
# A profile value is shown in pages, emails and other apps' screens, so it must be one line of plain
# visible text: a NUL or a C0/C1 control breaks storage and logs, CR/LF splits a line (headers, CSV,
# logs), a bidi override or isolate (U+202A-U+202E, U+2066-U+2069) makes a name read backwards
# ("Trojan Source"-style spoofing), and other format characters (category Cf: zero-width space and
# joiners, soft hyphen, tag characters) are invisible, so "Ada" and "A<U+200B>da" would look alike.
# Cf is refused as a whole, as the issue asks; this also refuses the zero-width joiners some scripts
# (Persian, Indic) and emoji sequences use. Unpaired surrogates (only reachable through JSON escapes)
# cannot be encoded for Graph at all.

_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")
_BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# Letters that render as nothing (Hangul fillers) and the blank Braille pattern: allowed inside a value,
# but they do not count as the visible character every value needs.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _refused_character(value: str) -> tuple[str, str] | None:
    """The first character the text rules refuse, and what to call it in a message."""
    for char in value:
        category = unicodedata.category(char)
        if char == "\x00":
            return char, "a null character"
        if char in _LINE_BREAKS:
            return char, "a line break"
        if category == "Cc":
            return char, "a control character"
        if char in _BIDI_CONTROLS:
            return char, "a text-direction control"
        if category == "Cf":
            return char, "an invisible formatting character"
        if category == "Cs":
            return char, "an unpaired surrogate"
    return None


def _is_visible(char: str) -> bool:
    # Letters, numbers, punctuation and symbols; not spaces, marks alone, controls, private use or unassigned.
    return unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_LOOKING


def check_value(name: str, value: object) -> str | None:
    """The field message refusing `value` for the editable property `name`, or None if it is acceptable.

    Stable interface, shared by the web form and the mfa-app API (which may import only ciam_core):
    - `name` is a Graph property name (EDITABLE_PROPERTIES); any other name is refused.
    - `value` is what the client sent: `None` or a string. Anything else (a number, a list, an uploaded
      file) is refused: these properties are text.
    - Surrounding whitespace is ignored (as `normalized` and `changes_between` drop it), and a value that
      is empty once stripped, like `None`, clears the property: allowed, except for displayName.
    - Otherwise the value must contain no NUL, C0/C1 control, line break, bidi override or isolate, or
      other format character (Unicode category Cf), must contain at least one visible character, must
      be at most the property's maximum length (counted in characters, i.e. code points, after
      stripping), and preferredLanguage must be one of LANGUAGE_CODES.
    The message names the field by its label and says what to change, e.g.
    "Display name can be at most 256 characters (you typed 300)."
    """
    prop = _PROPERTIES.get(name)
    if prop is None:
        return f"{name} is not something you can change on your profile."
    if value is not None and not isinstance(value, str):
        return f"{prop.label} must be typed text."
    refused = _refused_character(value or "")
    if refused is not None:
        char, kind = refused
        return f"{prop.label} cannot contain {kind} (U+{ord(char):04X}); please remove it."
    text = normalized(value)
    if text is None:
        # A cleared property becomes null in the PATCH and Graph removes the value: fine for the optional
        # ones. displayName "cannot be cleared during updates" (Graph's user resource), and the app shows
        # it as who is signed in, so an empty one is refused here rather than by Graph.
        return f"Enter a {prop.label.lower()}." if prop.required else None
    if not any(_is_visible(char) for char in text):
        return f"{prop.label} needs at least one visible character (a letter, digit or symbol)."
    if len(text) > prop.max_length:
        return f"{prop.label} can be at most {prop.max_length} characters (you typed {len(text)})."
    if prop.name == "preferredLanguage" and text not in LANGUAGE_CODES:
        return f"Choose a {prop.label.lower()} from the list."
    return None


def check_changes(values: Mapping[str, object]) -> dict[str, str]:
    """The field messages for a submitted set of properties (name to value, e.g. a JSON PATCH body), keyed
    by property name, in the order submitted; empty if every value passes `check_value`.

    Stable interface, shared with the mfa-app API. Only the names present are checked (a property left
    out changes nothing); a name that is not an editable property gets a message too.
    """
    messages: dict[str, str] = {}
    for name, value in values.items():
        message = check_value(name, value)
        if message is not None:
            messages[name] = message
    return messages
