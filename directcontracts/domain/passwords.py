"""Which new passwords a member may choose (NIST SP 800-63B, section 5.1.1.2).

A length floor and a screen of passwords that are easy to guess: the list of
common passwords shipped in ``directcontracts/data`` (see its README for where
it comes from), one character or a short group repeated, a simple sequence
(``1234567890``, ``abcdefghij``, ``qwertyuiop``, forwards or backwards), and
the member's own name or email address. No composition rules (a digit, a
capital, a symbol): NIST advises against them, as they make passwords harder
to remember without making them harder to guess.
"""
from __future__ import annotations

from functools import cache
from importlib import resources

MIN_LENGTH = 10
#: Parts of a name or email address shorter than this are not looked for in the password
#: (a name like "Ann" would otherwise refuse "channel" or "annual").
NAME_PART = 4
#: Groups of up to this many characters, repeated, count as repetition ("abcabcabca").
SHORT_GROUP = 4
#: Rows (and the alphabet) along which typing the next key makes a "simple sequence".
_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")

TOO_SHORT = f"Use at least {MIN_LENGTH} characters."
REPEATED = "Choose a password that is not one character, or a short group of characters, repeated."
SEQUENCE = "Choose a password that is not a simple sequence such as 1234567890, abcdefghij or qwertyuiop."
COMMON = "This is one of the most commonly used passwords. Choose one that is harder to guess."
PERSONAL = "Choose a password without the name or the email address in it."


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    text = resources.files("directcontracts").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def _compact(value: str) -> str:
    """Lower-cased letters and digits only: "Fran O'Neil" → "franoneil"."""
    return "".join(ch for ch in value.casefold() if ch.isalnum())


def is_repeated(password: str) -> bool:
    """One character, or a group of up to ``SHORT_GROUP`` characters, repeated (case ignored)."""
    text = password.casefold()
    return any(len(text) >= 2 * size and text == (text[:size] * len(text))[:len(text)]
               for size in range(1, SHORT_GROUP + 1))


def is_sequence(password: str) -> bool:
    """Each character the next (or the previous) one, in code points or along a keyboard row."""
    text = password.casefold()
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    if steps in ({1}, {-1}):
        return True
    return any(text in row * 2 or text in (row * 2)[::-1] for row in _ROWS)


def contains_personal(password: str, name: str = "", email: str = "") -> bool:
    """The password holds the name, the part of the email before the @, or a long enough part of either."""
    text = _compact(password)
    local = (email or "").rpartition("@")[0] or (email or "")
    wholes = [_compact(name or ""), _compact(local)]
    parts = [_compact(p) for p in (name or "").split() + local.replace("_", ".").replace("-", ".")
             .replace("+", ".").split(".")]
    needles = {w for w in wholes if len(w) >= 3} | {p for p in parts if len(p) >= NAME_PART}
    return any(needle in text for needle in needles)


def problem(password: str, name: str = "", email: str = "") -> str | None:
    """Why ``password`` cannot be a new member's password, in plain words; None when it can."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if is_repeated(password):
        return REPEATED
    if is_sequence(password):
        return SEQUENCE
    if password.strip().lower() in common_passwords():
        return COMMON
    if contains_personal(password, name, email):
        return PERSONAL
    return None
