"""The form base: fields render their domain rule's limits and the service's errors beside them."""
from __future__ import annotations

from flask import render_template_string

from directcontracts.domain.rules import TextRule
from directcontracts.web.forms import Form, Shown, text

RULE = TextRule(10, "Enter a word.", "Keep it under {max} characters.")


class WordForm(Form):
    word = text("Word", RULE)
    note = text("Note", TextRule(50), area=True)
    email = text("Email", validators=[Shown(required=True, maxlength=254)])


MACRO = '{% from "partials/forms.html" import input %}{{ input(form.word) }}{{ input(form.note) }}' \
        '{{ input(form.email, type="email") }}'


def test_a_field_renders_its_rule_and_its_label(app):
    with app.test_request_context("/"):
        html = render_template_string(MACRO, form=WordForm())
    assert 'name="word" required type="text" value=""' in html.replace('maxlength="10" ', "")
    assert 'maxlength="10"' in html and "Word</label>" in html
    assert 'Note <span class="optional">(optional)</span>' in html and 'rows="4"' in html
    assert 'type="email"' in html and 'Email</label>' in html  # required by its flag, not optional


def test_posted_text_is_stripped_and_checked_with_the_rules_messages(app):
    with app.test_request_context("/", method="POST", data={"word": "  far too long a word ", "email": "x"}):
        form = WordForm()
        assert not form.validate()
        assert form.error_map == {"word": "Keep it under 10 characters."}
        html = render_template_string(MACRO, form=form)
    assert 'aria-invalid="true"' in html and 'id="word-error">Keep it under 10 characters.' in html
    assert 'value="far too long a word"' in html  # what was typed comes back, stripped


def test_service_errors_join_the_fields_they_name_and_others_are_kept(app):
    with app.test_request_context("/", method="POST", data={"word": "fine", "email": "x@"}):
        form = WordForm()
        assert form.validate()
        assert form.values("word", "email") == {"word": "fine", "email": "x@"}
        form.add_errors({"email": "Enter a valid email.", "gateway": "Declined."})
        assert form.error_map == {"email": "Enter a valid email.", "gateway": "Declined."}
        assert 'id="email-error">Enter a valid email.' in render_template_string(MACRO, form=form)
