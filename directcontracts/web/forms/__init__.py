"""The fields of every POST, declared once: Flask-WTF form classes, one module per portal.

A form parses the request (strips text, reads numbers and ticks) and checks
what a field alone can tell — required-ness and length — with the domain's
own rules (``domain.rules.TextRule``), so the messages and limits are the
services' too. Money, dates and state stay the domain's: a service refuses
them with ``ValidationFailed``, and ``Form.add_errors`` puts its messages
beside the same fields. Templates render names, values, ``required``,
``maxlength`` and errors from the form (``partials/forms.html``).

CSRF is checked for every POST by ``CSRFProtect`` (extensions.py), so the
forms do not carry a second token.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import StopValidation

from ...domain.rules import TextRule, check_text
from ...services.errors import ValidationFailed


def strip(value):
    return value.strip() if isinstance(value, str) else value


def one_line(value):
    """A single-line field: tabs and line breaks (the request kept them for text areas) become spaces."""
    return " ".join(value.split()) if isinstance(value, str) else value


class Follows:
    """A validator that applies a domain ``TextRule`` (its messages), and renders its limits."""

    def __init__(self, rule: TextRule):
        self.rule = rule
        self.field_flags = {"maxlength": rule.max_length}
        if rule.required:
            self.field_flags["required"] = True
            if rule.min_length > 1:
                self.field_flags["minlength"] = rule.min_length

    def __call__(self, form, field):
        if error := check_text(field.data or "", self.rule):
            raise StopValidation(error)


class Shown:
    """Flags only (``required``, ``maxlength``...) for a field the domain checks, e.g. an email or an amount.

    The browser gets the hint; the service's ``ValidationFailed`` says what is wrong.
    """

    def __init__(self, **flags):
        self.field_flags = flags

    def __call__(self, form, field):
        pass


def text(label: str, rule: TextRule | None = None, *, area: bool = False, validators=(), **kwargs):
    """A stripped text field (``area``: a textarea), checked against ``rule`` when given."""
    cls = TextAreaField if area else StringField
    validators = [*validators, *([Follows(rule)] if rule is not None else [])]
    if area:
        kwargs.setdefault("render_kw", {"rows": 4})
    return cls(label, validators=validators, filters=[strip] if area else [one_line], **kwargs)


class Form(FlaskForm):
    """A portal form: no second CSRF token, and room for the service's own errors."""

    class Meta:
        csrf = False  # CSRFProtect already refuses any POST without a valid token

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: Errors on names that are not fields of this form (``"gateway"``, ``"payment"``...).
        self.other_errors: dict[str, str] = {}

    def add_errors(self, errors: Mapping[str, str]) -> Form:
        """Show a service's ``ValidationFailed.errors`` beside the fields they name."""
        for name, message in errors.items():
            field = self._fields.get(name)
            if field is None:
                self.other_errors[name] = message
            elif message not in field.errors:
                field.errors = [*field.errors, message]
        return self

    @property
    def error_map(self) -> dict[str, str]:
        """The first error of each field, and the errors on other names; empty when all is well."""
        found = {name: field.errors[0] for name, field in self._fields.items() if field.errors}
        return found | self.other_errors

    def submit(self, service, *args, **kwargs):
        """``service(*args, **kwargs)`` once this form and then the service accept the input; else None,
        with the service's ``ValidationFailed`` errors beside the fields (every service called so returns
        what it saved)."""
        if not self.validate():
            return None
        try:
            return service(*args, **kwargs)
        except ValidationFailed as exc:
            self.add_errors(exc.errors)
            return None

    def values(self, *names: str) -> dict[str, str]:
        """The parsed data of ``names`` (all fields when none), for a service's keyword arguments."""
        return {name: self._fields[name].data for name in (names or self._fields)}
