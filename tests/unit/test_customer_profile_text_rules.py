"""The text rules every way into the profile shares (ciam_core.customer_profile.check_value / check_changes)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ciam_core.customer_profile import EDITABLE_PROPERTIES, LANGUAGE_CODES, check_changes, check_value

TEXT_PROPERTIES = [p for p in EDITABLE_PROPERTIES if p.name != "preferredLanguage"]
text_property = st.sampled_from(TEXT_PROPERTIES)

REFUSED_EXAMPLES = {
    "\x00": "null character",
    "\r": "line break",
    "\n": "line break",
    "\u2028": "line break",
    "\x85": "line break",
    "\x07": "control character",
    "\x1b": "control character",
    "\x9b": "control character",  # C1 CSI
    "\u202a": "text-direction control",
    "\u202e": "text-direction control",
    "\u2066": "text-direction control",
    "\u2069": "text-direction control",
    "\u200b": "invisible formatting character",
    "\u200d": "invisible formatting character",
    "\ufeff": "invisible formatting character",
    "\u2060": "invisible formatting character",
}


def is_refused_character(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def is_visible(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNPS" and char not in "\u115f\u1160\u3164\uffa0\u2800"


# Printable text (Python's sense: no control, format, separator other than space, private-use or
# unassigned character); two of them and a visible character fit the shortest text limit (40).
printable = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), max_size=19).filter(
    lambda text: text.isprintable()
)
visible = st.characters(categories=("L", "N", "P", "S")).filter(is_visible)


@pytest.mark.parametrize(("char", "kind"), REFUSED_EXAMPLES.items())
def test_each_kind_of_refused_character_is_named_with_its_code_point(char, kind):
    for prop in TEXT_PROPERTIES:
        message = check_value(prop.name, f"Ada{char}Lovelace")
        assert (
            message == f"{prop.label} cannot contain a{'n' if kind[0] in 'aeiou' else ''} {kind} "
            f"(U+{ord(char):04X}); please remove it."
        ), message


@given(
    prop=text_property, before=printable, bad=st.characters(categories=("Cc", "Cf", "Cs", "Zl", "Zp")), after=printable
)
def test_any_value_with_a_control_format_or_line_break_character_is_refused(prop, before, bad, after):
    message = check_value(prop.name, before + bad + after)
    assert message is not None and message.startswith(prop.label)
    assert f"U+{ord(bad):04X}" in message or "cannot contain" in message


@given(
    prop=text_property,
    value=st.text(st.characters(categories=("Zs", "M")), min_size=1, max_size=20).filter(lambda text: text.strip()),
)
def test_a_value_without_a_visible_character_is_refused(prop, value):
    assert check_value(prop.name, value) == (
        f"{prop.label} needs at least one visible character (a letter, digit or symbol)."
    )


@pytest.mark.parametrize("value", ["\u3164", "\u115f\u1160", "\u2800 \u2800", "\u0301\u0302", "\u00a0\u3000x\u200b"])
def test_blank_looking_values_and_zero_width_only_values_are_refused(value):
    assert check_value("displayName", value) is not None
    assert check_value("city", value) is not None


@given(prop=text_property, head=printable, mark=visible, tail=printable)
def test_any_printable_value_with_a_visible_character_within_the_limit_is_accepted(prop, head, mark, tail):
    assert check_value(prop.name, head + mark + tail) is None


@given(prop=text_property, extra=st.integers(min_value=1, max_value=300))
def test_over_long_values_say_the_limit_and_how_many_were_typed(prop, extra):
    typed = prop.max_length + extra
    assert check_value(prop.name, "é" * typed) == (
        f"{prop.label} can be at most {prop.max_length} characters (you typed {typed})."
    )
    # Exactly at the limit passes; surrounding spaces are dropped before counting, as they are before saving.
    assert check_value(prop.name, "  " + "é" * prop.max_length + "  ") is None


@given(
    prop=st.sampled_from(EDITABLE_PROPERTIES),
    value=st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.lists(st.text()),
        st.dictionaries(st.text(), st.text()),
        st.binary(),
    ),
)
def test_anything_but_text_is_refused(prop, value):
    assert check_value(prop.name, value) == f"{prop.label} must be typed text."


def test_clearing_is_allowed_except_for_the_display_name():
    for prop in EDITABLE_PROPERTIES:
        for cleared in (None, "", "   "):
            expected = "Enter a display name." if prop.name == "displayName" else None
            assert check_value(prop.name, cleared) == expected, (prop.name, cleared)


def test_preferred_language_comes_from_the_list():
    for code in LANGUAGE_CODES:
        assert check_value("preferredLanguage", code) is None
    for value in ("xx-EVIL", "en", "EN-US", "fr-FR\u200b"):
        assert check_value("preferredLanguage", value) is not None, value


def test_check_changes_names_each_refused_property_and_only_those():
    messages = check_changes(
        {"displayName": "Ada\u202eecalevoL", "city": "London", "jobTitle": None, "surname": 7, "mail": "a@b.example"}
    )
    assert list(messages) == ["displayName", "surname", "mail"]
    assert "text-direction control" in messages["displayName"]
    assert messages["surname"] == "Surname must be typed text."
    assert "mail" in messages["mail"]
    assert check_changes({"displayName": "Ada Lovelace", "preferredLanguage": "fr-FR", "postalCode": None}) == {}
    assert check_changes({}) == {}
