"""The rules for new passwords (domain/passwords.py): NIST 800-63B, no composition rules."""
import pytest

from directcontracts.domain import passwords


def test_the_shipped_list_is_large_and_holds_the_usual_suspects():
    common = passwords.common_passwords()
    assert len(common) >= 10_000
    assert {"password12", "1234567890", "aaaaaaaaaa", "qwertyuiop", "iloveyou"} <= common


@pytest.mark.parametrize("password, message", [
    ("short", passwords.TOO_SHORT),
    ("123456789", passwords.TOO_SHORT),
    ("aaaaaaaaaa", passwords.REPEATED),
    ("          ", passwords.REPEATED),
    ("ZZZZZZZZZZZZ", passwords.REPEATED),
    ("abababababab", passwords.REPEATED),
    ("abcabcabca", passwords.REPEATED),
    ("passpasspass", passwords.REPEATED),
    ("1234567890", passwords.SEQUENCE),
    ("0123456789", passwords.SEQUENCE),
    ("9876543210", passwords.SEQUENCE),
    ("0987654321", passwords.SEQUENCE),
    ("7890123456", passwords.SEQUENCE),
    ("abcdefghij", passwords.SEQUENCE),
    ("ABCDEFGHIJKL", passwords.SEQUENCE),
    ("qwertyuiop", passwords.SEQUENCE),
    ("poiuytrewq", passwords.SEQUENCE),
    ("asdfghjkla", passwords.SEQUENCE),
    ("password12", passwords.COMMON),
    ("Password12", passwords.COMMON),
    ("iloveyou12", passwords.COMMON),
    ("football123", passwords.COMMON),
])
def test_weak_passwords_are_refused_with_a_plain_reason(password, message):
    assert passwords.problem(password) == message


@pytest.mark.parametrize("password", [
    "fran-rocks-2024", "FranFreelancer!", "my pw is FRAN.FREELANCER", "freelancer99x",
    "fr.an-ci@sco!!", "sunny-fran.ciscoo",
])
def test_the_members_name_or_email_is_refused(password):
    assert passwords.problem(password, "Fran Freelancer", "fran.cisco@example.com") == passwords.PERSONAL


def test_short_name_parts_are_not_looked_for_inside_words():
    # "Ann" and "Bo" would refuse many good passwords; the whole short name alone is still refused
    assert passwords.problem("channel-rocket-boat", "Ann Bo", "ab@example.com") is None
    assert passwords.problem("i am annbo, hi!", "Ann Bo", "ab@example.com") == passwords.PERSONAL


@pytest.mark.parametrize("password", [
    "correct horse battery", "plum river lantern", "tulip-harbor-escrow", "zebra mango 42",
    "ALL CAPS NO DIGITS", "nodigitsnocaps", "5081927364",
])
def test_no_composition_rules_long_uncommon_passwords_pass(password):
    assert passwords.problem(password, "Fran Freelancer", "fran@example.com") is None
