"""Flask-WTF forms (CSRF included)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length


class ProfileForm(FlaskForm):
    display_name = StringField(
        "Display name",
        validators=[DataRequired(message="Enter a display name."), Length(min=1, max=256)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    mail = EmailField(
        "Email address",
        validators=[
            DataRequired(message="Enter an email address."),
            Email(message="Enter a valid email address, like name@example.com."),
            Length(max=254),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )

    def changes(self) -> dict[str, str]:
        """The Graph PATCH body."""
        return {"displayName": self.display_name.data, "mail": self.mail.data}
