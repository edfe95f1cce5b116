"""The forms of the login and first-run setup pages, of passwords (change, forgotten, reset), and of the
owner's member actions (add, deactivate, reactivate, hand ownership on).

``accounts`` checks a new member whole — the email (valid, not taken), the name
(``rules.MEMBER_NAME``) and the password's length — so these fields carry only
the flags the browser shows, and its ``ValidationFailed`` names every mistake at once.
"""
from __future__ import annotations

from wtforms import HiddenField, PasswordField
from wtforms.validators import InputRequired

from ...domain import rules
from ...services import accounts
from . import Form, Shown, text


def email():
    return text("Email", validators=[Shown(required=True, maxlength=rules.EMAIL_LENGTH)])


def member_name(label: str):
    return text(label, validators=[Shown(required=rules.MEMBER_NAME.required,
                                         maxlength=rules.MEMBER_NAME.max_length)])


def new_password(label: str):
    """Never echoed back (PasswordField) and never stripped."""
    return PasswordField(label, validators=[Shown(required=True, minlength=accounts.MIN_PASSWORD)])


class LoginForm(Form):
    email = email()
    password = PasswordField("Password", validators=[Shown(required=True)])
    next = HiddenField()


class SetupForm(Form):
    """The first-run page: the owner's account."""

    name = member_name("Your name")
    email = email()
    password = new_password("Password")


class MemberForm(Form):
    """The owner adds a member."""

    name = member_name("Name")
    email = email()
    password = new_password("Initial password")


class PasswordChangeForm(Form):
    """A member changes their password: the current one first."""

    current_password = PasswordField("Current password", validators=[Shown(required=True)])
    password = new_password("New password")


class PreferencesForm(Form):
    """A member's time zone and locale (empty: the shop's); ``services.preferences`` checks both."""

    time_zone = text("Time zone")
    locale = text("Language and region (dates and amounts)")


class PasswordForgotForm(Form):
    """Ask for a reset link by email."""

    email = text("Email", validators=[Shown(required=True, maxlength=rules.EMAIL_LENGTH),
                                      InputRequired("Enter the email you log in with.")])


class PasswordResetForm(Form):
    """A new password, through a reset link."""

    password = new_password("New password")


class MemberActionForm(Form):
    """Deactivate, reactivate, or hand ownership to a member: only the CSRF token (the member is in the URL)."""
