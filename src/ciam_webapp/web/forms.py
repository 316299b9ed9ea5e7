"""Flask-WTF forms (CSRF included). Which properties exist, their limits and the text rules come from
ciam_core/customer_profile.py (check_value), shared with the mfa-app API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import Field, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation

from ciam_core.customer_profile import EDITABLE_PROPERTIES, LANGUAGES, check_value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _profile_rules(form: ProfileForm, field: Field) -> None:
    """ciam_core's rules on the value as sent (before the strip filter, so a leading line break is refused
    too); a field left out is checked as cleared, so the display name stays required."""
    if field.name in form.non_text_parts:
        sent: object = form.non_text_parts[field.name]
    else:
        sent = field.raw_data[0] if field.raw_data else None
    if field.name == "preferredLanguage" and sent and sent == form.current_language:
        # The profile's own language, kept even if the list lacks it (see __init__). It equals the value the
        # form was rendered with, so it is no change and is never sent, even if that value was forged.
        return
    message = check_value(field.name, sent)
    if message is not None:
        raise StopValidation(message)


def _text_field(name: str) -> StringField:
    prop = next(p for p in EDITABLE_PROPERTIES if p.name == name)
    # No `maxlength` in the page: a browser cuts typed or pasted text there without a word, and the cut
    # value would then be saved. The server's check says "at most N characters (you typed M)" instead,
    # with what was typed kept in the field.
    return StringField(
        prop.label,
        validators=[_profile_rules],
        filters=[_strip],
        render_kw={"autocomplete": prop.autocomplete},
    )


class ProfileForm(FlaskForm):
    """Field names are Graph's property names, so a Graph error naming a property lands on its field."""

    class Meta:
        def wrap_formdata(self, form: ProfileForm, formdata: Any) -> Any:
            """Only text reaches the fields. A part that is not text (a multipart file part, which werkzeug
            puts in request.files and Flask-WTF then hands to the field as a FileStorage; a number or list
            in a JSON body) is kept aside, and the field it names is refused with a message by the rules."""
            if form.is_submitted() and request.is_json and not isinstance(request.get_json(silent=True), dict):
                # Flask-WTF reads a JSON body as the form's fields and fails on anything but an object;
                # here such a body carries no field at all, so the form says what is missing.
                formdata = MultiDict()
            wrapped = super().wrap_formdata(form, formdata)  # type: ignore[misc]
            form.non_text_parts = {}
            if wrapped is None:
                return None
            text_parts: MultiDict[str, str] = MultiDict()
            for name, value in wrapped.items(multi=True):
                if isinstance(value, str):
                    text_parts.add(name, value)
                else:
                    form.non_text_parts.setdefault(name, value)
            return text_parts

    displayName = _text_field("displayName")  # noqa: N815 - Graph's name
    givenName = _text_field("givenName")  # noqa: N815
    surname = _text_field("surname")
    jobTitle = _text_field("jobTitle")  # noqa: N815
    streetAddress = _text_field("streetAddress")  # noqa: N815
    city = _text_field("city")
    state = _text_field("state")
    postalCode = _text_field("postalCode")  # noqa: N815
    country = _text_field("country")
    preferredLanguage = SelectField(  # noqa: N815
        "Preferred language",
        choices=[SelectChoice("", "Not set"), *(SelectChoice(code, name) for code, name in LANGUAGES)],
        default="",
        validate_choice=False,  # the list is ciam_core's (_profile_rules), as for the API
        validators=[_profile_rules],
        render_kw={"autocomplete": "language"},
    )
    # The values the form was rendered with, so that only what the customer changed in *this* form is
    # sent: a save in another tab meanwhile is not overwritten by this form's stale copy of it.
    original = HiddenField()

    non_text_parts: dict[str, object]

    def __init__(self, *args: Any, current_language: str | None = None, **kwargs: Any) -> None:
        self.current_language = current_language
        super().__init__(*args, **kwargs)
        # A language the profile already has but the list lacks (set by another app or an admin) stays
        # selectable, so saving other fields never silently changes it. Only the stored value is added,
        # never a submitted one.
        choices: list[SelectChoice] = list(self.preferredLanguage.choices)  # type: ignore[arg-type]
        if current_language and current_language not in {choice.value for choice in choices}:
            self.preferredLanguage.choices = [*choices, SelectChoice(current_language, current_language)]

    @classmethod
    def for_profile(cls, profile: Mapping[str, Any]) -> ProfileForm:
        """The form filled with the current profile (for GET)."""
        shown = {prop.name: profile.get(prop.name) for prop in EDITABLE_PROPERTIES}
        return cls(
            data={**shown, "original": json.dumps(shown, separators=(",", ":"))},
            current_language=profile.get("preferredLanguage"),
        )

    @classmethod
    def submitted(cls) -> ProfileForm:
        """The form from the request (for POST), its language choices including the original value."""
        original = cls.original_values_of(request.form.get("original"))
        return cls(current_language=(original or {}).get("preferredLanguage"))

    @staticmethod
    def original_values_of(raw: str | None) -> dict[str, Any] | None:
        try:
            values = json.loads(raw or "")
        except ValueError:
            return None
        if not isinstance(values, dict):
            return None
        return {prop.name: values.get(prop.name) for prop in EDITABLE_PROPERTIES}

    def original_values(self) -> dict[str, Any] | None:
        """What the form showed when rendered; None if the form did not carry it (or it is unreadable)."""
        return self.original_values_of(self.original.data)

    def values(self) -> dict[str, str]:
        """The submitted values, only for fields the request carried: a field left out changes nothing."""
        return {
            prop.name: getattr(self, prop.name).data or ""
            for prop in EDITABLE_PROPERTIES
            if getattr(self, prop.name).raw_data
        }

    def fields_in_order(self) -> list[Any]:
        return [getattr(self, prop.name) for prop in EDITABLE_PROPERTIES]
